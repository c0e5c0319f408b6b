"""Response of the evaluated field to each source, on the evaluation basis, by tagged tracers.

`bbw-bay run` + `evaluate` judge a zone by the *time mean of the records* of a run of the
config's own flow (the seasonal cycle of the gulf), advection scheme (MC by default), spin-up
and output schedule (`bbw_bay.core.simulation.Simulation.from_config`). `evaluation_response`
computes, on exactly that basis, the time-mean concentration c̄(cell) of every wet cell and its
response to each controlled source:

* one `Simulation` of a model carrying, besides the tracer itself ("full", today's loads and
  background), one *tagged* tracer per controlled source (that source's load with its monthly
  factors, background zero, the same flow, diffusivity and decay), one for the other sources
  together ("fixed") and one with the background and no point source ("bg"); all advance in one
  fused pass, so eight tags cost a few times a one-tracer run, not eight runs;
* α_i = c̄(tag_i) / L_i [mg/L per t/yr] (the MC limiter is homogeneous of degree one, so a tag's
  field scales exactly with its load);
* the anchor c̄₀ = c̄(full) − Σ_i c̄(tag_i), so c̄(x) ≈ c̄₀ + Σ_i α_i x_i is *exact* at today's
  loads and linear around them.

Why tags and not the linearised operator: MC is linear only piecewise (its limiter switches),
so the Jacobian of the time-marching map differs from the secant the tags give by the same
small amount, costs a tangent-linear code, and would still need the forward check below. The
tags use the production kernels as they are.

MC nonlinearity: superposition error e = c̄(full) − c̄(bg) − Σ_i c̄(tag_i) − c̄(fixed) over the
wet cells, reported relative to the land-based excess c̄(full) − c̄(bg) (`Linearity`). It bounds
the error of the prediction c̄₀ + α·x away from today; the capacity loop
(`bbw_bay.control.capacity_milp.evaluation_capacity`) removes what is left by re-anchoring on
the forward run of each answer (successive linear programming).

The response is cached on disk (`default_cache_dir`, ``$BBW_BAY_CACHE`` or
``$XDG_CACHE_HOME/bbw_bay`` or ``~/.cache/bbw_bay``), keyed by the SHA-256 of the tagged
model (`bbw_bay.core.checkpoint.model_digest`: settings, sources, tracers, grid, flow,
diffusivity: everything the config and its input files build), the run options and the
controlled set, so a second capacity run with other targets reads it in well under a second.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.checkpoint import json_digest, model_digest
from bbw_bay.core.config import Config
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.simulation import Simulation
from bbw_bay.errors import BadInputError
from bbw_bay.units import DAY, TONNE_PER_YEAR

log = logging.getLogger(__name__)

#: Version of the cached file layout (a change invalidates every cache entry).
CACHE_VERSION = 1
_FULL, _BG, _FIXED = "{t}", "{t}@bg", "{t}@fixed"


class ResponseBasisError(BadInputError):
    """A tracer or source that the evaluation-basis response cannot be built for."""


@dataclass(frozen=True)
class Linearity:
    """How far the MC run is from superposition, over the wet cells.

    Attributes
    ----------
    max_abs : max |e| [mg/L], e = full − bg − Σ tags − fixed
    max_rel_excess : max |e| / max excess (excess = full − bg) [-]
    max_rel_cell : max over cells with excess ≥ 1 % of its maximum of |e| / excess [-]
    max_zone_mean_rel : max over the given zones of |mean e| / mean excess [-] (NaN: no zone)
    """

    max_abs: float
    max_rel_excess: float
    max_rel_cell: float
    max_zone_mean_rel: float = float("nan")


@dataclass(frozen=True, eq=False)
class EvaluationResponse:
    """Time-mean fields of a run on the evaluation basis and their response to each source.

    Attributes
    ----------
    tracer : the tracer
    sources : every source name of the model; ``controlled`` (nc,) indices of the tagged ones
    today : (ns,) today's annual-mean loads [t/yr]
    full : (ny, nx) time mean of the run with today's loads [mg/L]
    anchor : (ny, nx) full − Σ_i tag_i: the prediction with every controlled load at 0 [mg/L]
    background : (ny, nx) time mean of the background-only tracer [mg/L]
    fixed : (ny, nx) time mean of the other sources' tag [mg/L]
    alpha : (nc, ny, nx) response of the time mean to each controlled source [mg/L per t/yr]
    wet : (ny, nx) bool
    basis : what the fields are: cycle, scheme, averaging, spin-up, period (one line each)
    linearity : the superposition error of the MC run (`Linearity`)
    seconds : wall time of the tagged run [s] (0 for nothing; as measured when it was built)
    cached : True when read from the cache
    """

    tracer: str
    sources: tuple[str, ...]
    controlled: np.ndarray
    today: np.ndarray
    full: np.ndarray
    anchor: np.ndarray
    background: np.ndarray
    fixed: np.ndarray
    alpha: np.ndarray
    wet: np.ndarray
    basis: dict
    linearity: Linearity
    seconds: float = 0.0
    cached: bool = False
    key: str = field(default="")

    def predict(self, loads: np.ndarray) -> np.ndarray:
        """(ny, nx) predicted time mean [mg/L] with controlled loads ``loads`` (nc,) [t/yr]."""
        return self.anchor + np.tensordot(np.asarray(loads, float), self.alpha, axes=1)

    def zone_linearity(self, masks: Sequence[np.ndarray]) -> Linearity:
        """`linearity` with ``max_zone_mean_rel`` over the given (ny, nx) bool masks."""
        e = self.full - self.background - self.alpha_sum_today() - self.fixed
        excess = self.full - self.background
        worst = np.nan
        for mask in masks:
            if mask.any() and excess[mask].mean() > 0:
                r = abs(e[mask].mean()) / excess[mask].mean()
                worst = r if not np.isfinite(worst) else max(worst, r)
        return replace(self.linearity, max_zone_mean_rel=float(worst))

    def alpha_sum_today(self) -> np.ndarray:
        """(ny, nx) Σ_i α_i L_i today: the controlled sources' tags [mg/L]."""
        return np.tensordot(self.today[self.controlled], self.alpha, axes=1)


