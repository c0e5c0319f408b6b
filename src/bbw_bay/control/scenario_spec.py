"""Scenario files: parsing and validating the TOML spec of load-control scenarios.

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

The baseline (no operation) is always the first scenario. This module checks the file on its
own (keys, types, ranges); `bbw_bay.control.scenarios.plan` checks it against the base config
(sources, tracers, positions) before anything is solved.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bbw_bay.core.config import MAX_DURATION_DAYS
from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.gulf.data import read_toml
from bbw_bay.units import SEASONS_AND_ANNUAL

#: "evaluation": the run `bbw-bay run` makes (Simulation.from_config: spin-up computed, not
#: written; time-mean records), so a case passes or fails as run + evaluate would judge it.
MODES = ("steady", "run", "evaluation")
#: Most defect-correction iterations of a steady case (1000 is the default; the slowest
#: members of the shipped ensemble need ~1000 at tolerance 1e-10).
MAX_STEADY_ITERATIONS = 100_000
KINDS = ("river", "outfall")
BASELINE = "baseline"
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
    mode : "steady" (sparse steady state per season), "run" (time marching, [run] of the base)
        or "evaluation" (the run of `bbw-bay run`: spin-up not written, time-mean records)
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


def load_spec(path: str | os.PathLike) -> ScenarioSpec:
    """Read and validate a scenario file (the base path resolves against its folder)."""
    raw, text = read_toml(
        path, error=ScenarioError, missing="scenario file not found", invalid="malformed TOML"
    )
    return parse_spec(raw, path=Path(path), text=text)


def parse_spec(raw: Mapping, *, path: Path | None = None, text: str = "") -> ScenarioSpec:
    """Validate a parsed scenario mapping (see the module docstring)."""
    where = str(path) if path else "<scenarios>"
    unknown_keys(where, "the top level", raw, _TOP_KEYS)
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
    unknown_keys(where, "[run]", run, _RUN_KEYS)
    mode = run.get("mode", "steady")
    if mode not in MODES:
        raise ScenarioError(f"{where}: run.mode must be one of {list(MODES)}, found {mode!r}")
    seasons = _seasons(where, run.get("seasons"))
    if mode != "steady" and "seasons" in run:
        raise ScenarioError(
            f"{where}: run.seasons applies to steady cases; a time-marching run follows the "
            'base config\'s flow.season (change it with a scenario op = "season")'
        )
    spinup = _number(where, "run.spinup_days", run.get("spinup_days", 0.0), minimum=0.0)
    if spinup > MAX_DURATION_DAYS:
        raise ScenarioError(
            f"{where}: run.spinup_days must be <= {MAX_DURATION_DAYS:g} [days], found {spinup!r}"
        )
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
    if iterations > MAX_STEADY_ITERATIONS:
        raise ScenarioError(
            f"{where}: run.steady_max_iterations must be <= {MAX_STEADY_ITERATIONS:,}, found "
            f"{iterations!r}"
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
    unknown_keys(where, label, entry, _SCENARIO_KEYS)
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
        raise ScenarioError(
            f"{where}: op must be one of {list(OPERATION_KEYS)}, found {kind!r}"
            + did_you_mean(str(kind), OPERATION_KEYS)
        )
    where = f"{where} (op = {kind!r})"
    params = {k: v for k, v in raw.items() if k != "op"}
    unknown_keys(where, "the operation", params, OPERATION_KEYS[kind])
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
    unknown_keys(where, "group", group, ("province", "kind"))
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
    if season not in SEASONS_AND_ANNUAL:
        raise ScenarioError(
            f"{where}: season must be one of {list(SEASONS_AND_ANNUAL)}, found {season!r}"
            + did_you_mean(str(season), SEASONS_AND_ANNUAL)
        )


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
def unknown_keys(
    where: str,
    label: str,
    table: Mapping,
    allowed: Sequence[str],
    *,
    error: type[BadInputError] = ScenarioError,
) -> None:
    """Raise ``error`` naming the file, the table and the valid keys for a key not in
    ``allowed`` (with the closest valid key)."""
    for key in table:
        if key not in allowed:
            raise error(
                f"{where}: unknown key {key!r} in {label}{did_you_mean(str(key), allowed)}; "
                f"valid keys: {', '.join(allowed)}"
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
        if season not in SEASONS_AND_ANNUAL:
            raise ScenarioError(
                f"{where}: run.seasons has {season!r}; expected some of "
                f"{list(SEASONS_AND_ANNUAL)}" + did_you_mean(season, SEASONS_AND_ANNUAL)
            )
    if len(set(seasons)) != len(seasons):
        raise ScenarioError(f"{where}: run.seasons lists a season twice: {seasons}")
    return tuple(seasons)


__all__ = [
    "BASELINE",
    "KINDS",
    "MODES",
    "OPERATION_KEYS",
    "Case",
    "Operation",
    "Scenario",
    "ScenarioError",
    "ScenarioSpec",
    "load_spec",
    "parse_operation",
    "parse_spec",
    "unknown_keys",
]
