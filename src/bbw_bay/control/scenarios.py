"""Load-control scenarios: variants of a base config, solved and compared zone by zone.

A scenario file (TOML, docs/scenarios.md) names a base config and lists ``[[scenario]]`` tables,
each a list of operations applied to the baseline in order:

=============  ============================================================================
``scale``      multiply loads [-] of sources chosen by ``source`` (name or names) or ``group``
               ("all", or {province = ..., kind = "river"|"outfall"}), optionally only of
               ``tracer`` (name or names): ``factor``
``remove``     drop sources (``source`` or ``group``), their discharge included
``add_outfall``  a new source: ``name``, ``lon``/``lat`` (or ``x_m``/``y_m``),
               ``loads_t_per_yr`` and/or ``loads_g_per_s``, ``discharge_m3_per_s`` (0),
               ``province`` ("")
``move``       put ``source`` at a new ``lon``/``lat`` (or ``x_m``/``y_m``), e.g. offshore
``season``     solve for another circulation ``season``
``decay``      set ``tracer``'s ``decay_per_day`` [1/day], or multiply it by ``factor``
``set``        config overrides ``values = ["section.key=value", ...]`` (as ``--set``)
=============  ============================================================================

The baseline (no operation) is always the first scenario. Sources from a source table carry
their province and kind; inline ``[[source]]`` entries of a config have no province and count as
rivers when they have a discharge, outfalls otherwise.

Each (scenario, season) *case* is one independent task (`control.executors.run_tasks`). Within
a process, the model of a (config, season) is built once and reused: a scenario that changes
only loads gets a new `Model` on the same grid, flow and diffusivity (milliseconds); one that
changes discharges (a moved river, a new outfall with a discharge) gets a new flow. The
comparison table is `quality.evaluate.evaluate` of every case, concatenated along ``scenario``,
with the change of each statistic from the baseline of the same season.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import json
import logging
import math
import os
import time as wallclock
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.control.executors import run_tasks
from bbw_bay.core.config import Config, ConfigError, load_config
from bbw_bay.core.model import Model
from bbw_bay.core.output import add_provenance
from bbw_bay.core.sources import PointSource, SourceError, SourceLayout
from bbw_bay.core.steady import SteadyStateError
from bbw_bay.errors import BadInputError
from bbw_bay.gulf import assemble
from bbw_bay.gulf.data import read_toml
from bbw_bay.quality.evaluate import Zone, evaluate
from bbw_bay.units import DAY, TONNE_PER_YEAR

log = logging.getLogger(__name__)

MODES = ("steady", "run")
SEASONS = ("annual", "winter", "spring", "summer", "autumn")
KINDS = ("river", "outfall")
BASELINE = "baseline"
#: Statistics of `evaluate` whose change from the baseline is reported as ``delta_<name>``.
DELTA_STATISTICS = (
    "good_share",
    "target_share",
    "mean",
    "p95",
    "max",
    "overall_good_share",
    "overall_target_share",
)
#: Keys each operation accepts (besides ``op``); REQUIRED ones must be present.
OPERATION_KEYS = {
    "scale": ("source", "group", "tracer", "factor"),
    "remove": ("source", "group"),
    "add_outfall": (
        "name",
        "lon",
        "lat",
        "x_m",
        "y_m",
        "loads_t_per_yr",
        "loads_g_per_s",
        "discharge_m3_per_s",
        "province",
    ),
    "move": ("source", "lon", "lat", "x_m", "y_m"),
    "season": ("season",),
    "decay": ("tracer", "decay_per_day", "factor"),
    "set": ("values",),
}
_TOP_KEYS = ("title", "base", "set", "run", "scenario")
_RUN_KEYS = (
    "mode",
    "seasons",
    "spinup_days",
    "pass_share",
    "steady_tolerance",
    "steady_max_iterations",
)
_SCENARIO_KEYS = ("name", "description", "basis", "operations")


class ScenarioError(BadInputError):
    """A scenario file or operation is invalid (names the file, scenario and key)."""


#: Failures that recur on every attempt of a case: reported at once, not retried.
DETERMINISTIC_ERRORS = (ValueError, SteadyStateError)


# ----------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Operation:
    """One change to the baseline: ``kind`` (see the module table) and its validated keys."""

    kind: str
    params: Mapping[str, Any]
    where: str = ""


@dataclass(frozen=True)
class Scenario:
    """A named list of operations; ``basis`` says where its numbers come from."""

    name: str
    operations: tuple[Operation, ...] = ()
    description: str = ""
    basis: str = ""

    @property
    def season(self) -> str | None:
        """The season a ``season`` operation asks for (the last one), or None."""
        seasons = [op.params["season"] for op in self.operations if op.kind == "season"]
        return seasons[-1] if seasons else None


@dataclass(frozen=True)
class ScenarioSpec:
    """A parsed scenario file.

    Attributes
    ----------
    base : path of the base config
    overrides : config overrides for every scenario ("section.key=value")
    mode : "steady" (sparse steady state per season) or "run" (time marching, [run] of the base)
    seasons : seasons of steady cases (None: the base config's)
    spinup_days : leading days of a run left out of the evaluation [days]
    pass_share : area share within the target class needed to pass (see `evaluate`)
    steady_tolerance, steady_max_iterations : stopping rule of `Model.steady_state` (relative
        change per defect-correction iteration [-], most iterations)
    scenarios : the baseline first, then the file's scenarios
    """

    base: Path
    scenarios: tuple[Scenario, ...]
    path: Path | None = None
    title: str = ""
    overrides: tuple[str, ...] = ()
    mode: str = "steady"
    seasons: tuple[str | None, ...] = (None,)
    spinup_days: float = 0.0
    pass_share: float = 1.0
    steady_tolerance: float = 1e-10
    steady_max_iterations: int = 1000
    text: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "<scenarios>"


@dataclass(frozen=True)
class Case:
    """One scenario in one season: an independent task."""

    label: str
    scenario: Scenario
    season: str | None
    season_label: str


def read_toml_file(
    path: str | os.PathLike, *, error: type[Exception] | None = None, what: str = "scenario"
) -> tuple[dict, str, Path]:
    """(parsed mapping, text, path) of a TOML file; a missing or malformed file raises ``error``."""
    error = ScenarioError if error is None else error
    raw, text = read_toml(
        path, error=error, missing=f"{what} file not found", invalid="malformed TOML"
    )
    return raw, text, Path(path)


def load_spec(path: str | os.PathLike) -> ScenarioSpec:
    """Read and validate a scenario file (the base path resolves against its folder)."""
    raw, text, path = read_toml_file(path)
    return parse_spec(raw, path=path, text=text)


def parse_spec(raw: Mapping, *, path: Path | None = None, text: str = "") -> ScenarioSpec:
    """Validate a parsed scenario mapping (see the module docstring)."""
    where = str(path) if path else "<scenarios>"
    _unknown_keys(where, "the top level", raw, _TOP_KEYS)
    base = raw.get("base")
    if not isinstance(base, str) or not base:
        raise ScenarioError(
            f'{where}: base must name the base config, e.g. base = "../beibu_gulf.toml", '
            f"found {base!r}"
        )
    folder = path.parent if path else Path.cwd()
    base_path = (folder / base).resolve() if not Path(base).is_absolute() else Path(base)
    if not base_path.is_file():
        raise ScenarioError(f"{where}: base = {base!r}: no such config file ({base_path})")
    run = raw.get("run", {})
    if not isinstance(run, dict):
        raise ScenarioError(f"{where}: [run] must be a table, found {type(run).__name__}")
    _unknown_keys(where, "[run]", run, _RUN_KEYS)
    mode = run.get("mode", "steady")
    if mode not in MODES:
        raise ScenarioError(f"{where}: run.mode must be one of {list(MODES)}, found {mode!r}")
    seasons = _seasons(where, run.get("seasons"))
    if mode == "run" and "seasons" in run:
        raise ScenarioError(
            f"{where}: run.seasons applies to steady cases; a time-marching run follows the "
            'base config\'s flow.season (change it with a scenario op = "season")'
        )
    spinup = _number(where, "run.spinup_days", run.get("spinup_days", 0.0), minimum=0.0)
    pass_share = _number(where, "run.pass_share", run.get("pass_share", 1.0), minimum=0.0)
    if pass_share > 1.0:
        raise ScenarioError(f"{where}: run.pass_share must lie in [0, 1], found {pass_share}")
    tolerance = _number(
        where, "run.steady_tolerance", run.get("steady_tolerance", 1e-10), minimum=0.0
    )
    iterations = run.get("steady_max_iterations", 1000)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ScenarioError(
            f"{where}: run.steady_max_iterations must be an integer >= 1, found {iterations!r}"
        )
    overrides = _string_list(where, "set", raw.get("set", []))
    entries = raw.get("scenario", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ScenarioError(f"{where}: [[scenario]] must be an array of tables")
    scenarios = [Scenario(BASELINE, description="the base config unchanged")]
    for index, entry in enumerate(entries):
        scenario = _scenario(where, index, entry)
        if scenario.name in {s.name for s in scenarios}:
            hint = " (the baseline is added automatically)" if scenario.name == BASELINE else ""
            raise ScenarioError(
                f"{where}: scenario[{index}] name {scenario.name!r} is used twice{hint}"
            )
        if scenario.season is not None and len(seasons) > 1:
            raise ScenarioError(
                f"{where}: scenario {scenario.name!r} sets a season, but run.seasons lists "
                f"{len(seasons)}; a season operation needs a single-season file"
            )
        scenarios.append(scenario)
    return ScenarioSpec(
        base=base_path,
        scenarios=tuple(scenarios),
        path=path,
        title=_text(where, "title", raw.get("title", "")),
        overrides=tuple(overrides),
        mode=mode,
        seasons=seasons,
        spinup_days=spinup,
        pass_share=pass_share,
        steady_tolerance=tolerance,
        steady_max_iterations=iterations,
        text=text,
    )


def _scenario(where: str, index: int, entry: Mapping) -> Scenario:
    name = entry.get("name")
    label = f"scenario[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
    _unknown_keys(where, label, entry, _SCENARIO_KEYS)
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError(f"{where}: {label}: name must be a non-empty string, found {name!r}")
    ops = entry.get("operations", [])
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise ScenarioError(
            f"{where}: {label}: operations must be a list of tables, e.g. "
            'operations = [{op = "scale", group = "all", factor = 0.7}]'
        )
    return Scenario(
        name=name.strip(),
        operations=tuple(
            parse_operation(f"{where}: scenario {name!r} operations[{k}]", op)
            for k, op in enumerate(ops)
        ),
        description=_text(where, f"{label}.description", entry.get("description", "")),
        basis=_text(where, f"{label}.basis", entry.get("basis", "")),
    )


def parse_operation(where: str, raw: Mapping) -> Operation:
    """A validated `Operation` from a table with an ``op`` key; ``where`` prefixes errors."""
    kind = raw.get("op")
    if kind not in OPERATION_KEYS:
        close = difflib.get_close_matches(str(kind), OPERATION_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(
            f"{where}: op must be one of {list(OPERATION_KEYS)}, found {kind!r}{hint}"
        )
    where = f"{where} (op = {kind!r})"
    params = {k: v for k, v in raw.items() if k != "op"}
    _unknown_keys(where, "the operation", params, OPERATION_KEYS[kind])
    check = {
        "scale": _check_scale,
        "remove": _check_selector,
        "add_outfall": _check_add_outfall,
        "move": _check_move,
        "season": _check_season,
        "decay": _check_decay,
        "set": _check_set,
    }[kind]
    check(where, params)
    return Operation(kind, params, where)


def _check_selector(where: str, params: Mapping) -> None:
    if ("source" in params) == ("group" in params):
        raise ScenarioError(
            f"{where}: give exactly one of source (a name or list of names) "
            'and group ("all" or {province = ..., kind = ...})'
        )
    if "source" in params:
        _string_list(where, "source", params["source"], single_ok=True)
        return
    group = params["group"]
    if group == "all":
        return
    if not isinstance(group, dict) or not group:
        raise ScenarioError(
            f'{where}: group must be "all" or a table like {{province = '
            f'"Guangxi", kind = "river"}}, found {group!r}'
        )
    _unknown_keys(where, "group", group, ("province", "kind"))
    for key, value in group.items():
        values = _string_list(where, f"group.{key}", value, single_ok=True)
        if key == "kind":
            for kind in values:
                if kind not in KINDS:
                    raise ScenarioError(
                        f"{where}: group.kind must be one of {list(KINDS)}, found {kind!r}"
                    )


def _check_scale(where: str, params: Mapping) -> None:
    _check_selector(where, params)
    if "factor" not in params:
        raise ScenarioError(f"{where}: missing key 'factor' (multiplier on the loads, >= 0)")
    _number(where, "factor", params["factor"], minimum=0.0)
    if "tracer" in params:
        _string_list(where, "tracer", params["tracer"], single_ok=True)


def _check_position(where: str, params: Mapping) -> None:
    geo = "lon" in params or "lat" in params
    xy = "x_m" in params or "y_m" in params
    if geo == xy:
        raise ScenarioError(
            f"{where}: give the position as lon and lat (degrees) or as x_m and "
            "y_m (metres, cartesian grids)"
        )
    for key in ("lon", "lat") if geo else ("x_m", "y_m"):
        if key not in params:
            raise ScenarioError(f"{where}: missing key {key!r}")
        _number(where, key, params[key])


def _check_add_outfall(where: str, params: Mapping) -> None:
    _text(where, "name", params.get("name"), required=True)
    _check_position(where, params)
    if "loads_t_per_yr" not in params and "loads_g_per_s" not in params:
        raise ScenarioError(
            f"{where}: give loads_t_per_yr (or loads_g_per_s), e.g. "
            "loads_t_per_yr = {DIN = 100.0, COD = 200.0}"
        )
    for key in ("loads_t_per_yr", "loads_g_per_s"):
        table = params.get(key, {})
        if not isinstance(table, dict):
            raise ScenarioError(
                f"{where}: {key} must be a table {{tracer = load}}, found {table!r}"
            )
        for tracer, value in table.items():
            _number(where, f"{key}.{tracer}", value, minimum=0.0)
    _number(where, "discharge_m3_per_s", params.get("discharge_m3_per_s", 0.0), minimum=0.0)
    _text(where, "province", params.get("province", ""))


def _check_move(where: str, params: Mapping) -> None:
    if not isinstance(params.get("source"), str):
        raise ScenarioError(f"{where}: source must name one source, found {params.get('source')!r}")
    _check_position(where, params)


def _check_season(where: str, params: Mapping) -> None:
    season = params.get("season")
    if season not in SEASONS:
        raise ScenarioError(f"{where}: season must be one of {list(SEASONS)}, found {season!r}")


def _check_decay(where: str, params: Mapping) -> None:
    if "tracer" not in params:
        raise ScenarioError(f"{where}: missing key 'tracer'")
    _string_list(where, "tracer", params["tracer"], single_ok=True)
    if ("decay_per_day" in params) == ("factor" in params):
        raise ScenarioError(
            f"{where}: give exactly one of decay_per_day (new rate [1/day]) and "
            "factor (multiplier on the base rate)"
        )
    for key in ("decay_per_day", "factor"):
        if key in params:
            _number(where, key, params[key], minimum=0.0)


def _check_set(where: str, params: Mapping) -> None:
    if "values" not in params:
        raise ScenarioError(
            f"{where}: missing key 'values', e.g. values = [\"flow.strait_transport_scale=1.5\"]"
        )
    for item in _string_list(where, "values", params["values"]):
        if "=" not in item:
            raise ScenarioError(f"{where}: values entry {item!r} must read section.key=value")


# ----------------------------------------------------------------------------- small checks
def _unknown_keys(where: str, label: str, table: Mapping, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(
                f"{where}: unknown key {key!r} in {label}{hint} (valid keys: {', '.join(allowed)})"
            )


def _number(where: str, key: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: {key} must be a finite number, found {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: {key} must be >= {minimum:g}, found {value!r}")
    return float(value)


def _text(where: str, key: str, value: Any, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        need = "a non-empty string" if required else "a string"
        raise ScenarioError(f"{where}: {key} must be {need}, found {value!r}")
    return value


def _string_list(where: str, key: str, value: Any, *, single_ok: bool = False) -> list[str]:
    if single_ok and isinstance(value, str):
        return [value]
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) for v in value)
        or (single_ok and not value)
    ):
        expected = "a string or a non-empty list of strings" if single_ok else "a list of strings"
        raise ScenarioError(f"{where}: {key} must be {expected}, found {value!r}")
    return list(value)


def _seasons(where: str, value: Any) -> tuple[str | None, ...]:
    if value is None:
        return (None,)
    seasons = _string_list(where, "run.seasons", value)
    if not seasons:
        raise ScenarioError(f"{where}: run.seasons must list at least one season")
    for season in seasons:
        if season not in SEASONS:
            raise ScenarioError(
                f"{where}: run.seasons has {season!r}; expected some of {list(SEASONS)}"
            )
    if len(set(seasons)) != len(seasons):
        raise ScenarioError(f"{where}: run.seasons lists a season twice: {seasons}")
    return tuple(seasons)


# ----------------------------------------------------------------------------- configs
def scenario_config(spec: ScenarioSpec, scenario: Scenario) -> Config:
    """The base config with the file's and the scenario's overrides (``set`` and ``decay``)."""
    base = _load(spec, scenario, spec.overrides)
    overrides = list(spec.overrides)
    for op in scenario.operations:
        if op.kind == "set":
            overrides += op.params["values"]
        elif op.kind == "decay":
            for tracer in _tracer_names(op, base.tracers, op.params["tracer"]):
                rate = op.params.get("decay_per_day")
                if rate is None:
                    rate = float(base.tracers[tracer]["decay_per_day"]) * op.params["factor"]
                overrides.append(f"tracers.{tracer}.decay_per_day={float(rate)!r}")
    return _load(spec, scenario, tuple(overrides))


def _load(spec: ScenarioSpec, scenario: Scenario, overrides: tuple[str, ...] | list[str]):
    try:
        return load_config(spec.base, tuple(overrides))
    except ConfigError as err:
        raise ScenarioError(f"{spec.where}: scenario {scenario.name!r}: {err}") from None


def _tracer_names(op: Operation, tracers: Mapping, value) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if name not in tracers:
            raise ScenarioError(_no_such(op.where, "tracer", name, list(tracers)))
    return names


def _no_such(where: str, what: str, name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{where}: no {what} {name!r}{hint} (known: {', '.join(valid)})"


def default_season(config: Config, *, steady: bool) -> str:
    """The season a case runs in when none is asked for (a label for tables)."""
    if config["flow"]["kind"] != "circulation":
        return "annual"
    season = config["flow"]["season"]
    return "annual" if steady and season == "seasonal" else season


# ----------------------------------------------------------------------------- operations
def source_kind(source: PointSource) -> str:
    """ "river" or "outfall": from the source's groups, else river when it has a discharge."""
    for kind in KINDS:
        if kind in source.groups:
            return kind
    return "river" if source.discharge > 0 else "outfall"


def select(op: Operation, *, sources: Sequence[PointSource]) -> list[int]:
    """Indices of the sources an operation's ``source`` or ``group`` chooses (never empty)."""
    names = [s.name for s in sources]
    if "source" in op.params:
        wanted = op.params["source"]
        wanted = [wanted] if isinstance(wanted, str) else wanted
        for name in wanted:
            if name not in names:
                raise ScenarioError(_no_such(op.where, "source", name, names))
        return [k for k, s in enumerate(sources) if s.name in wanted]
    group = op.params["group"]
    if group == "all":
        chosen = list(range(len(sources)))
    else:
        labels = sorted({g for s in sources for g in s.groups[:1]})
        provinces = group.get("province")
        provinces = [provinces] if isinstance(provinces, str) else provinces
        for province in provinces or ():
            if province not in labels:
                raise ScenarioError(_no_such(op.where, "province", province, labels or ["none"]))
        kinds = group.get("kind")
        kinds = [kinds] if isinstance(kinds, str) else kinds
        chosen = [
            k
            for k, s in enumerate(sources)
            if (not provinces or set(provinces) & set(s.groups))
            and (not kinds or source_kind(s) in kinds)
        ]
    if not chosen:
        raise ScenarioError(f"{op.where}: group {group!r} matches no source")
    return chosen


def apply_operations(
    sources: Sequence[PointSource],
    *,
    operations: Sequence[Operation],
    grid,
    tracers: Sequence[str],
    snap: bool = True,
) -> list[PointSource]:
    """The sources after the operations, in order (``season``/``decay``/``set`` act on the config).

    Raises ScenarioError naming the operation for unknown sources, provinces or tracers, and for
    a new position on land with no sea cell within the snapping distance.
    """
    out = list(sources)
    for op in operations:
        if op.kind == "scale":
            chosen = op.params.get("tracer", list(tracers))
            names = _tracer_names(op, dict.fromkeys(tracers), chosen)
            factor = float(op.params["factor"])
            for k in select(op, sources=out):
                loads = {t: v * factor if t in names else v for t, v in out[k].loads.items()}
                out[k] = replace(out[k], loads=loads)
        elif op.kind == "remove":
            gone = set(select(op, sources=out))
            out = [s for k, s in enumerate(out) if k not in gone]
        elif op.kind == "move":
            (k,) = select(op, sources=out)
            out[k] = _placed(op, replace(out[k], x=_x(op, grid), y=_y(op, grid)), grid)
        elif op.kind == "add_outfall":
            out.append(_new_outfall(op, out, grid=grid, tracers=tracers, snap=snap))
    return out


def _x(op: Operation, grid) -> float:
    _check_grid_kind(op, grid)
    return float(op.params["lon"] if grid.geographic else op.params["x_m"])


def _y(op: Operation, grid) -> float:
    return float(op.params["lat"] if grid.geographic else op.params["y_m"])


def _check_grid_kind(op: Operation, grid) -> None:
    if grid.geographic and "lon" not in op.params:
        raise ScenarioError(f"{op.where}: the grid is lon/lat; give lon and lat, not x_m/y_m")
    if not grid.geographic and "x_m" not in op.params:
        raise ScenarioError(f"{op.where}: the grid is cartesian; give x_m and y_m, not lon/lat")


def _placed(op: Operation, source: PointSource, grid) -> PointSource:
    """The source at the centre of its receiving wet cell; ScenarioError if it cannot be placed."""
    try:
        j, i = source.locate(grid)
    except SourceError as err:
        raise ScenarioError(f"{op.where}: {err}") from None
    return replace(source, x=float(grid.x_centre[i]), y=float(grid.y_centre[j]))


def _new_outfall(op, sources, *, grid, tracers, snap: bool) -> PointSource:
    p = op.params
    if p["name"] in {s.name for s in sources}:
        raise ScenarioError(f"{op.where}: a source named {p['name']!r} already exists")
    loads = {t: float(v) for t, v in p.get("loads_g_per_s", {}).items()}
    for tracer, value in p.get("loads_t_per_yr", {}).items():
        loads[tracer] = loads.get(tracer, 0.0) + float(value) * TONNE_PER_YEAR
    _tracer_names(op, dict.fromkeys(tracers), list(loads))
    source = PointSource(
        p["name"],
        x=_x(op, grid),
        y=_y(op, grid),
        loads=loads,
        discharge=float(p.get("discharge_m3_per_s", 0.0)),
        groups=(p.get("province", ""), "outfall", p["name"]),
        snap=snap,
    )
    return _placed(op, source, grid)


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
    else:
        ds = model.run(**setup.run_options)
        if model.statistics.region_budget:  # the monitored region's (the gulf proper's) budget
            ds.attrs["gulf_proper_budget"] = json.dumps(model.statistics.region_budget)
    ds.attrs["wall_seconds"] = wallclock.perf_counter() - t0
    log.info("solved %s in %.2f s", case.label, ds.attrs["wall_seconds"])
    return ds


# ----------------------------------------------------------------------------- running
def run_scenarios(
    spec: ScenarioSpec | str | os.PathLike,
    *,
    zones=None,
    executor: Any = None,
    retries: int = 2,
    progress=None,
) -> xr.Dataset:
    """Solve every scenario of a file and compare them zone by zone.

    Parameters
    ----------
    spec : a scenario file or a parsed `ScenarioSpec`
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
    """
    if not isinstance(spec, ScenarioSpec):
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
    return _combine(spec, cases, fields, zones)


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


def default_zones(ds: xr.Dataset):
    """None (the shipped zones) on lon/lat grids; a whole-domain Class II zone otherwise."""
    if ds.attrs.get("geographic"):
        return None
    wet = ds["wet"].values != 0
    return [
        Zone(
            key="domain",
            mask=wet,
            target_class=2,
            name="whole domain",
            source="bbw_bay.control.scenarios: every wet cell (no zones given)",
        )
    ]


def evaluated_field(ds: xr.Dataset, *, spinup_days: float = 0.0) -> xr.Dataset:
    """The part of a case that is evaluated: records after the spin-up for runs [days]."""
    if "time" not in ds.dims or spinup_days <= 0:
        return ds
    keep = ds["time"].values >= ds["time"].values[0] + spinup_days * DAY
    if not keep.any():
        raise ScenarioError(f"run.spinup_days = {spinup_days} leaves no output record")
    return ds.isel(time=np.nonzero(keep)[0])


def _combine(spec: ScenarioSpec, cases: list[Case], fields: list[xr.Dataset], zones):
    first = fields[0]
    tracers = [v for v in first.data_vars if v not in ("depth", "cell_area", "wet")]
    zones = default_zones(first) if zones is None else zones
    results = [
        evaluate(
            evaluated_field(ds, spinup_days=spec.spinup_days),
            zones=zones,
            pass_share=spec.pass_share,
        )
        for ds in fields
    ]
    labels = [c.label for c in cases]
    stats = xr.concat(
        results, dim="scenario", data_vars="all", coords="minimal", compat="override", join="exact"
    )
    stats = stats.assign_coords(scenario=labels)
    baseline = [_baseline_index(cases, c) for c in cases]
    for name in DELTA_STATISTICS:
        delta = stats[name] - stats[name].isel(scenario=baseline).values
        stats[f"delta_{name}"] = delta
        stats[f"delta_{name}"].attrs.update(
            units=stats[name].attrs.get("units", ""),
            long_name=f"{name} minus the baseline's (same season)",
        )
    out = first[["depth", "cell_area", "wet"]].copy()
    for tracer in tracers:
        out[tracer] = xr.concat([ds[tracer] for ds in fields], dim="scenario")
        out[tracer].attrs.update(first[tracer].attrs)
    out = xr.merge(
        [out.assign_coords(scenario=labels), stats], compat="override", combine_attrs="override"
    )
    out = out.assign_coords(
        scenario_name=("scenario", [c.scenario.name for c in cases]),
        season=("scenario", [c.season_label for c in cases]),
        description=("scenario", [c.scenario.description for c in cases]),
    )
    out["steady_iterations"] = (
        "scenario",
        [int(ds.attrs.get("steady_iterations", 0)) for ds in fields],
    )
    out["wall_seconds"] = (
        "scenario",
        [float(ds.attrs.get("wall_seconds", np.nan)) for ds in fields],
    )
    out["wall_seconds"].attrs["units"] = "s"
    out.attrs = {**first.attrs, **results[0].attrs}
    budgets = {
        c.label: json.loads(ds.attrs.get("mass_budget", "{}"))
        for c, ds in zip(cases, fields, strict=True)
    }
    add_provenance(out, config_text=load_config(spec.base).text, budget=budgets)
    regions = {
        c.label: json.loads(ds.attrs["gulf_proper_budget"])
        for c, ds in zip(cases, fields, strict=True)
        if "gulf_proper_budget" in ds.attrs
    }
    out.attrs.pop("gulf_proper_budget", None)
    if regions:  # per case, as the mass budgets
        out.attrs["gulf_proper_budget"] = json.dumps(regions)
    out.attrs.update(
        {
            "title": spec.title or f"bbw_bay scenarios from {spec.where}",
            "scenario_file": spec.where,
            "scenario_spec": spec.text,
            "scenario_mode": spec.mode,
            "pass_share": spec.pass_share,
            "spinup_days": spec.spinup_days,
        }
    )
    for key in ("steady_iterations", "wall_seconds"):
        out.attrs.pop(key, None)
    return out


def _baseline_index(cases: list[Case], case: Case) -> int:
    """The baseline case of the same season (the only baseline for a season operation)."""
    baselines = [k for k, c in enumerate(cases) if c.scenario.name == BASELINE]
    if case.scenario.season is not None:
        return baselines[0]
    return next(k for k in baselines if cases[k].season == case.season)


# ----------------------------------------------------------------------------- reporting
def comparison_rows(ds: xr.Dataset) -> list[dict[str, Any]]:
    """One dict per scenario, zone and tracer (plus "worst", the overall single factor)."""
    rows = []
    for zone in ds["zone"].values:
        for label in ds["scenario"].values:
            r = ds.sel(zone=zone, scenario=label)
            common = {
                "scenario": str(label),
                "scenario_name": str(r["scenario_name"].item()),
                "season": str(r["season"].item()),
                "zone": str(zone),
                "zone_name": str(r["zone_name"].item()),
                "target_class": int(r["target_class"]),
            }
            rows.append(
                {
                    **common,
                    "tracer": "worst",
                    "good_share": float(r["overall_good_share"]),
                    "delta_good_share": float(r["delta_overall_good_share"]),
                    "target_share": float(r["overall_target_share"]),
                    "passes": bool(r["overall_passes"]),
                    **dict.fromkeys(
                        ("p95", "delta_p95", "max", "delta_max", "mean", "delta_mean"), math.nan
                    ),
                }
            )
            for tracer in ds["tracer"].values:
                s = r.sel(tracer=tracer)
                rows.append(
                    {
                        **common,
                        "tracer": str(tracer),
                        **{
                            k: float(s[k])
                            for k in (
                                "good_share",
                                "delta_good_share",
                                "target_share",
                                "p95",
                                "delta_p95",
                                "max",
                                "delta_max",
                                "mean",
                                "delta_mean",
                            )
                        },
                        "passes": bool(s["passes"]),
                    }
                )
    return rows


def comparison_table(ds: xr.Dataset, *, tracers: Sequence[str] | None = None) -> str:
    """Plain-text table, one line per zone and scenario: target class, Class I+II share of the
    worst single factor [%], its change from the baseline [percentage points], pass/fail, and
    per tracer "p95/max (change of p95 from the baseline [%])" [mg/L]."""
    tracers = list(ds["tracer"].values) if tracers is None else list(tracers)
    head = ["zone", "scenario", "tgt", "I+II%", "Δpp", "result"]
    head += [f"{t} p95/max (Δp95)" for t in tracers]
    lines = []
    for zone in ds["zone"].values:
        for label in ds["scenario"].values:
            r = ds.sel(zone=zone, scenario=label)
            line = [
                str(zone),
                str(label),
                str(int(r["target_class"])),
                _pct(float(r["overall_good_share"])),
                _signed(100.0 * float(r["delta_overall_good_share"])),
                "PASS" if bool(r["overall_passes"]) else "FAIL",
            ]
            for t in tracers:
                s = r.sel(tracer=t)
                p95, delta = float(s["p95"]), float(s["delta_p95"])
                base = p95 - delta
                change = _signed(100.0 * delta / base) + "%" if base > 0 else "-"
                line.append(f"{_num(p95)}/{_num(float(s['max']))} ({change})")
            lines.append(line)
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if k < 2 else f"{{:>{w}}}" for k, w in enumerate(widths))
    title = (
        f"scenarios vs baseline ({ds.attrs.get('scenario_mode', 'steady')}): GB 3097 "
        f"Class I+II area share of the worst single factor; pass = share within the "
        f"zone's target >= {ds.attrs.get('pass_share', 1.0):g}; p95, max in mg/L"
    )
    rule = "-" * len(fmt.format(*head))
    return "\n".join([title, fmt.format(*head), rule, *(fmt.format(*line) for line in lines)])


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100.0 * x:.1f}"


def _signed(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return "±0" if abs(x) < 0.05 else f"{x:+.1f}"


def _num(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.3g}"


def to_csv(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `comparison_rows` as CSV (UTF-8); shares are fractions, concentrations mg/L."""
    path = Path(path)
    rows = comparison_rows(ds)
    header = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_csv_value(row[k]) for k in header])
    return path


def _csv_value(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value