# ----------------------------------------------------------------------------- basis
def basis_of(config: Config, model: Model, simulation: Simulation) -> dict:
    """{cycle, scheme, averaging, spinup, period}: the basis of a run, in words."""
    f = config["flow"]
    cycle = (
        f"{f['season']} circulation" if f["kind"] == "circulation" else f"{f['kind']} flow"
    ) + (", monthly loads" if model.layout.time_varying else "")
    if simulation.output == "mean":
        averaging = (
            f"time mean of {simulation.output_times.size} records, each the time mean over "
            f"{simulation.interval / DAY:.6g} d (as evaluate)"
        )
    else:
        averaging = f"mean of {simulation.output_times.size + 1} snapshots (as evaluate)"
    return {
        "cycle": cycle,
        "scheme": model.advection,
        "averaging": averaging,
        "spinup": (
            f"{simulation.spinup / DAY:.6g} d computed, not written, from run.initial = "
            f"{config['run'].get('initial', 'background')}"
        ),
        "period": (
            f"{simulation.duration / DAY:.6g} d from day {simulation.start / DAY:.6g} of the year"
        ),
    }


def basis_line(basis: dict) -> str:
    """One line naming a basis (for tables, CSV headers and netCDF attributes)."""
    return "; ".join(
        f"{k} {basis[k]}" for k in ("cycle", "scheme", "averaging", "spinup", "period")
    )


def evaluated_field(ds: xr.Dataset, name: str) -> np.ndarray:
    """(ny, nx) the field `bbw_bay.quality.evaluate.evaluate` judges: the mean of the records."""
    da = ds[name]
    return (da.mean("time") if "time" in da.dims else da).values.astype(float)


# ----------------------------------------------------------------------------- the model
def tagged_model(model: Model, *, tracer: str, controlled: Sequence[int]) -> tuple[Model, list]:
    """The model carrying the tracer, its background-only twin, the fixed sources' tag and one
    tag per controlled source; and the tag names of the controlled sources (in order)."""
    if tracer not in model.tracers:
        raise ResponseBasisError(f"unknown tracer {tracer!r}; the model has {list(model.names)}")
    base = model.tracers[tracer]
    names = {k: f"{tracer}@{k}" for k in controlled}
    tracers = {
        tracer: base,
        _BG.format(t=tracer): Tracer(decay_per_day=base.decay_per_day, background=base.background),
        _FIXED.format(t=tracer): Tracer(decay_per_day=base.decay_per_day),
        **{name: Tracer(decay_per_day=base.decay_per_day) for name in names.values()},
    }
    sources = []
    for k, s in enumerate(model.sources):
        load = float(s.loads.get(tracer, 0.0))
        loads = {tracer: load}
        if k in names:
            loads[names[k]] = load if load > 0 else TONNE_PER_YEAR  # 1 t/yr: α of a zero load
        else:
            loads[_FIXED.format(t=tracer)] = load
        sources.append(replace(s, loads=loads))
    return model.replace(tracers=tracers, sources=sources), [names[k] for k in controlled]


