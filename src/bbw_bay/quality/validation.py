"""Compare a model with observations: the model basis and the comparison of every row.

`ModelBasis` holds what the model says: the steady state of each season of a config (solved on
first use, so only the seasons some observation needs are solved), or the records of a run file;
the linear tide of the config's grid; e-folding residence times of its zones. `validate` matches
each observation (see `bbw_bay.quality.skill` for space and time) and compares it by kind:

* concentrations (a tracer the model carries): the field in the matched cell;
* tides: ``K1_amplitude`` / ``K1_phase`` ... from `bbw_bay.gulf.tides.solve_tide` in the matched
  cell; ``tidal_range`` against the mean range (mean of every rise and fall over a year, 平均潮差)
  of the modelled K1 + O1 + M2 tide there (`bbw_bay.gulf.tide_stations.mean_range`);
* flushing: ``residence_days`` against the e-folding time of the row's region
  (`Model.efolding_times`, as ``bbw-bay residence``) in the steady flow of the seasons the row
  overlaps;
  ``half_exchange_days`` against that time × ln 2 (the half-life of the same exponential decay);
* ``class_I_II_share``: the Class I+II area share [%] of the row's region for the worst of the
  model's GB 3097 factors (`bbw_bay.quality.evaluate.evaluate` of the matched-time field).

A row that cannot be compared (a variable the model does not carry, a point off the grid, a
region without a mask) keeps its reason in ``Comparison.status``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from bbw_bay.core.output import grid_dataset, horizontal_dims
from bbw_bay.errors import did_you_mean
from bbw_bay.quality.observations import NO_REGION, Observation, ObservationError
from bbw_bay.quality.skill import (
    DEFAULT_MAX_DISTANCE_KM,
    Comparison,
    describe_weights,
    match_cell,
    record_days,
    record_weights,
    season_weights,
    smallest_region,
)
from bbw_bay.units import SEASONS

log = logging.getLogger(__name__)

#: Region key of the gulf proper (`bbw_bay.gulf.geodata.gulf_proper_mask`).
GULF_PROPER = "gulf_proper"
#: Constituents of the modelled tidal range.
RANGE_CONSTITUENTS = ("K1", "O1", "M2")
#: Longest e-folding time [days] marched before a region counts as not flushed.
MAX_EFOLDING_DAYS = 1000.0
#: Label of the single steady state of a config without seasons.
STEADY = "steady"


class ModelBasis:
    """The model values observations are compared with.

    Parameters
    ----------
    config : a `bbw_bay.core.config.Config`
    run : a run Dataset (``bbw-bay run`` output) to read fields from; None solves the steady
        state of each season of the config (one steady state for a config without seasons)
    label : how to name the basis in reports (e.g. the run file's name)
    """

    def __init__(self, config, *, run: xr.Dataset | None = None, label: str = "") -> None:
        self.config = config
        self.run = run
        self.label = label
        self.seasonal = config["flow"]["kind"] == "circulation"
        self._setups: dict = {}
        self._states: dict = {}
        self._fields: dict = {}
        self._efolding: dict = {}
        self._grid = None
        self._masks: dict[str, np.ndarray] | None = None

    # ---------------------------------------------------------------- what the model holds
    def describe(self) -> str:
        """One line: what the model values are."""
        if self.run is not None:
            name = self.label or "the run file"
            return (
                f"{name}: mean of the records on each observation's days of the year "
                "(first record, the initial state, left out)"
            )
        if self.seasonal:
            return (
                "steady state of each season (winter DJF, spring MAM, summer JJA, autumn SON) of "
                "the config, weighted by the days of each observation's period in each season"
            )
        return "the config's steady state (no seasons)"

    def setup(self, season: str | None):
        """`bbw_bay.gulf.assemble.Setup` of one season's steady model (built once)."""
        from bbw_bay.gulf.assemble import build

        key = season or STEADY
        if key not in self._setups:
            self._setups[key] = build(
                self.config, season=season if self.seasonal else None, steady=True
            )
        return self._setups[key]

    @property
    def grid(self):
        """The config's grid."""
        if self._grid is None:
            from bbw_bay.gulf.assemble import build_grid

            self._grid = build_grid(self.config)
        return self._grid

    @property
    def dataset(self) -> xr.Dataset:
        """Coordinates and wet mask the observations are matched on (ObservationError if a run
        file is on another grid than the config's)."""
        if self.run is None:
            return grid_dataset(self.grid)
        ydim, xdim, _ = horizontal_dims(self.run)
        shape = (self.run.sizes[ydim], self.run.sizes[xdim])
        if shape != self.grid.shape or "wet" not in self.run:
            raise ObservationError(
                f"{self.label or 'the run file'}: its grid {shape} (wet mask "
                f"{'present' if 'wet' in self.run else 'missing'}) is not the config's grid "
                f"{self.grid.shape}; give the config the run was made with"
            )
        return self.run

    def season_months(self) -> dict[str, tuple[int, ...]]:
        """{season: months} of the circulation (empty for a config without seasons)."""
        if not self.seasonal:
            return {}
        from bbw_bay.gulf.circulation import load_circulation_params

        params = load_circulation_params()["season"]
        return {s: tuple(int(m) for m in params[s]["months"]) for s in SEASONS}

    def steady_weights(self, obs: Observation) -> dict[str, float]:
        """{season: weight} of the steady states an observation is compared with."""
        return season_weights(obs, self.season_months()) if self.seasonal else {STEADY: 1.0}

    def state(self, season: str) -> xr.Dataset:
        """Steady state [mg/L] of one season (``STEADY`` without seasons), solved once."""
        if season not in self._states:
            log.info("solving the steady state (%s)", season)
            model = self.setup(None if season == STEADY else season).model
            self._states[season] = model.steady_state()
        return self._states[season]

    def tracers(self) -> list[str]:
        """Tracer variables of the model (age and tagged tracers included)."""
        if self.run is not None:
            return [str(v) for v in self.run.data_vars if "time" in self.run[v].dims]
        return list(self.setup(self._first_season()).model.names)

    def _first_season(self) -> str | None:
        return SEASONS[0] if self.seasonal else None

    def field(self, obs: Observation) -> tuple[xr.Dataset, str]:
        """(fields [mg/L] on the observation's days of the year, description)."""
        if self.run is not None:
            weights, text = record_weights(record_days(self.run), obs)
            key = ("run", *np.round(weights, 12))
        else:
            seasons = self.steady_weights(obs)
            key = ("steady", *sorted(seasons.items()))
            text = describe_weights(seasons)
        if key not in self._fields:
            self._fields[key] = self._mean_field(weights if self.run is not None else seasons)
        return self._fields[key], text

    def _mean_field(self, weights) -> xr.Dataset:
        ds = self.dataset
        out = grid_dataset(self.grid) if self.run is None else ds[["cell_area", "wet"]].copy()
        names = self.tracers()
        if self.run is not None:
            w = xr.DataArray(np.asarray(weights), dims="time")
            for name in names:
                if "time" in ds[name].dims:
                    out[name] = (ds[name] * w).sum("time", skipna=False)
                    out[name].attrs = dict(ds[name].attrs)
            return out
        for name in names:
            total = sum(weight * self.state(s)[name] for s, weight in weights.items())
            out[name] = total
            out[name].attrs = dict(self.state(next(iter(weights)))[name].attrs)
        return out

    def region_masks(self) -> dict[str, np.ndarray]:
        """{region: (ny, nx) bool}: the zones of ``forcing/zones.toml`` and the gulf proper
        (geographic grids; empty on cartesian ones)."""
        if self._masks is None:
            self._masks = {}
            if self.grid.geographic:
                from bbw_bay.gulf.geodata import gulf_proper_mask
                from bbw_bay.quality.zones import load_zones, zone_masks

                masks = zone_masks(grid_dataset(self.grid), load_zones())
                self._masks = {k: m & self.grid.wet for k, m in masks.items() if m.any()}
                self._masks[GULF_PROPER] = gulf_proper_mask(self.grid)
        return self._masks

    def efolding_days(self, season: str, region: str) -> float:
        """E-folding residence time [days] of a region in one season's steady flow."""
        key = (season, region)
        if key not in self._efolding:
            model = self.setup(None if season == STEADY else season).model
            mask = self.region_masks()[region]
            times = model.efolding_times({region: mask}, max_days=MAX_EFOLDING_DAYS)
            self._efolding[key] = float(times[region])
        return self._efolding[key]

    def tide(self, constituent: str):
        """`bbw_bay.gulf.tides.TidalSolution` of a constituent on the config's grid."""
        from bbw_bay.gulf.tides import solve_tide

        return solve_tide(self.grid, constituent)


# ----------------------------------------------------------------------------- comparing
def _region(obs: Observation, masks, j: int, i: int) -> str:
    if not obs.region:
        return smallest_region(masks, j, i)
    if obs.region != NO_REGION and obs.region not in masks:
        raise ObservationError(
            f"{obs.file}: row {obs.row} (id {obs.id!r}), column 'region': expected {NO_REGION!r}, "
            f"{GULF_PROPER} or a zone key with wet cells on this grid "
            f"({', '.join(sorted(masks))}), found {obs.region!r}{did_you_mean(obs.region, masks)}"
        )
    return obs.region


def _concentration(c: Comparison, basis: ModelBasis) -> None:
    o = c.observation
    if o.variable not in basis.tracers():
        c.status = (
            f"not compared: the model carries no {o.variable} (it has {', '.join(basis.tracers())})"
        )
        return
    fields, c.basis = basis.field(o)
    ydim, xdim, _ = horizontal_dims(fields)
    c.model = float(fields[o.variable].transpose(ydim, xdim).values[c.cell])


def _tide(c: Comparison, basis: ModelBasis) -> None:
    o = c.observation
    j, i = c.cell
    if o.kind == "tidal_range":
        from bbw_bay.gulf.tide_stations import mean_range

        constants = {k: complex(basis.tide(k).eta[j, i]) for k in RANGE_CONSTITUENTS}
        c.model = mean_range(constants)
        c.basis = "mean range of the K1 + O1 + M2 tide over a year (gulf.tide_stations.mean_range)"
        return
    constituent, what = o.variable.split("_", 1)
    from bbw_bay.gulf.tides import CONSTITUENT_SPEEDS

    if constituent not in CONSTITUENT_SPEEDS:
        c.status = f"not compared: the tidal solver has no constituent {constituent}"
        return
    solution = basis.tide(constituent)
    c.model = float((solution.amplitude if what == "amplitude" else solution.phase)[j, i])
    c.basis = f"{constituent} linear tide (bbw_bay.gulf.tides.solve_tide), Greenwich phase"


def _flushing(c: Comparison, basis: ModelBasis) -> None:
    o = c.observation
    if not c.region or c.region == NO_REGION:
        why = "its region has no model mask" if c.region == NO_REGION else "its point is in no zone"
        c.status = f"not compared: {why}"
        return
    seasons = basis.steady_weights(o)
    times = {s: basis.efolding_days(s, c.region) for s in seasons}
    if not all(math.isfinite(t) for t in times.values()):
        c.status = f"not compared: {c.region} is not flushed within {MAX_EFOLDING_DAYS:g} days"
        return
    c.model = sum(w * times[s] for s, w in seasons.items())
    half = o.variable == "half_exchange_days"
    if half:
        c.model *= math.log(2.0)
    c.basis = (
        f"e-folding time{' x ln 2' if half else ''} of {c.region} in the steady flow "
        f"({describe_weights(seasons)})"
    )


def _share(c: Comparison, basis: ModelBasis) -> None:
    from bbw_bay.quality.evaluate import evaluate

    if not c.region or c.region == NO_REGION:
        c.status = "not compared: the row names no region with a model mask"
        return
    fields, text = basis.field(c.observation)
    result = evaluate(fields, zones={c.region: basis.region_masks()[c.region]})
    c.model = 100.0 * float(result["overall_good_share"].sel(zone=c.region))
    factors = ", ".join(str(t) for t in result["tracer"].values)
    c.basis = f"Class I+II area share of {c.region}, worst of {factors} ({text})"


_BY_KIND = {
    "concentration": _concentration,
    "other": _concentration,
    "tide_amplitude": _tide,
    "tide_phase": _tide,
    "tidal_range": _tide,
    "flushing": _flushing,
    "share": _share,
}


def validate(
    observations: Sequence[Observation],
    basis: ModelBasis,
    *,
    max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
) -> list[Comparison]:
    """Compare every observation with the model (see the module docstring).

    Parameters
    ----------
    observations : rows from `bbw_bay.quality.observations.read_observations`
    basis : the model values
    max_distance_km : largest distance from a point to the wet cell it is compared with [km]

    Returns
    -------
    list of `bbw_bay.quality.skill.Comparison`, one per observation, in order
    """
    if not max_distance_km >= 0:
        raise ObservationError(f"max_distance_km must be >= 0, found {max_distance_km!r}")
    ds = basis.dataset
    masks = basis.region_masks()
    out = []
    for obs in observations:
        match = match_cell(ds, obs.lon, obs.lat, max_distance_km=max_distance_km)
        c = Comparison(obs, match=match)
        if not match.ok:
            c.status = f"not compared: {match.status}"
        else:
            c.region = _region(obs, masks, match.j, match.i)
            _BY_KIND[obs.kind](c, basis)
        out.append(c)
    return out


__all__ = ["GULF_PROPER", "MAX_EFOLDING_DAYS", "ModelBasis", "STEADY", "validate"]
