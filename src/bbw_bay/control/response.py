"""Response coefficients (响应系数), adjoint receptor solves and source apportionment.

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
Loads are annual means (monthly load factors are not used); the flow must be steady.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model
from bbw_bay.core.output import grid_dataset, spatial_dims
from bbw_bay.core.sources import PointSource
from bbw_bay.core.steady import UpwindOperator
from bbw_bay.errors import BadInputError
from bbw_bay.gulf.data import forcing_path, read_toml
from bbw_bay.units import TONNE_PER_YEAR

log = logging.getLogger(__name__)

CONTROL_POINTS_FILE = "control_points.toml"
RECEPTOR_KINDS = ("point", "zone")
_POINT_REQUIRED = ("key", "name", "target_class", "zone", "province", "citations")
_POINT_OPTIONAL = ("name_zh", "notes", "lon", "lat", "x_m", "y_m")
_POINT_CITED = ("position", "target_class")
#: Largest distance [m] a control point on land may move to the nearest wet cell.
MAX_POINT_SNAP_DISTANCE = 5_000.0


class ResponseError(BadInputError):
    """Bad input to a response, apportionment or control-point computation."""


# ----------------------------------------------------------------------------- control points
@dataclass(frozen=True)
class ControlPoint:
    """A water-quality control point (监控点): a position with a GB 3097 target class.

    Attributes
    ----------
    key : identifier
    x, y : position [lon/lat degrees on geographic grids, metres on cartesian ones; the file
        gives lon and lat, or x_m and y_m]
    target_class : GB 3097-1997 class (1..4) the water there must meet
    zone : key of the evaluation zone (forcing/zones.toml) the point lies in ("" if none)
    province, name, name_zh, notes : descriptive text
    citations : {"position": ..., "target_class": ...} source or "estimate: method" of each number
    """

    key: str
    x: float
    y: float
    target_class: int = 2
    zone: str = ""
    province: str = ""
    name: str = ""
    name_zh: str = ""
    notes: str = ""
    citations: Mapping[str, str] | None = None


def _point_error(path, index: int, key, message: str) -> ResponseError:
    where = f"{path}: point[{index}]" + (f" {key!r}" if key else "")
    return ResponseError(f"{where}: {message}")


def _control_point(entry, path, index: int) -> ControlPoint:
    if not isinstance(entry, dict):
        raise _point_error(path, index, None, f"each [[point]] must be a table; got {entry!r}")
    key = entry.get("key")
    allowed = _POINT_REQUIRED + _POINT_OPTIONAL
    for name in entry:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _point_error(path, index, key, f"unknown key {name!r}{hint}")
    for name in _POINT_REQUIRED:
        if name not in entry:
            raise _point_error(path, index, key, f"missing required key {name!r}")
    if not isinstance(key, str) or not key:
        raise _point_error(path, index, None, f"key must be a non-empty string; got {key!r}")
    x, y = _point_position(entry, path, index, key)
    target = entry["target_class"]
    if isinstance(target, bool) or target not in (1, 2, 3, 4):
        raise _point_error(
            path,
            index,
            key,
            f"target_class must be 1, 2, 3 or 4 (GB 3097 Class I-IV); got {target!r}",
        )
    citations = entry["citations"]
    if not isinstance(citations, dict):
        raise _point_error(
            path, index, key, "citations must be a table {position = ..., target_class = ...}"
        )
    for name in _POINT_CITED:
        text = citations.get(name)
        if not isinstance(text, str) or not text.strip():
            raise _point_error(
                path,
                index,
                key,
                f'citations.{name} is missing: give the source or "estimate: <method>"',
            )
        if text.strip().lower().rstrip(".:; ") == "estimate":
            raise _point_error(
                path,
                index,
                key,
                f"citations.{name} says 'estimate' without the "
                'method; expected "estimate: <how it was estimated>"',
            )
    extra = sorted(set(citations) - set(_POINT_CITED))
    if extra:
        raise _point_error(
            path,
            index,
            key,
            f"citations for {extra}; only {list(_POINT_CITED)} are numbers of a control point",
        )
    text = {}
    for name in ("name", "name_zh", "zone", "province", "notes"):
        value = entry.get(name, "")
        if not isinstance(value, str):
            raise _point_error(path, index, key, f"{name} must be a string; got {value!r}")
        text[name] = value.strip()
    return ControlPoint(
        key=key, x=x, y=y, target_class=int(target), citations=dict(citations), **text
    )


def _point_position(entry, path, index: int, key) -> tuple[float, float]:
    """(lon, lat) [degrees] or (x_m, y_m) [m] of a control point table."""
    geographic = "lon" in entry or "lat" in entry
    if geographic == ("x_m" in entry or "y_m" in entry):
        raise _point_error(
            path,
            index,
            key,
            "give the position as lon and lat [degrees] or as "
            "x_m and y_m [m] (cartesian grids), not both or neither",
        )
    ranges = (
        (("lon", (-180.0, 360.0)), ("lat", (-90.0, 90.0)))
        if geographic
        else (("x_m", (-1e8, 1e8)), ("y_m", (-1e8, 1e8)))
    )
    values = []
    for name, (lo, hi) in ranges:
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            unit = "degrees" if geographic else "m"
            raise _point_error(
                path,
                index,
                key,
                f"{name} must be a number in [{lo:g}, {hi:g}] {unit}; got {value!r}",
            )
        values.append(float(value))
    return values[0], values[1]


def load_control_points(path: str | os.PathLike | None = None) -> list[ControlPoint]:
    """Control points from a TOML file of ``[[point]]`` tables (None: forcing/control_points.toml).

    Raises `ResponseError` naming the file, the point and the key for an invalid entry.
    """
    path = Path(path) if path is not None else forcing_path(CONTROL_POINTS_FILE)
    data, _ = read_toml(
        path,
        error=ResponseError,
        missing="control-points file not found (expected a TOML file of [[point]] tables)",
    )
    entries = data.get("point")
    if not isinstance(entries, list) or not entries:
        raise ResponseError(f"{path}: expected one or more [[point]] tables")
    points = [_control_point(entry, path, i) for i, entry in enumerate(entries)]
    keys = [p.key for p in points]
    for i, p in enumerate(points):
        if keys.count(p.key) > 1:
            raise _point_error(path, i, p.key, "duplicate point key")
    return points


# ----------------------------------------------------------------------------- receptors
@dataclass(frozen=True, eq=False)
class Receptor:
    """A linear functional of the concentration field: a point's cell or a zone's area mean.

    Attributes
    ----------
    key : identifier (control-point key, or ``zone:<zone key>``)
    kind : "point" or "zone"
    weights : (n_wet,) weights on the wet-cell vector (sum 1) [1]
    target_class : GB 3097 class (1..4) the receptor must meet
    name, province : descriptive text
    cells : (k, 2) int (j, i) of the cells with non-zero weight
    """

    key: str
    kind: str
    weights: np.ndarray
    target_class: int = 2
    name: str = ""
    province: str = ""
    cells: np.ndarray | None = None


def point_receptors(
    grid: Grid,
    points: Sequence[ControlPoint],
    *,
    max_snap_distance: float = MAX_POINT_SNAP_DISTANCE,
) -> list[Receptor]:
    """One receptor per control point: the point's wet cell (a point on land moves to the
    nearest wet cell within ``max_snap_distance`` [m], with a warning)."""
    index = _wet_index(grid)
    receptors = []
    for p in points:
        try:
            j, i = grid.locate(p.x, p.y)
        except ValueError as err:
            raise ResponseError(f"control point {p.key!r}: {err}") from None
        if not grid.wet[j, i]:
            j, i, dist = grid.nearest_wet(p.x, p.y)
            if dist > max_snap_distance:
                raise ResponseError(
                    f"control point {p.key!r} at ({p.x:g}, {p.y:g}) is on land; the nearest wet "
                    f"cell is {dist / 1000:.1f} km away (> {max_snap_distance / 1000:g} km)"
                )
            log.warning(
                "control point %r at (%g, %g) is on land; using the nearest wet cell %.1f km away",
                p.key,
                p.x,
                p.y,
                dist / 1000,
            )
        weights = np.zeros(grid.n_wet)
        weights[index[j, i]] = 1.0
        receptors.append(
            Receptor(
                p.key,
                "point",
                weights,
                p.target_class,
                p.name or p.key,
                p.province,
                np.array([[j, i]]),
            )
        )
    return receptors


def zone_receptors(grid: Grid, zones: Sequence) -> list[Receptor]:
    """One receptor per zone (`bbw_bay.quality.evaluate.Zone`): the area-weighted mean over its wet
    cells. A zone without wet cells on this grid is skipped with a warning."""
    from bbw_bay.quality.evaluate import zone_masks

    masks = zone_masks(grid_dataset(grid), zones)
    receptors = []
    for zone in zones:
        mask = masks[zone.key] & grid.wet
        if not mask.any():
            log.warning("zone %r has no wet cells on this grid; skipped", zone.key)
            continue
        area = np.where(mask, grid.area, 0.0)[grid.wet]
        receptors.append(
            Receptor(
                f"zone:{zone.key}",
                "zone",
                area / area.sum(),
                zone.target_class,
                zone.name or zone.key,
                zone.province,
                np.argwhere(mask),
            )
        )
    return receptors


def default_receptors(grid: Grid) -> list[Receptor]:
    """The shipped control points and zones (geographic grids only)."""
    if not grid.geographic:
        raise ResponseError(
            "the shipped control points and zones are lon/lat; give receptors "
            "(point_receptors / zone_receptors) for a cartesian grid"
        )
    from bbw_bay.quality.evaluate import load_zones

    return point_receptors(grid, load_control_points()) + zone_receptors(grid, load_zones())


def select_receptors(receptors: Sequence[Receptor], selector: str | None) -> list[Receptor]:
    """Receptors matching a selector (see `parse_selector`; fields kind, province,
    target_class; bare words are receptor keys: a control point's key, ``zone:<zone key>``)."""
    if not selector or selector.strip() == "all":
        return list(receptors)

    def fields(r: Receptor) -> dict[str, str]:
        return {
            "name": r.key,
            "kind": r.kind,
            "province": r.province,
            "target_class": str(r.target_class),
        }

    chosen = _select([fields(r) for r in receptors], selector, "receptor")
    return [receptors[k] for k in chosen]


# ----------------------------------------------------------------------------- selection
def parse_selector(selector: str) -> tuple[dict[str, set[str]], list[str]]:
    """Split a selector into ({field: allowed values}, [bare names]).

    ``"province=Guangxi,kind=river"`` selects items whose province is Guangxi AND whose kind is
    river; ``"province=Guangxi|Hainan"`` allows either value; ``"Nanliu,Qin"`` names items.
    Field terms and names cannot be mixed.
    """
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    if not terms:
        raise ResponseError(f"empty selector {selector!r}")
    fields: dict[str, set[str]] = {}
    names: list[str] = []
    for term in terms:
        if "=" in term:
            key, _, value = term.partition("=")
            values = {v.strip() for v in value.split("|") if v.strip()}
            if not key.strip() or not values:
                raise ResponseError(f"selector term {term!r} must be FIELD=VALUE[|VALUE...]")
            fields.setdefault(key.strip(), set()).update(values)
        else:
            names.append(term)
    if fields and names:
        raise ResponseError(
            f"selector {selector!r} mixes FIELD=VALUE terms and names; use one form"
        )
    return fields, names


def _select(items: Sequence[Mapping[str, str]], selector: str, what: str) -> list[int]:
    """Indices of the items (dicts of text fields, one of them "name") matching ``selector``."""
    fields, names = parse_selector(selector)
    known_fields = sorted(items[0]) if items else []
    for key in fields:
        if key not in known_fields:
            raise ResponseError(
                f"unknown {what} field {key!r} in selector {selector!r}; "
                f"fields: {', '.join(known_fields)}"
            )
    if names:
        all_names = [item["name"] for item in items]
        chosen = []
        for name in names:
            if name not in all_names:
                close = difflib.get_close_matches(name, all_names, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ResponseError(
                    f"no {what} named {name!r}{hint} (known: {', '.join(all_names)})"
                )
            chosen.append(all_names.index(name))
        return chosen
    chosen = [
        k
        for k, item in enumerate(items)
        if all(item[key] in values for key, values in fields.items())
    ]
    if not chosen:
        raise ResponseError(f"selector {selector!r} matches no {what}")
    return chosen


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
    """Indices of the model's sources matching a selector (`parse_selector`; fields name,
    province, kind), a list of names, or None / "all" for every source."""
    if selector is None or (isinstance(selector, str) and selector.strip() == "all"):
        return list(range(len(model.sources)))
    if not isinstance(selector, str):
        selector = ",".join(selector)
    return _select(source_groups(model), selector, "source")


# ----------------------------------------------------------------------------- solves
def _wet_index(grid: Grid) -> np.ndarray:
    index = np.full(grid.shape, -1, dtype=np.int64)
    index[grid.wet] = np.arange(grid.n_wet)
    return index


def _check_steady(model: Model) -> None:
    if not model.flow.is_steady:
        raise ResponseError(
            "response coefficients need a steady flow; build the model with "
            "steady=True (bbw_bay.gulf.assemble.build) or for one season"
        )


def _tracer_names(model: Model, tracers) -> tuple[str, ...]:
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

    def by_rate(self, names: Sequence[str]) -> list[tuple[object, list[int]]]:
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
    names = _tracer_names(model, tracers)
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
    names = _tracer_names(model, tracers)
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


# ----------------------------------------------------------------------------- apportionment
def apportionment_dataset(matrix: ResponseMatrix) -> xr.Dataset:
    """Contribution of each source at each receptor [mg/L] and its share [%], as a Dataset.

    Variables: ``contribution`` (tracer, receptor, source) [mg/L] at today's loads;
    ``share`` (tracer, receptor, source) [% of the land-based excess]; ``coefficient``
    (tracer, receptor, source) [mg/L per t/yr]; ``background``, ``diffuse``, ``excess``,
    ``total`` (tracer, receptor) [mg/L]; ``background_share`` [% of total]; ``load`` (tracer,
    source) [t/yr]. Receptor and source descriptions are coordinates.
    """
    contributions = matrix.contributions()
    excess = contributions.sum(axis=2) + matrix.diffuse
    total = matrix.background + excess
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(excess[..., None] > 0, 100.0 * contributions / excess[..., None], 0.0)
        background_share = np.where(total > 0, 100.0 * matrix.background / total, 0.0)
    dims3 = ("tracer", "receptor", "source")
    coords = {
        "tracer": list(matrix.tracers),
        "receptor": [r.key for r in matrix.receptors],
        "source": list(matrix.sources),
        "receptor_kind": ("receptor", [r.kind for r in matrix.receptors]),
        "receptor_name": ("receptor", [r.name for r in matrix.receptors]),
        "receptor_province": ("receptor", [r.province for r in matrix.receptors]),
        "target_class": ("receptor", [r.target_class for r in matrix.receptors]),
        "source_province": (
            "source",
            [g.get("province", "") for g in matrix.groups]
            if matrix.groups
            else [""] * len(matrix.sources),
        ),
        "source_kind": (
            "source",
            [g.get("kind", "") for g in matrix.groups]
            if matrix.groups
            else [""] * len(matrix.sources),
        ),
    }
    ds = xr.Dataset(
        {
            "contribution": (
                dims3,
                contributions,
                {
                    "units": "mg L-1",
                    "long_name": "steady excess concentration from each source at today's load",
                },
            ),
            "share": (
                dims3,
                share,
                {"units": "%", "long_name": "share of the land-based excess concentration"},
            ),
            "coefficient": (
                dims3,
                matrix.coefficients,
                {
                    "units": "mg L-1 (t yr-1)-1",
                    "long_name": "response coefficient (excess per unit annual load)",
                },
            ),
            "load": (
                ("tracer", "source"),
                matrix.loads,
                {"units": "t yr-1", "long_name": "annual-mean load today"},
            ),
            "background": (
                ("tracer", "receptor"),
                matrix.background,
                {"units": "mg L-1", "long_name": "background concentration at the receptor"},
            ),
            "diffuse": (
                ("tracer", "receptor"),
                matrix.diffuse,
                {"units": "mg L-1", "long_name": "excess from area (diffuse) loads"},
            ),
            "excess": (
                ("tracer", "receptor"),
                excess,
                {"units": "mg L-1", "long_name": "land-based excess concentration (all sources)"},
            ),
            "total": (
                ("tracer", "receptor"),
                total,
                {"units": "mg L-1", "long_name": "background + land-based excess"},
            ),
            "background_share": (
                ("tracer", "receptor"),
                background_share,
                {"units": "%", "long_name": "background share of the total"},
            ),
        },
        coords=coords,
    )
    ds.attrs.update(
        {
            "title": "bbw_bay source apportionment (response-coefficient method)",
            "season": matrix.label,
            "advection_of_coefficients": "upwind",
            "receptor_weights": "point: its cell; zone: area-weighted mean of its wet cells",
        }
    )
    return ds


def apportionment_table(ds: xr.Dataset, *, top: int = 3, by: str = "source") -> str:
    """Plain-text table: per tracer and receptor the total, background and the largest
    contributors with their share of the land-based excess (``by``: source, province or kind)."""
    if by == "source":
        contribution = ds["contribution"]
    else:
        contribution = group_contributions(ds, by=by).rename({f"source_{by}": "source"})
    lines = []
    season = f" ({ds.attrs['season']})" if ds.attrs.get("season") else ""
    for tracer in ds["tracer"].values:
        lines.append(
            f"{tracer} [mg/L]{season}: total = background + land-based excess; "
            f"share of the excess by {by}"
        )
        lines.append(
            f"  {'receptor':<28} {'class':>5} {'total':>8} {'backgr':>8} {'excess':>8}"
            f"  largest contributors"
        )
        for receptor in ds["receptor"].values:
            r = ds.sel(tracer=tracer, receptor=receptor)
            c = contribution.sel(tracer=tracer, receptor=receptor)
            excess = float(r["excess"])
            order = np.argsort(-c.values)[:top]
            parts = [
                f"{c['source'].values[k]} {100 * c.values[k] / excess:.0f}%"
                for k in order
                if excess > 0 and c.values[k] > 0
            ]
            lines.append(
                f"  {receptor:<28} {int(r['target_class']):>5} {float(r['total']):8.4g} "
                f"{float(r['background']):8.4g} {excess:8.4g}  " + ", ".join(parts)
            )
    return "\n".join(lines)


def apportionment_csv(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write an `apportionment_dataset` as long-form CSV (one row per tracer, receptor, source;
    plus a "background" row per tracer and receptor), atomically."""
    import csv

    from bbw_bay.core.output import atomic_write

    header = [
        "tracer",
        "season",
        "receptor",
        "receptor_kind",
        "target_class",
        "source",
        "source_province",
        "source_kind",
        "load_t_per_yr",
        "coefficient_mg_per_l_per_t_yr",
        "contribution_mg_per_l",
        "share_of_excess_percent",
        "total_mg_per_l",
    ]

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for tracer in ds["tracer"].values:
                for receptor in ds["receptor"].values:
                    r = ds.sel(tracer=tracer, receptor=receptor)
                    common = [
                        tracer,
                        ds.attrs.get("season", ""),
                        receptor,
                        str(r["receptor_kind"].values),
                        int(r["target_class"]),
                    ]
                    total = f"{float(r['total']):.6g}"
                    out.writerow(
                        [
                            *common,
                            "background",
                            "",
                            "",
                            "",
                            "",
                            f"{float(r['background']):.6g}",
                            "",
                            total,
                        ]
                    )
                    for source in ds["source"].values:
                        s = r.sel(source=source)
                        out.writerow(
                            [
                                *common,
                                source,
                                str(s["source_province"].values),
                                str(s["source_kind"].values),
                                f"{float(s['load']):.6g}",
                                f"{float(s['coefficient']):.6g}",
                                f"{float(s['contribution']):.6g}",
                                f"{float(s['share']):.4f}",
                                total,
                            ]
                        )

    return atomic_write(path, write)


def group_contributions(ds: xr.Dataset, *, by: str = "province") -> xr.DataArray:
    """Sum of ``ds.contribution`` over sources grouped by ``source_<by>`` (province or kind)."""
    coord = f"source_{by}"
    if coord not in ds.coords:
        raise ResponseError(f"cannot group by {by!r}: no coordinate {coord!r}")
    labels = [label or "(unknown)" for label in ds[coord].values]
    return (
        ds["contribution"].assign_coords({coord: ("source", labels)}).groupby(coord).sum("source")
    )


def contribution_maps(
    model: Model,
    *,
    sources: str | Sequence[str] | None = None,
    tracers=None,
    factors: Factorisations | None = None,
) -> xr.Dataset:
    """Steady excess field [mg/L] of each chosen source at today's load, on the grid.

    Returns a Dataset with one variable per tracer, dims (source, Y, X), NaN on land.
    """
    factors = factors or Factorisations(model)
    names = _tracer_names(model, tracers)
    chosen = select_sources(model, sources)
    fields = response_fields(model, tracers=names, factors=factors)
    op = factors.operator
    ds = grid_dataset(model.grid)
    ydim, xdim = spatial_dims(model.grid)
    ds = ds.assign_coords(source=[model.sources[k].name for k in chosen])
    for t, name in enumerate(names):
        column = model.names.index(name)
        maps = np.stack(
            [
                op.to_field(fields[t, k] * model.layout.loads[k, column] / TONNE_PER_YEAR)
                for k in chosen
            ]
        )
        ds[name] = (
            ("source", ydim, xdim),
            maps,
            {
                "units": "mg L-1",
                "long_name": f"steady excess {name} from each source at today's load (upwind)",
            },
        )
    return ds


# ----------------------------------------------------------------------------- checks
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


def superposition_check(model: Model, matrix: ResponseMatrix) -> dict:
    """Σ contributions + background vs full steady solves of the same model.

    Returns per tracer: ``upwind_max_abs_diff`` [mg/L] and ``upwind_max_rel_diff`` against a
    full steady solve of the model with first-order upwind advection (round-off expected);
    ``scheme_max_abs_diff`` / ``scheme_max_rel_diff`` against the model's own advection scheme
    (e.g. MC; the scheme difference, not round-off), ``scheme_worst_receptor`` (largest relative
    difference) and ``scheme_error`` if that solve failed.
    """
    from bbw_bay.core.steady import SteadyStateError

    superposed = matrix.concentration()
    result: dict = {"advection": model.advection, "tracers": {}}
    sources = annual_sources(model)
    upwind = model.replace(advection="upwind", sources=sources).steady_state()
    full_upwind = receptor_values(matrix, upwind, model.grid)
    scheme, scheme_error = None, None
    if model.advection != "upwind":
        try:
            own = model.replace(sources=sources).steady_state()
            scheme = receptor_values(matrix, own, model.grid)
        except SteadyStateError as err:
            scheme_error = str(err)
    else:
        scheme = full_upwind
    for t, name in enumerate(matrix.tracers):
        entry = _differences(superposed[t], full_upwind[t], "upwind")
        if scheme is not None:
            entry.update(_differences(superposed[t], scheme[t], "scheme"))
            worst = int(
                np.argmax(np.abs(superposed[t] - scheme[t]) / np.maximum(np.abs(scheme[t]), 1e-300))
            )
            entry["scheme_worst_receptor"] = matrix.receptors[worst].key
        else:
            entry["scheme_error"] = scheme_error
        result["tracers"][name] = entry
    return result


def _differences(a: np.ndarray, b: np.ndarray, label: str) -> dict:
    diff = np.abs(a - b)
    scale = np.maximum(np.abs(b), 1e-300)
    return {
        f"{label}_max_abs_diff": float(diff.max(initial=0.0)),
        f"{label}_max_rel_diff": float((diff / scale).max(initial=0.0)),
    }


__all__ = [
    "ControlPoint",
    "Factorisations",
    "Receptor",
    "ResponseError",
    "ResponseMatrix",
    "annual_sources",
    "apportionment_csv",
    "apportionment_table",
    "apportionment_dataset",
    "contribution_maps",
    "default_receptors",
    "group_contributions",
    "load_control_points",
    "parse_selector",
    "point_receptors",
    "receptor_values",
    "response_coefficients",
    "response_fields",
    "select_receptors",
    "select_sources",
    "source_groups",
    "superposition_check",
    "zone_receptors",
]
