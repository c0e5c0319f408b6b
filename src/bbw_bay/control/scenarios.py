"""Load-control scenarios: variants of a base config, solved and compared zone by zone.

A scenario file (`bbw_bay.control.scenario_spec`, docs/scenarios.md) names a base config and
lists scenarios, each a list of operations on the baseline (`bbw_bay.control.scenario_ops`).
`run_scenarios` plans every (scenario, season) *case*, checking each against the base config
before anything is solved, solves every case as one independent task
(`control.executors.run_tasks`) and compares them (`bbw_bay.control.scenario_compare`).

Within a process, the model of a (config, season) is built once and reused: a scenario that
changes only loads gets a copy of the base model with other sources (`Model.replace`, the same
grid, flow and diffusivity: milliseconds); one that changes discharges (a moved river, a new
outfall with a discharge) gets a new flow too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time as wallclock
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.control.executors import run_tasks
from bbw_bay.control.scenario_compare import compare
from bbw_bay.control.scenario_ops import apply_operations, default_season, scenario_config
from bbw_bay.control.scenario_spec import Case, ScenarioError, ScenarioSpec, load_spec, parse_spec
from bbw_bay.core.config import Config
from bbw_bay.core.model import Model
from bbw_bay.core.sources import PointSource, SourceLayout
from bbw_bay.core.steady import SteadyStateError
from bbw_bay.gulf import assemble

log = logging.getLogger(__name__)

#: Failures that recur on every attempt of a case: reported at once, not retried.
DETERMINISTIC_ERRORS = (ValueError, SteadyStateError)


# ----------------------------------------------------------------------------- planning
def plan(spec: ScenarioSpec) -> list[Case]:
    """Every (scenario, season) case, each checked before anything is solved (fast: no flow).

    Raises ScenarioError, naming the file and scenario, for config overrides, seasons, tracers,
    sources, provinces or positions that do not exist or do not fit the base config.
    """
    with once_per_message("bbw_bay.core.sources"):
        return _plan(spec)


def _plan(spec: ScenarioSpec) -> list[Case]:
    steady = spec.mode == "steady"
    cases = []
    for scenario in spec.scenarios:
        seasons = (scenario.season,) if scenario.season else spec.seasons
        try:
            config = scenario_config(spec, scenario)
            grid = _grid(config)
            for season in seasons:
                tracers = assemble.build_tracers(config, season=season or "annual")
            apply_operations(
                assemble.build_sources(config, grid, tracers),
                operations=scenario.operations,
                grid=grid,
                tracers=tuple(tracers),
                snap=bool(config["sources"]["snap_to_sea"]),
            )
        except ScenarioError:
            raise
        except ValueError as err:  # the project's bad-input errors (config, loads, sources)
            raise ScenarioError(f"{spec.where}: scenario {scenario.name!r}: {err}") from None
        for season in seasons:
            season_label = season or default_season(config, steady=steady)
            label = scenario.name if len(spec.seasons) == 1 else f"{scenario.name} [{season}]"
            cases.append(Case(label, scenario, season, season_label))
    return cases


#: Grids built in this process, by their [grid] section (every scenario of a file shares one).
_GRIDS: OrderedDict = OrderedDict()


def _grid(config: Config):
    key = json.dumps(dict(config["grid"]), sort_keys=True, default=str)
    if key not in _GRIDS:
        _GRIDS[key] = assemble.build_grid(config)
        while len(_GRIDS) > 2:
            _GRIDS.popitem(last=False)
    return _GRIDS[key]


# ----------------------------------------------------------------------------- solving
#: Setups built in this process, by (config path, config text, season, steady); a few kept.
_SETUPS: OrderedDict = OrderedDict()
_MAX_SETUPS = 4


def _setup(config: Config, season: str | None, *, steady: bool) -> assemble.Setup:
    key = (str(config.path), config.text, season, steady)
    if key in _SETUPS:
        _SETUPS.move_to_end(key)
        return _SETUPS[key]
    setup = assemble.build(config, season=season, steady=steady)
    _SETUPS[key] = setup
    while len(_SETUPS) > _MAX_SETUPS:
        _SETUPS.popitem(last=False)
    return setup


def case_flow(setup: assemble.Setup, *, sources: Sequence[PointSource], season: str | None):
    """The flow of ``setup`` (circulation ``season``), rebuilt only when the discharges of
    ``sources`` differ from the setup's (a river moved or removed, an outfall with a discharge
    added)."""
    grid, base = setup.grid, setup.model
    layout = SourceLayout.build(grid, sources, base.names)
    if np.array_equal(layout.discharge_field(grid.shape), base.layout.discharge_field(grid.shape)):
        return setup.flow
    log.info("discharges changed: rebuilding the flow")
    return assemble.build_flow(setup.config, grid, list(sources), season=season)


def case_model(case: Case, *, spec: ScenarioSpec) -> tuple[assemble.Setup, Model]:
    """The base setup of a case's config and season (cached) and the case's model."""
    config = scenario_config(spec, case.scenario)
    setup = _setup(config, case.season, steady=spec.mode == "steady")
    sources = apply_operations(
        setup.model.sources,
        operations=case.scenario.operations,
        grid=setup.grid,
        tracers=setup.model.names,
        snap=bool(config["sources"]["snap_to_sea"]),
    )
    # the flow season build() resolved (e.g. "annual" for a steady case of a seasonal config)
    flow = case_flow(setup, sources=sources, season=case.season_label)
    # every input of the base model but its sources and flow (its monitored sections too)
    return setup, setup.model.replace(sources=sources, flow=flow)


def solve_case(case: Case, *, spec: ScenarioSpec) -> xr.Dataset:
    """Concentrations [mg/L] of one case: steady (Y, X) or a run (time, Y, X).

    Reuses this process's model of the same config and season; attrs carry the mass budget,
    steady iterations and wall time [s].
    """
    t0 = wallclock.perf_counter()
    setup, model = case_model(case, spec=spec)
    if spec.mode == "steady":
        ds = model.steady_state(
            tolerance=spec.steady_tolerance, max_iterations=spec.steady_max_iterations
        )
    elif spec.mode == "evaluation":  # the run `bbw-bay run` makes, on the evaluation basis
        from bbw_bay.core.simulation import Simulation

        def steady() -> Model:  # the annual-mean model of the case, for a steady start
            base = _setup(setup.config, case.season, steady=True).model
            annual = [
                replace(s, monthly_load_factor=None, monthly_discharge_factor=None)
                for s in model.sources
            ]
            return base.replace(sources=annual)

        ds = Simulation.from_config(model, setup.config, steady_model=steady).run()
    else:
        ds = model.run(**setup.run_options)
    if spec.mode != "steady":
        if model.statistics.region_budget:  # the monitored region's (the gulf proper's) budget
            ds.attrs["gulf_proper_budget"] = json.dumps(model.statistics.region_budget)
    ds.attrs["wall_seconds"] = wallclock.perf_counter() - t0
    log.info("solved %s in %.2f s", case.label, ds.attrs["wall_seconds"])
    return ds


# ----------------------------------------------------------------------------- running
def run_scenarios(
    spec: ScenarioSpec | Mapping | str | os.PathLike,
    *,
    zones=None,
    executor: Any = None,
    retries: int = 2,
    progress=None,
) -> xr.Dataset:
    """Solve every scenario of a file and compare them zone by zone.

    Parameters
    ----------
    spec : a scenario file (TOML, docs/scenarios.md), the same as a mapping (a relative
        ``base`` then resolves against the working directory), or a parsed `ScenarioSpec`
    zones : zones for `evaluate` (None: forcing/zones.toml on lon/lat grids, one "domain" zone
        of every wet cell with target Class II on cartesian grids)
    executor : None (serial), a concurrent.futures executor or a dask.distributed Client
    retries : extra attempts for a failed case
    progress : called as progress(done, total) after each case

    Returns
    -------
    xr.Dataset with a ``scenario`` dimension: tracer fields [mg/L] (scenario[, time], Y, X);
    `evaluate`'s statistics (scenario, zone[, tracer]) and ``delta_<statistic>`` = scenario −
    baseline of the same season; coordinates scenario_name, season, description.

    Examples
    --------
    >>> compared = run_scenarios({
    ...     "base": "configs/beibu_gulf.toml",
    ...     "run": {"mode": "steady", "seasons": ["winter"]},
    ...     "scenario": [{"name": "DIN -30%", "operations": [
    ...         {"op": "scale", "group": "all", "tracer": "DIN", "factor": 0.7}]}],
    ... })  # doctest: +SKIP
    >>> print(comparison_table(compared))  # doctest: +SKIP
    """
    if isinstance(spec, Mapping):
        spec = parse_spec(spec)
    elif not isinstance(spec, ScenarioSpec):
        spec = load_spec(spec)
    with once_per_message("bbw_bay.core.sources"):
        cases = plan(spec)
        log.info("%d scenario case(s) from %s", len(cases), spec.where)
        fields = run_tasks(
            functools.partial(solve_case, spec=spec),
            items=cases,
            executor=executor,
            retries=retries,
            describe=lambda k: f"scenario {cases[k].label!r}",
            name="scenario",
            progress=progress,
            permanent=DETERMINISTIC_ERRORS,
        )
    return compare(spec, cases=cases, fields=fields, zones=zones)


@contextlib.contextmanager
def once_per_message(logger: str):
    """Within the block, log each distinct message of ``logger`` once (every scenario rebuilds
    the same sources, and each would repeat the same snapping warnings)."""
    seen: set[str] = set()

    def first_time(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in seen:
            return False
        seen.add(message)
        return True

    target = logging.getLogger(logger)
    target.addFilter(first_time)
    try:
        yield
    finally:
        target.removeFilter(first_time)


__all__ = [
    "DETERMINISTIC_ERRORS",
    "case_flow",
    "case_model",
    "once_per_message",
    "plan",
    "run_scenarios",
    "solve_case",
]
