"""TOML configuration -> validated, frozen settings. Units live in key names; SI after loading.

One table describes every key: section, name, type, default, description. Unknown keys are errors
that name close matches; every error names the file, the key and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import logging
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bbw_bay.errors import BadInputError
from bbw_bay.units import TONNE_PER_YEAR

log = logging.getLogger(__name__)

#: Sentinel for keys without a default (required when their section is used).
REQUIRED = object()
#: Largest load [t/yr] of one tracer from one source that is taken as real rather than a typo or
#: a unit slip (kg/yr written as t/yr is ×1000). The largest single inputs on Earth stay below it:
#: the Changjiang delivers ~2e6 t/yr DIN and the Amazon ~1e7 t/yr of organic carbon, while the
#: Red River, the Beibu Gulf's largest input, carries ~1e5 t/yr DIN (forcing/LOADS.md).
MAX_LOAD_T_PER_YR = 1.0e7
#: Largest river discharge [m³/s] taken as real: the Amazon's mean is ~2.1e5 m³/s.
MAX_DISCHARGE_M3_PER_S = 3.0e5
#: Most cells a cartesian grid may have: 100 × the 1/60° gulf grid; each tracer field is then
#: 160 MB, and a larger count is almost surely a unit slip in nx/ny.
MAX_CELLS = 20_000_000
#: Sanity bounds that turn unit slips into errors instead of endless or overflowing runs:
#: the deepest ocean (Challenger Deep, ~10,935 m);
MAX_DEPTH_M = 11_000.0
#: faster than any ocean current (the strongest tidal races reach ~5 m/s);
MAX_SPEED_M_PER_S = 10.0
#: ocean horizontal diffusivities reach ~1e4 m²/s at 1000 km scales (Okubo 1971);
MAX_DIFFUSIVITY_M2_PER_S = 1.0e5
#: an e-folding time of 86 s, faster than any first-order loss the model represents (sunlit
#: bacterial die-off reaches ~50/day);
MAX_DECAY_PER_DAY = 1000.0
#: 100 g/L, three times sea salt: no dissolved tracer is more concentrated;
MAX_CONCENTRATION_MG_PER_L = 1.0e5
#: a century of model time.
MAX_DURATION_DAYS = 36_525.0
#: Most output records of a run (a year of hourly output is 8,766); every record is kept in memory.
MAX_OUTPUTS = 100_000


@dataclass(frozen=True)
class Key:
    """One configuration key: expected type(s), default and description (with units)."""

    types: tuple[type, ...]
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


NUM = (int, float)
#: The settings table: section -> key -> Key.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "title": Key((str,), "", "a one-line description of the run"),
    },
    "grid": {
        "kind": Key((str,), "cartesian", "grid type", choices=("cartesian", "beibu", "beibu_nest")),
        "nest": Key((str,), "guangxi", "nested bay grid (beibu_nest): guangxi or zhanjiang"),
        "nx": Key((int,), REQUIRED, "cells in x (cartesian)", minimum=1),
        "ny": Key((int,), REQUIRED, "cells in y (cartesian)", minimum=1),
        "dx_m": Key(NUM, REQUIRED, "cell size in x [m] (cartesian)", minimum=1e-9, maximum=1e6),
        "dy_m": Key(NUM, REQUIRED, "cell size in y [m] (cartesian)", minimum=1e-9, maximum=1e6),
        "depth_m": Key(
            NUM, 10.0, "uniform depth [m] (cartesian)", minimum=1e-9, maximum=MAX_DEPTH_M
        ),
        "land": Key((list,), [], "land rectangles [[x0_m, x1_m, y0_m, y1_m], ...] (cartesian)"),
        "open_boundaries": Key((list,), ["south", "east"], "open edges: west/east/south/north"),
        "resolution_deg": Key(
            NUM,
            1.0 / 30.0,
            "grid spacing [degrees] (beibu: whole arc-minutes, 1/60 to 1/2; beibu_nest: whole "
            "multiples of 1/480, 1/480 to 1/60)",
            minimum=1e-9,
        ),
    },
    "flow": {
        "kind": Key(
            (str,), "uniform", "flow type", choices=("uniform", "rivers", "circulation", "dataset")
        ),
        "u_m_per_s": Key(
            NUM,
            0.0,
            "uniform eastward velocity [m/s] (uniform; base of rivers)",
            minimum=-MAX_SPEED_M_PER_S,
            maximum=MAX_SPEED_M_PER_S,
        ),
        "v_m_per_s": Key(
            NUM,
            0.0,
            "uniform northward velocity [m/s] (uniform; base of rivers)",
            minimum=-MAX_SPEED_M_PER_S,
            maximum=MAX_SPEED_M_PER_S,
        ),
        "season": Key(
            (str,),
            "seasonal",
            "circulation season: seasonal (time-varying), annual, winter, spring, summer or autumn",
        ),
        "path": Key((str,), REQUIRED, "currents file, relative to the config (dataset)"),
        "u_name": Key((str,), "", "eastward current variable (dataset; default u or uo)"),
        "v_name": Key((str,), "", "northward current variable (dataset; default v or vo)"),
        "strait_transport_scale": Key(NUM, 1.0, "multiplier on the Qiongzhou Strait transport"),
    },
    "transport": {
        "advection": Key(
            (str,),
            "mc",
            "advection scheme",
            choices=("mc", "upwind", "minmod", "vanleer", "superbee"),
        ),
        "diffusivity_m2_per_s": Key(
            NUM + (str,),
            10.0,
            'horizontal diffusivity [m²/s], or "tidal" (beibu)',
            maximum=MAX_DIFFUSIVITY_M2_PER_S,
        ),
        "tidal_dispersion_scale": Key(
            NUM, 1.0, "multiplier on the tidal dispersion field", minimum=0, maximum=100.0
        ),
        "return_time_days": Key(NUM, 0.0, "Thatcher–Harleman return time [days]", minimum=0),
        "background_mode": Key(
            (str,),
            "boundary",
            'how the background enters: "boundary" (open-boundary inflow concentration, decays '
            'inside like any tracer) or "ambient" (ambient sea level everywhere; the model '
            "carries the land-based excess, zero at the boundaries, and reports background + "
            "excess)",
            choices=("boundary", "ambient"),
        ),
        "dt_s": Key(NUM, 0.0, "time step [s]; 0 = automatic (0.9 × stability bound)", minimum=0),
    },
    "run": {
        "duration_days": Key(
            NUM, 30.0, "length of the run [days]", minimum=1e-12, maximum=MAX_DURATION_DAYS
        ),
        "output_interval_days": Key(NUM, 1.0, "output spacing [days]", minimum=1e-12),
        "start_day_of_year": Key(NUM, 0.0, "start, days after 1 January", minimum=0, maximum=366.0),
        "checkpoint_interval_days": Key(NUM, 0.0, "checkpoint spacing [days]; 0 = off", minimum=0),
        "spinup_days": Key(
            NUM + (str,),
            "auto",
            "days computed before the evaluated period and not written (its mass budget is "
            'reported apart); "auto": one forcing year (365.25) when the flow, loads or '
            "backgrounds vary in time, which settles the seasonal gulf to < 0.1 % "
            "(bbw_bay.core.spinup.AUTO_SPINUP_DAYS), 0 when they are steady",
            minimum=0,
            maximum=MAX_DURATION_DAYS,
        ),
        "initial": Key(
            (str,),
            "background",
            'state the run (its spin-up first) starts from: "background", or "steady": the '
            "steady state of the annual-mean forcing (as bbw-bay steady), settled at once when "
            "the forcing is steady",
            choices=("background", "steady"),
        ),
        "output": Key(
            (str,),
            "mean",
            'output records: "mean", the time mean over each output interval (time_bnds, '
            'cell_methods "time: mean"), or "snapshot", the state at the start and at each '
            "output time",
            choices=("mean", "snapshot"),
        ),
        "water_age": Key(
            (bool,),
            False,
            "also carry land_water (fraction of river/outfall water, mg/L per mg/L) and "
            "land_water_age, giving the mean age since release [days] (CART)",
        ),
        "tag_sources": Key(
            (list,),
            [],
            'tracers to tag by source, e.g. ["DIN"]: one extra tracer "DIN@<source>" per source '
            "carrying that source's contribution (source apportionment of time-varying runs)",
        ),
    },
    "tracers.*": {
        "decay_per_day": Key(
            NUM, 0.0, "first-order decay rate [1/day]", minimum=0, maximum=MAX_DECAY_PER_DAY
        ),
        "background_mg_per_l": Key(
            NUM + (str,),
            0.0,
            'open-boundary background [mg/L], or "file" to take it '
            "from forcing/boundary.toml by season",
            maximum=MAX_CONCENTRATION_MG_PER_L,
        ),
    },
    "sources": {
        "file": Key(
            (str,),
            "",
            'source table (TOML, as forcing/sources.toml); "default" = the '
            "shipped Beibu Gulf sources",
        ),
        "snap_to_sea": Key((bool,), True, "move sources on land to the nearest wet cell (warns)"),
        "load_scale": Key(NUM, 1.0, "multiplier on every load", minimum=0, maximum=1000.0),
    },
    "source.*": {
        "name": Key((str,), REQUIRED, "label"),
        "x_m": Key(NUM, None, "x position [m] (cartesian)"),
        "y_m": Key(NUM, None, "y position [m] (cartesian)"),
        "lon": Key(NUM, None, "longitude [degrees east] (geographic)"),
        "lat": Key(NUM, None, "latitude [degrees north] (geographic)"),
        "discharge_m3_per_s": Key(
            NUM, 0.0, "volume discharge [m³/s]", minimum=0, maximum=MAX_DISCHARGE_M3_PER_S
        ),
        "loads_g_per_s": Key((dict,), {}, "loads per tracer [g/s]"),
        "loads_t_per_yr": Key((dict,), {}, "loads per tracer [t/yr]"),
    },
}


class ConfigError(BadInputError):
    """A configuration file is malformed or holds a wrong key or value."""


@dataclass(frozen=True)
class Config:
    """A validated configuration: sections of SI-annotated values plus its source text."""

    path: Path | None
    sections: MappingProxyType
    tracers: MappingProxyType
    point_sources: tuple[MappingProxyType, ...]
    text: str

    def __getitem__(self, section: str) -> MappingProxyType:
        return self.sections[section]

    @property
    def folder(self) -> Path:
        """Folder of the config file (relative paths in it resolve against this)."""
        return self.path.parent if self.path else Path.cwd()


def shipped_configs() -> dict[str, Path]:
    """{name: path} of the configs that ship in the package (``bbw_bay.configs``)."""
    folder = Path(str(importlib.resources.files("bbw_bay.configs")))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def resolve_config_path(path: str | Path) -> Path:
    """The config file ``path`` names: the file itself when it exists, else a shipped config of
    that name (``beibu_gulf``, ``beibu_gulf.toml`` or ``configs/beibu_gulf.toml``), so the
    README's commands also work from an empty folder with an installed wheel."""
    path = Path(path)
    if path.exists():
        return path
    shipped = shipped_configs()
    parts = path.parts
    if path.stem in shipped and (len(parts) == 1 or parts[:-1] == ("configs",)):
        log.info("%s: not in this folder; using the shipped config %s", path, shipped[path.stem])
        return shipped[path.stem]
    return path


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read and validate a TOML config; ``overrides`` are "section.key=value" strings.

    ``path`` may name a shipped config (`shipped_configs`) instead of a file."""
    path = resolve_config_path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; expected a TOML config file")
    if not path.is_file():
        raise ConfigError(
            f"{path}: config file not found (shipped configs: {', '.join(shipped_configs())})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {err.start}); expected a TOML config file"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    for item in overrides:
        _apply_override(raw, item, path)
    if overrides:
        text += "\n# overrides: " + "; ".join(overrides) + "\n"
    return parse_config(raw, path=path, text=text)


def parse_config(raw: dict, *, path: Path | None = None, text: str = "") -> Config:
    """Validate a parsed TOML mapping (see SCHEMA); fills defaults."""
    where = str(path) if path else "<config>"
    raw = copy.deepcopy(raw)
    known_sections = {"grid", "flow", "transport", "run", "tracers", "sources", "source"}
    top_keys = set(SCHEMA[""])
    for key in raw:
        if key not in known_sections and key not in top_keys:
            _unknown(where, "", key, sorted(known_sections | top_keys))
    sections = {"": _section(where, "", {k: raw[k] for k in top_keys if k in raw}, SCHEMA[""])}
    kind = (
        raw.get("grid", {}).get("kind", "cartesian")
        if isinstance(raw.get("grid"), dict)
        else "cartesian"
    )
    for name in ("grid", "flow", "transport", "run", "sources"):
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{name}] must be a table, found {type(table).__name__}")
        required_ok = _relevant_required(name, kind, table)
        sections[name] = _section(where, name, table, SCHEMA[name], required_ok)
    tracers_raw = raw.get("tracers", {})
    if not isinstance(tracers_raw, dict) or not tracers_raw:
        raise ConfigError(
            f"{where}: [tracers] must define at least one tracer, e.g. "
            "[tracers.DIN] decay_per_day = 0.0"
        )
    tracers = {}
    for name, table in tracers_raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [tracers.{name}] must be a table")
        tracers[name] = _section(where, f"tracers.{name}", table, SCHEMA["tracers.*"])
        _check_background(where, name, tracers[name]["background_mg_per_l"])
    sources = []
    raw_sources = raw.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{where}: [[source]] must be an array of tables")
    for k, table in enumerate(raw_sources):
        entry = _section(where, f"source[{k}]", table, SCHEMA["source.*"], required=True)
        _check_source(where, k, entry, kind, tracers)
        sources.append(entry)
    _check_cross(where, sections, kind)
    _check_files(where, sections, path.parent if path else Path.cwd())
    return Config(
        path,
        MappingProxyType(sections),
        MappingProxyType({k: v for k, v in tracers.items()}),
        tuple(sources),
        text,
    )


def _relevant_required(section: str, grid_kind: str, table: dict) -> bool:
    if section == "grid":
        return grid_kind == "cartesian"
    if section == "flow":
        return table.get("kind") == "dataset"
    return True


def _section(
    where: str, name: str, table: dict, schema: dict[str, Key], required: bool = True
) -> MappingProxyType:
    label = f"[{name}]" if name else "top level"
    out = {}
    for key, value in table.items():
        if key not in schema:
            _unknown(where, name, key, sorted(schema))
        out[key] = _check_value(where, name, key, value, schema[key])
    for key, spec in schema.items():
        if key in out:
            continue
        if spec.default is REQUIRED:
            if required:
                raise ConfigError(
                    f"{where}: {label} is missing required key {key!r} ({spec.description})"
                )
            continue
        out[key] = copy.deepcopy(spec.default)
    return MappingProxyType(out)


def _check_value(where: str, section: str, key: str, value: Any, spec: Key) -> Any:
    full = f"{section}.{key}" if section else key
    ok_types = spec.types
    if isinstance(value, bool) and bool not in ok_types:
        ok = False
    else:
        ok = isinstance(value, ok_types)
    if not ok:
        expected = " or ".join(t.__name__ for t in ok_types).replace("int or float", "number")
        raise ConfigError(
            f"{where}: {full} must be {expected} ({spec.description}), "
            f"found {value!r} ({type(value).__name__})"
        )
    if spec.choices and value not in spec.choices:
        close = difflib.get_close_matches(str(value), spec.choices, n=1) or [
            c for c in spec.choices if c.lower() == str(value).lower()
        ]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: {full} = {value!r} is not one of {list(spec.choices)}{hint}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"{where}: {full} must be a finite number ({spec.description}), found {value!r}"
        )
    if spec.minimum is not None and _is_number(value) and not value >= spec.minimum:
        bound = "> 0" if spec.minimum > 0 else f">= {spec.minimum:g}"
        raise ConfigError(f"{where}: {full} must be {bound} ({spec.description}), found {value!r}")
    if spec.maximum is not None and _is_number(value) and not value <= spec.maximum:
        raise ConfigError(
            f"{where}: {full} must be <= {spec.maximum:g} ({spec.description}), found {value!r}"
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown(where: str, section: str, key: str, valid: list[str]) -> None:
    label = f"[{section}]" if section else "the top level"
    close = difflib.get_close_matches(key, valid, n=2)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(
        f"{where}: unknown key {key!r} in {label}{hint} (valid keys: {', '.join(valid)})"
    )


def _check_source(where: str, k: int, entry, grid_kind: str, tracers: dict) -> None:
    label = f"source[{k}] ({entry['name']!r})"
    if grid_kind == "cartesian":
        if entry["x_m"] is None or entry["y_m"] is None:
            raise ConfigError(f"{where}: {label} needs x_m and y_m on a cartesian grid")
    elif entry["lon"] is None or entry["lat"] is None:
        raise ConfigError(f"{where}: {label} needs lon and lat on a geographic grid")
    for unit_key in ("loads_g_per_s", "loads_t_per_yr"):
        for tracer, load in entry[unit_key].items():
            if tracer not in tracers:
                raise ConfigError(
                    f"{where}: {label}.{unit_key} names tracer {tracer!r}, which is "
                    f"not defined under [tracers] ({', '.join(tracers)})"
                )
            if not _is_number(load) or not load >= 0 or not math.isfinite(load):
                raise ConfigError(
                    f"{where}: {label}.{unit_key}.{tracer} must be a number >= 0, found {load!r}"
                )
            t_per_yr = load if unit_key == "loads_t_per_yr" else load / TONNE_PER_YEAR
            if t_per_yr > MAX_LOAD_T_PER_YR:
                raise ConfigError(
                    f"{where}: {label}.{unit_key}.{tracer} = {load!r} is {t_per_yr:.3g} t/yr, "
                    f"above the {MAX_LOAD_T_PER_YR:g} t/yr that any single river on Earth "
                    "delivers; check the unit (loads_t_per_yr is tonnes per year, "
                    "loads_g_per_s grams per second)"
                )


def _check_background(where: str, tracer: str, value: Any) -> None:
    full = f"tracers.{tracer}.background_mg_per_l"
    if isinstance(value, str):
        if value != "file":
            raise ConfigError(
                f'{where}: {full} must be a number >= 0 [mg/L] or "file", found {value!r}'
            )
    elif not value >= 0:
        raise ConfigError(f"{where}: {full} must be >= 0 [mg/L], found {value!r}")


def _check_files(where: str, sections: dict, folder: Path) -> None:
    """Files named in the config must exist (relative paths resolve against its folder)."""
    named = []
    if sections["sources"]["file"] not in ("", "default"):
        named.append(("sources.file", sections["sources"]["file"]))
    if sections["flow"]["kind"] == "dataset":
        named.append(("flow.path", sections["flow"]["path"]))
    for key, name in named:
        target = folder / name
        if not target.is_file():
            what = "is a folder" if target.is_dir() else "not found"
            raise ConfigError(
                f"{where}: {key} = {name!r}: {target} {what}; expected a file "
                "(relative paths are relative to the config's folder)"
            )


def _check_grid_size(where: str, grid: MappingProxyType, grid_kind: str) -> None:
    if grid_kind == "beibu":
        minutes = 60.0 * grid["resolution_deg"]
        if abs(minutes - round(minutes)) > 1e-6 * minutes or not 1 <= round(minutes) <= 30:
            raise ConfigError(
                f"{where}: grid.resolution_deg must be a whole number of arc-minutes from 1/60 "
                f"to 1/2 degree (1/60, 1/30 = 0.0333…, 1/20, 1/15 …; the land mask has 1′ "
                f"pixels), found {grid['resolution_deg']!r} ({minutes:.4g}′)"
            )
    elif grid_kind == "beibu_nest":
        pixels = 480.0 * grid["resolution_deg"]
        if abs(pixels - round(pixels)) > 1e-6 * pixels or not 1 <= round(pixels) <= 8:
            raise ConfigError(
                f"{where}: grid.resolution_deg must be a whole multiple of the nest rasters' "
                f"1/480-degree pixel from 1/480 to 1/60 (1/480, 1/240, 1/160, 1/120 …), found "
                f"{grid['resolution_deg']!r} ({pixels:.4g} pixels)"
            )
    elif grid["nx"] * grid["ny"] > MAX_CELLS:
        raise ConfigError(
            f"{where}: grid.nx × grid.ny = {grid['nx']} × {grid['ny']} = "
            f"{grid['nx'] * grid['ny']:,} cells, above the {MAX_CELLS:,}-cell limit; "
            "check nx, ny (cells, not metres)"
        )


def _check_uniform_current(where: str, sections: dict) -> None:
    """A uniform current must enter and leave through open edges (it cannot cross a wall)."""
    flow, opened = sections["flow"], set(sections["grid"]["open_boundaries"])
    if flow["kind"] not in ("uniform", "rivers"):
        return
    for key, edges in (("u_m_per_s", ("west", "east")), ("v_m_per_s", ("south", "north"))):
        closed = [edge for edge in edges if edge not in opened]
        if flow[key] != 0 and closed:
            raise ConfigError(
                f"{where}: flow.{key} = {flow[key]!r} needs open {edges[0]} and {edges[1]} edges "
                f"(a uniform current cannot cross a closed edge), but {' and '.join(closed)} "
                f"{'is' if len(closed) == 1 else 'are'} closed; add to grid.open_boundaries or "
                f"set flow.{key} = 0"
            )


def _check_cross(where: str, sections: dict, grid_kind: str) -> None:
    _check_grid_size(where, sections["grid"], grid_kind)
    run = sections["run"]
    outputs = run["duration_days"] / run["output_interval_days"]
    if outputs > MAX_OUTPUTS:
        raise ConfigError(
            f"{where}: run.duration_days / run.output_interval_days = {outputs:.4g} output "
            f"records, above the {MAX_OUTPUTS:,} kept in memory; both are in days"
        )
    for edge in sections["grid"]["open_boundaries"]:
        if edge not in ("west", "east", "south", "north"):
            raise ConfigError(
                f"{where}: grid.open_boundaries has {edge!r}; expected a list of "
                "west, east, south, north"
            )
    _check_uniform_current(where, sections)
    spinup = run["spinup_days"]
    if isinstance(spinup, str) and spinup != "auto":
        raise ConfigError(
            f'{where}: run.spinup_days must be a number >= 0 [days] or "auto", found {spinup!r}'
        )
    diffusivity = sections["transport"]["diffusivity_m2_per_s"]
    if isinstance(diffusivity, str) and diffusivity != "tidal":
        raise ConfigError(
            f"{where}: transport.diffusivity_m2_per_s must be a number >= 0 or "
            f'"tidal", found {diffusivity!r}'
        )
    if not isinstance(diffusivity, str) and diffusivity < 0:
        raise ConfigError(
            f"{where}: transport.diffusivity_m2_per_s must be >= 0, found {diffusivity!r}"
        )
    if grid_kind != "beibu" and (
        diffusivity == "tidal" or sections["flow"]["kind"] == "circulation"
    ):
        raise ConfigError(
            f'{where}: tidal diffusivity and the built-in circulation need grid.kind = "beibu"'
        )
    for k, rect in enumerate(sections["grid"]["land"]):
        if (
            not isinstance(rect, list)
            or len(rect) != 4
            or not all(_is_number(v) and math.isfinite(v) for v in rect)
        ):
            raise ConfigError(
                f"{where}: grid.land[{k}] must be [x0_m, x1_m, y0_m, y1_m], found {rect!r}"
            )


def _apply_override(raw: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    dotted, value_text = item.split("=", 1)
    parts = dotted.strip().split(".")
    if not all(part.strip() for part in parts):
        raise ConfigError(f"--set {item!r}: expected section.key=value (found an empty name)")
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    table = raw
    for part in parts[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: --set {item!r}: {part} is not a table")
    table[parts[-1]] = value


def describe_schema() -> str:
    """The config reference as Markdown (for the README)."""
    lines = ["| section | key | default | description |", "|---|---|---|---|"]
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            default = "required" if spec.default is REQUIRED else repr(spec.default)
            choices = f" ({', '.join(spec.choices)})" if spec.choices else ""
            lines.append(
                f"| {section or '(top)'} | `{key}` | {default} | {spec.description}{choices} |"
            )
    return "\n".join(lines)
