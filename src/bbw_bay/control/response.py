"""Response coefficients (响应系数): forward and adjoint solves of the upwind steady operator.

With a steady flow and first-order upwind advection the steady transport equation is linear. For a
tracer with decay rate k [1/s] the land-based *excess* concentration c [mg/L] (zero concentration
at the open boundaries) solves

    (A − k I) c = −s / V

with A the upwind + diffusion operator of `core.steady.UpwindOperator` [1/s], s the loads per
wet cell [g/s] and V the cell volumes [m³]. The concentration at a receptor — a control point's
cell, or the area-weighted mean over a zone's wet cells — is a linear functional r·c, so

    C_r = b + Σ_i α_ri L_i        α_ri = r · (A − k I)⁻¹ (−e_i · TONNE_PER_YEAR / V_i)

where L_i [t/yr] is source i's load, α_ri [mg/L per t/yr] the response coefficient and b_r
[mg/L] the background at the receptor: the tracer's ambient background for a model with
``background_mode = "ambient"`` (the gulf config), or, for ``"boundary"`` models, the receptor
value of the steady field that the open-boundary inflow at the background carries in with no
loads (r · (A − k I)⁻¹ (−q_in b / V)). Either way b_r + Σ α L is exactly the model's upwind
steady state. Two ways to get α, equal to round-off:

* forward: one solve per source (a unit load of 1 t/yr) gives the whole response field of the
  source; α follows by applying every receptor functional (`response_fields`);
* adjoint: one transposed solve per receptor, (A − k I)ᵀ λ = r, gives α for every source at once:
  α_ri = −λ[cell_i] · TONNE_PER_YEAR / V_i (`method="adjoint"`, the default: receptors are fewer
  than cells and usually fewer than sources).

One sparse LU factorisation per distinct decay rate serves every right-hand side (both solves).
Receptors live in `bbw_bay.quality.receptors`; apportionment reports and the superposition
check in `bbw_bay.control.apportion`; the allowable-load LP in `bbw_bay.control.capacity`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse.linalg as spla
import xarray as xr

from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model
from bbw_bay.core.sources import PointSource
from bbw_bay.core.steady import UpwindOperator
from bbw_bay.errors import BadInputError
from bbw_bay.quality.receptors import Receptor, default_receptors
from bbw_bay.quality.selectors import select_items
from bbw_bay.units import TONNE_PER_YEAR

log = logging.getLogger(__name__)


class ResponseError(BadInputError):
    """Bad input to a response or apportionment computation."""


# ----------------------------------------------------------------------------- sources
def source_groups(model: Model) -> list[dict[str, str]]:
    """Per source: {"name", "province", "kind"} ("" where unknown).

    Sources read from a sources table (`bbw_bay.gulf.loads.read_sources`) carry groups
    (province, kind, name); config ``[[source]]`` entries carry none.
    """
    out = []
    for src in model.sources:
        groups = tuple(src.groups)
        province, kind = (groups[0], groups[1]) if len(groups) == 3 else ("", "")
        out.append({"name": src.name, "province": province, "kind": kind})
    return out


def select_sources(model: Model, selector: str | Sequence[str] | None) -> list[int]:
    """Indices of the model's sources matching a selector (`bbw_bay.quality.selectors`; fields name,
    province, kind), a list of names, or None / "all" for every source."""
    if selector is None or (isinstance(selector, str) and selector.strip() == "all"):
        return list(range(len(model.sources)))
    if not isinstance(selector, str):
        selector = ",".join(selector)
    return select_items(source_groups(model), selector, what="source", error=ResponseError)


# ----------------------------------------------------------------------------- solves
def _check_steady(model: Model) -> None:
    if not model.flow.is_steady:
        raise ResponseError(
            "response coefficients need a steady flow; build the model with "
            "steady=True (bbw_bay.gulf.assemble.build) or for one season"
        )


def tracer_names(model: Model, tracers: str | Sequence[str] | None) -> tuple[str, ...]:
    """The tracers to compute (default every tracer but age tracers); ResponseError for an
    unknown name."""
    if tracers is None:
        return tuple(n for n in model.names if getattr(model.tracers[n], "age_of", None) is None)
    tracers = (tracers,) if isinstance(tracers, str) else tuple(tracers)
    for name in tracers:
        if name not in model.tracers:
            raise ResponseError(f"unknown tracer {name!r}; the model has {list(model.names)}")
    return tracers


class Factorisations:
    """The model's upwind operator and one LU factorisation of (A − k I) per decay rate."""

    def __init__(self, model: Model, operator: UpwindOperator | None = None) -> None:
        _check_steady(model)
        self.model = model
        self.operator = operator if operator is not None else model.upwind_operator()
        self._factors: dict[float, object] = {}

    def __call__(self, tracer: str):
        """SuperLU of (A − k I) for ``tracer``'s decay rate (factorised once per rate)."""
        rate = self.model.tracers[tracer].decay_per_second
        if rate not in self._factors:
            self._factors[rate] = self.operator.factorise(rate)
        return self._factors[rate]

    @property
    def count(self) -> int:
        """Number of factorisations made so far."""
        return len(self._factors)

    def by_rate(self, names: Sequence[str]) -> list[tuple[spla.SuperLU, list[int]]]:
        """[(factors, positions in ``names``)] with one entry per distinct decay rate, so that
        tracers sharing a rate share their solves."""
        groups: dict[float, list[int]] = {}
        for k, name in enumerate(names):
            groups.setdefault(self.model.tracers[name].decay_per_second, []).append(k)
        return [(self(names[ks[0]]), ks) for ks in groups.values()]


