"""Scenario operations: the config and the sources of a scenario, from its operations.

`scenario_config` applies the config-level operations (``set``, ``decay``) to the base config;
`apply_operations` applies the source-level ones (``scale``, ``remove``, ``move``,
``add_outfall``) to the baseline's sources, in order. Sources from a source table carry their
province and kind; inline ``[[source]]`` entries of a config have no province and count as
rivers when they have a discharge, outfalls otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bbw_bay.control.scenario_spec import KINDS, Operation, Scenario, ScenarioError, ScenarioSpec
from bbw_bay.core.config import Config, ConfigError, load_config
from bbw_bay.core.inputs import source_key
from bbw_bay.core.sources import PointSource, SourceError
from bbw_bay.errors import unknown_name
from bbw_bay.units import TONNE_PER_YEAR


def scenario_config(spec: ScenarioSpec, scenario: Scenario) -> Config:
    """The base config with the file's and the scenario's overrides (``set`` and ``decay``).

    Raises ScenarioError for a scenario whose overrides change the grid (every case of a file
    is compared cell by cell and zone by zone on the base config's grid), and for seasons
    (``season`` operations, run.seasons) on a config where a season changes nothing (no
    built-in circulation, no seasonal "file" background).
    """
    base = _load(spec, scenario, spec.overrides)
    _check_seasons(spec, scenario, base)
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
    config = _load(spec, scenario, tuple(overrides))
    if dict(config["grid"]) != dict(base["grid"]):
        changed = [k for k in config["grid"] if config["grid"][k] != base["grid"][k]]
        raise ScenarioError(
            f"{spec.where}: scenario {scenario.name!r}: its set operation changes the grid ("
            + ", ".join(
                f"grid.{k} = {config['grid'][k]!r}, base {base['grid'][k]!r}" for k in changed
            )
            + "); every scenario of a file is compared on the base config's grid, so set the "
            "grid in the base config or in the file's top-level set"
        )
    return config


def _check_seasons(spec: ScenarioSpec, scenario: Scenario, base: Config) -> None:
    """A season must change something: the built-in circulation or a seasonal background."""
    asked = [op.where for op in scenario.operations if op.kind == "season"]
    if spec.seasons != (None,):
        asked.append(f"{spec.where}: run.seasons = {list(spec.seasons)}")
    seasonal_background = any(t["background_mg_per_l"] == "file" for t in base.tracers.values())
    if asked and base["flow"]["kind"] != "circulation" and not seasonal_background:
        raise ScenarioError(
            f"{asked[0]}: a season changes nothing on the base config {spec.base} (flow.kind = "
            f'{base["flow"]["kind"]!r}, no tracer with background_mg_per_l = "file"); seasons '
            'apply to the built-in circulation (flow.kind = "circulation") and the seasonal '
            "open-boundary background"
        )


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
    return f"{where}: {unknown_name(what, name, valid)}"


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
                out[k] = _bounded(op, out[k], loads=loads)
        elif op.kind == "remove":
            gone = set(select(op, sources=out))
            out = [s for k, s in enumerate(out) if k not in gone]
        elif op.kind == "move":
            (k,) = select(op, sources=out)
            out[k] = _placed(op, replace(out[k], x=_x(op, grid), y=_y(op, grid)), grid)
        elif op.kind == "add_outfall":
            out.append(_new_outfall(op, out, grid=grid, tracers=tracers, snap=snap))
    return out


def _bounded(op: Operation, source: PointSource, **changes) -> PointSource:
    """``replace(source, **changes)``; the sources' bounds (loads, discharge) name the operation."""
    try:
        return replace(source, **changes)
    except SourceError as err:
        raise ScenarioError(f"{op.where}: {err}") from None


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
    same = [s.name for s in sources if source_key(s.name) == source_key(p["name"])]
    if same:
        what = "named" if same[0] == p["name"] else f"with the same label as {p['name']!r},"
        raise ScenarioError(
            f"{op.where}: a source {what} {same[0]!r} already exists (names that differ only in "
            "case, spaces or punctuation share one tag); choose another name"
        )
    loads = {t: float(v) for t, v in p.get("loads_g_per_s", {}).items()}
    for tracer, value in p.get("loads_t_per_yr", {}).items():
        loads[tracer] = loads.get(tracer, 0.0) + float(value) * TONNE_PER_YEAR
    _tracer_names(op, dict.fromkeys(tracers), list(loads))
    source = PointSource(
        p["name"],
        x=_x(op, grid),
        y=_y(op, grid),
        groups=(p.get("province", ""), "outfall", p["name"]),
        snap=snap,
        geographic=grid.geographic,
    )
    source = _bounded(op, source, loads=loads, discharge=float(p.get("discharge_m3_per_s", 0.0)))
    return _placed(op, source, grid)


__all__ = ["apply_operations", "default_season", "scenario_config", "select", "source_kind"]