# ----------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """``$BBW_BAY_CACHE``, else ``$XDG_CACHE_HOME/bbw_bay``, else ``~/.cache/bbw_bay``."""
    if os.environ.get("BBW_BAY_CACHE"):
        return Path(os.environ["BBW_BAY_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "bbw_bay"


def _save(path: Path, r: EvaluationResponse) -> None:
    meta = {
        "tracer": r.tracer,
        "sources": list(r.sources),
        "basis": r.basis,
        "linearity": r.linearity.__dict__,
        "seconds": r.seconds,
        "version": CACHE_VERSION,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        meta=np.array(json.dumps(meta)),
        controlled=r.controlled,
        today=r.today,
        full=r.full,
        anchor=r.anchor,
        background=r.background,
        fixed=r.fixed,
        alpha=r.alpha,
        wet=r.wet,
    )
    os.replace(tmp, path)


def _load(path: Path, key: str) -> EvaluationResponse | None:
    try:
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("version") != CACHE_VERSION:
                return None
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except (OSError, ValueError, KeyError) as err:
        log.warning("unreadable response cache %s (%s): rebuilding it", path, err)
        return None
    return EvaluationResponse(
        tracer=meta["tracer"],
        sources=tuple(meta["sources"]),
        basis=meta["basis"],
        linearity=Linearity(**meta["linearity"]),
        seconds=float(meta["seconds"]),
        cached=True,
        key=key,
        **arrays,
    )


# ----------------------------------------------------------------------------- the response
def evaluation_response(
    model: Model,
    config: Config,
    *,
    tracer: str,
    controlled: Sequence[int],
    cache: str | os.PathLike | None | bool = True,
    steady_model=None,
    progress=None,
) -> EvaluationResponse:
    """Time-mean fields on the evaluation basis and their response to each controlled source.

    Parameters
    ----------
    model : the model `bbw-bay run` runs for ``config`` (``bbw_bay.gulf.assemble.build(config)
        .model``: the config's own flow cycle, scheme, loads with their monthly factors)
    config : the config (its [run] section and ``transport.dt_s`` set the Simulation, as
        `Simulation.from_config`)
    tracer : the tracer to tag
    controlled : indices of the sources to tag (one tag each)
    cache : folder of the cache; True: `default_cache_dir`; False or None: no cache
    steady_model : the model of the annual-mean forcing (or a function returning it), for a
        steady start (``run.initial``), as ``bbw-bay run`` passes it; it is tagged like ``model``
    progress : passed to the Simulation (``progress(done, total)`` [s of model time])

    Returns
    -------
    `EvaluationResponse`
    """
    controlled = [int(k) for k in controlled]
    if not controlled:
        raise ResponseBasisError("no controlled sources to tag")
    tagged, tags = tagged_model(model, tracer=tracer, controlled=controlled)

    # the run's schedule, without its steady start (a cache hit needs no steady solve)
    schedule = Simulation.from_config(tagged, config, initial=None)
    options = {
        "duration": schedule.duration,
        "interval": schedule.interval,
        "start": schedule.start,
        "spinup": schedule.spinup,
        "output": schedule.output,
        "dt": schedule.dt,
        "initial": str(config["run"].get("initial", "")),
    }
    key = json_digest({"model": model_digest(tagged), "run": options, "v": CACHE_VERSION})
    folder = default_cache_dir() if cache is True else (Path(cache) if cache else None)
    path = None if folder is None else folder / "responses" / f"{key}.npz"
    if path is not None and path.is_file():
        found = _load(path, key)
        if found is not None:
            log.info("evaluation-basis response of %s read from %s", tracer, path)
            return found

    def tagged_steady():
        source = steady_model() if callable(steady_model) else steady_model
        return tagged_model(source, tracer=tracer, controlled=controlled)[0]

    simulation = Simulation.from_config(
        tagged,
        config,
        steady_model=None if steady_model is None else tagged_steady,
        progress=progress,
    )
    t0 = time.perf_counter()
    ds = simulation.run()
    seconds = time.perf_counter() - t0
    today = np.array([s.loads.get(tracer, 0.0) / TONNE_PER_YEAR for s in model.sources])
    tag_loads = np.array(
        [today[k] if today[k] > 0 else 1.0 for k in controlled]  # t/yr, as tagged_model
    )
    fields = np.array([evaluated_field(ds, name) for name in tags])
    full = evaluated_field(ds, tracer)
    background = evaluated_field(ds, _BG.format(t=tracer))
    fixed = evaluated_field(ds, _FIXED.format(t=tracer))
    alpha = fields / tag_loads[:, None, None]
    controlled_today = np.tensordot(today[controlled], alpha, axes=1)
    wet = np.asarray(model.grid.wet, bool)
    response = EvaluationResponse(
        tracer=tracer,
        sources=tuple(s.name for s in model.sources),
        controlled=np.array(controlled, dtype=int),
        today=today,
        full=full,
        anchor=full - controlled_today,
        background=background,
        fixed=fixed,
        alpha=alpha,
        wet=wet,
        basis=basis_of(config, model, simulation),
        linearity=_linearity(full, background, controlled_today + fixed, wet),
        seconds=seconds,
        key=key,
    )
    if path is not None:
        _save(path, response)
        log.info("evaluation-basis response of %s cached in %s", tracer, path)
    return response


def _linearity(full, background, tags, wet) -> Linearity:
    excess = np.where(wet, full - background, 0.0)
    error = np.where(wet, full - background - tags, 0.0)
    top = float(excess.max(initial=0.0))
    big = excess >= 0.01 * top
    return Linearity(
        max_abs=float(np.abs(error).max(initial=0.0)),
        max_rel_excess=float(np.abs(error).max(initial=0.0) / top) if top > 0 else 0.0,
        max_rel_cell=float((np.abs(error[big]) / excess[big]).max(initial=0.0)),
    )


__all__ = [
    "CACHE_VERSION",
    "EvaluationResponse",
    "Linearity",
    "ResponseBasisError",
    "basis_line",
    "basis_of",
    "default_cache_dir",
    "evaluated_field",
    "evaluation_response",
    "tagged_model",
]