def _source_cells(model: Model, operator: UpwindOperator) -> np.ndarray:
    """(ns,) wet-cell vector index of each source."""
    cells = model.layout.cells
    return operator.index[cells[:, 0], cells[:, 1]] if len(cells) else np.zeros(0, np.int64)


def response_fields(
    model: Model, *, tracers=None, factors: Factorisations | None = None
) -> np.ndarray:
    """Steady excess field of a unit load (1 t/yr) of every source, by forward solves.

    Returns (ntr, ns, n_wet) [mg/L per t/yr] on the wet-cell vector (`UpwindOperator.to_field`
    maps a row back to (ny, nx)).
    """
    factors = factors or Factorisations(model)
    op = factors.operator
    names = tracer_names(model, tracers)
    cells = _source_cells(model, op)
    rhs = np.zeros((op.size, cells.size))
    rhs[cells, np.arange(cells.size)] = -TONNE_PER_YEAR / op.volume[cells]
    out = np.zeros((len(names), cells.size, op.size))
    for lu, positions in factors.by_rate(names):
        if cells.size:
            out[positions] = lu.solve(rhs).T
    return out


def _diffuse_fields(model: Model, names, factors: Factorisations) -> np.ndarray:
    """(ntr, n_wet) excess field of the model's area loads [mg/L] (zeros without area loads)."""
    op = factors.operator
    out = np.zeros((len(names), op.size))
    for k, name in enumerate(names):
        loads = model.solver.area_loads[model.names.index(name)]
        if np.any(loads):
            out[k] = factors(name).solve(-op.to_vector(loads) / op.volume)
    return out


def _adjoint_coefficients(model, names, weights, factors) -> np.ndarray:
    op = factors.operator
    cells = _source_cells(model, op)
    out = np.zeros((len(names), weights.shape[0], cells.size))
    rhs = np.ascontiguousarray(weights.T)  # (n_wet, nrec)
    for lu, positions in factors.by_rate(names):
        adjoint = lu.solve(rhs, trans="T")  # (n_wet, nrec)
        out[positions] = (adjoint[cells] * (-TONNE_PER_YEAR / op.volume[cells])[:, None]).T
    return out


def _receptor_backgrounds(
    model: Model, names, weights: np.ndarray, factors: Factorisations
) -> np.ndarray:
    """(ntr, nrec) background at each receptor [mg/L]: the ambient value, or (boundary mode)
    the receptor value of the steady no-load field fed by boundary inflow at the background."""
    background = np.array([model.tracers[n].background_at(0.0) for n in names])
    out = np.repeat(background[:, None], weights.shape[0], axis=1)
    if getattr(model, "background_mode", "boundary") == "ambient" or not background.any():
        return out
    op = factors.operator
    for lu, positions in factors.by_rate(names):
        unit = lu.solve(-op.inflow_rate)  # steady field for a boundary value of 1 mg/L
        out[positions] = background[positions, None] * (weights @ unit)[None, :]
    return out


@dataclass(frozen=True, eq=False)
class ResponseMatrix:
    """Response coefficients of every source at every receptor, with loads and backgrounds.

    Attributes
    ----------
    tracers, sources : names (array order)
    receptors : the receptors (rows)
    coefficients : (ntr, nrec, ns) α [mg/L per t/yr]
    loads : (ntr, ns) today's annual-mean loads [t/yr]
    background : (ntr, nrec) background at each receptor [mg/L] (see the module docstring)
    diffuse : (ntr, nrec) excess from area loads [mg/L] (fixed; zeros without area loads)
    groups : per source {"name", "province", "kind"}
    label : e.g. the season, for tables
    """

    tracers: tuple[str, ...]
    sources: tuple[str, ...]
    receptors: tuple[Receptor, ...]
    coefficients: np.ndarray
    loads: np.ndarray
    background: np.ndarray
    diffuse: np.ndarray
    groups: tuple[dict, ...] = ()
    label: str = ""

    def tracer_index(self, tracer: str) -> int:
        """Position of ``tracer`` in the arrays."""
        if tracer not in self.tracers:
            raise ResponseError(f"unknown tracer {tracer!r}; available: {list(self.tracers)}")
        return self.tracers.index(tracer)

    def contributions(self, loads: np.ndarray | None = None) -> np.ndarray:
        """(ntr, nrec, ns) each source's excess at each receptor [mg/L] for ``loads`` (ntr, ns)
        [t/yr] (default today's)."""
        loads = self.loads if loads is None else np.asarray(loads, dtype=float)
        return self.coefficients * loads[:, None, :]

    def concentration(self, loads: np.ndarray | None = None) -> np.ndarray:
        """(ntr, nrec) background + diffuse + Σ sources [mg/L]."""
        return self.background + self.diffuse + self.contributions(loads).sum(axis=2)


def response_coefficients(
    model: Model,
    *,
    receptors: Sequence[Receptor] | None = None,
    tracers=None,
    method: str = "adjoint",
    factors: Factorisations | None = None,
    label: str = "",
) -> ResponseMatrix:
    """Response coefficients α [mg/L per t/yr] of the model's sources at the receptors.

    Parameters
    ----------
    model : a model with a steady flow (its upwind operator is used whatever its advection)
    receptors : receptors (default: the shipped control points and zones, geographic grids)
    tracers : tracer names (default all)
    method : "adjoint" (one transposed solve per receptor) or "forward" (one solve per source)
    factors : reuse the factorisations of an earlier call
    label : a label for tables (e.g. the season)
    """
    factors = factors or Factorisations(model)
    names = tracer_names(model, tracers)
    receptors = tuple(default_receptors(model.grid) if receptors is None else receptors)
    if not receptors:
        raise ResponseError("no receptors given")
    weights = np.stack([r.weights for r in receptors])  # (nrec, n_wet)
    if weights.shape[1] != factors.operator.size:
        raise ResponseError(
            f"receptor weights have {weights.shape[1]} entries; the grid has "
            f"{factors.operator.size} wet cells (receptors from another grid?)"
        )
    if method == "adjoint":
        coefficients = _adjoint_coefficients(model, names, weights, factors)
    elif method == "forward":
        fields = response_fields(model, tracers=names, factors=factors)
        coefficients = np.einsum("rn,tsn->trs", weights, fields)
    else:
        raise ResponseError(f"unknown method {method!r}; use 'adjoint' or 'forward'")
    columns = [model.names.index(n) for n in names]
    loads = (
        model.layout.loads[:, columns].T / TONNE_PER_YEAR
        if len(model.sources)
        else (np.zeros((len(names), 0)))
    )
    background = _receptor_backgrounds(model, names, weights, factors)
    diffuse = weights @ _diffuse_fields(model, names, factors).T  # (nrec, ntr)
    return ResponseMatrix(
        names,
        tuple(s.name for s in model.sources),
        receptors,
        coefficients,
        loads,
        background,
        diffuse.T,
        tuple(source_groups(model)),
        label,
    )


# ----------------------------------------------------------------------------- model copies
def annual_sources(
    model: Model, *, loads_t_per_yr: Mapping[str, Mapping[str, float]] | None = None
) -> list[PointSource]:
    """The model's sources with annual-mean loads (monthly factors dropped), as the response
    coefficients see them, optionally with some loads replaced; for ``model.replace(sources=...)``.

    Parameters
    ----------
    model : the model whose sources to copy
    loads_t_per_yr : {tracer: {source name: load [t/yr]}} replacing today's loads

    Returns
    -------
    list of `PointSource`, in the model's order

    Examples
    --------
    >>> upwind = model.replace(advection="upwind", sources=annual_sources(model))  # doctest: +SKIP
    """
    replaced = dict(loads_t_per_yr or {})
    known = {s.name for s in model.sources}
    for tracer, table in replaced.items():
        if tracer not in model.tracers:
            raise ResponseError(f"loads for unknown tracer {tracer!r}")
        unknown = set(table) - known
        if unknown:
            raise ResponseError(f"loads for unknown sources {sorted(unknown)}")
    sources = []
    for src in model.sources:
        loads = dict(src.loads)
        for tracer, table in replaced.items():
            if src.name in table:
                loads[tracer] = float(table[src.name]) * TONNE_PER_YEAR
        sources.append(
            replace(src, loads=loads, monthly_load_factor=None, monthly_discharge_factor=None)
        )
    return sources


def receptor_values(matrix: ResponseMatrix, ds: xr.Dataset, grid: Grid) -> np.ndarray:
    """(ntr, nrec) receptor functionals applied to the (reported) fields of ``ds`` [mg/L]."""
    weights = np.stack([r.weights for r in matrix.receptors])
    fields = np.stack([np.nan_to_num(ds[n].values)[grid.wet] for n in matrix.tracers])
    return fields @ weights.T


__all__ = [
    "Factorisations",
    "ResponseError",
    "ResponseMatrix",
    "annual_sources",
    "receptor_values",
    "response_coefficients",
    "response_fields",
    "select_sources",
    "source_groups",
    "tracer_names",
]
