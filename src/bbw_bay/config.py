"""TOML configuration -> validated, frozen settings. Units live in key names; SI after loading.

One table describes every key: section, name, type, default, description. Unknown keys are errors
that name close matches; every error names the file, the key and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Sentinel for keys without a default (required when their section is used).
REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One configuration key: expected type(s), default and description (with units)."""

    types: tuple[type, ...]
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None


NUM = (int, float)
#: The settings table: section -> key -> Key.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "title": Key((str,), "", "a one-line description of the run"),
    },
    "grid": {
        "kind": Key((str,), "cartesian", "grid type", choices=("cartesian", "beibu")),
        "nx": Key((int,), REQUIRED, "cells in x (cartesian)", minimum=1),
        "ny": Key((int,), REQUIRED, "cells in y (cartesian)", minimum=1),
        "dx_m": Key(NUM, REQUIRED, "cell size in x [m] (cartesian)", minimum=1e-9),
        "dy_m": Key(NUM, REQUIRED, "cell size in y [m] (cartesian)", minimum=1e-9),
        "depth_m": Key(NUM, 10.0, "uniform depth [m] (cartesian)", minimum=1e-9),
        "land": Key((list,), [], "land rectangles [[x0_m, x1_m, y0_m, y1_m], ...] (cartesian)"),
        "open_boundaries": Key((list,), ["south", "east"], "open edges: west/east/south/north"),
        "resolution_deg": Key(NUM, 1.0 / 30.0, "grid spacing [degrees] (beibu)", minimum=1e-4),
    },
    "flow": {
        "kind": Key(
            (str,), "uniform", "flow type", choices=("uniform", "rivers", "circulation", "dataset")
        ),
        "u_m_per_s": Key(NUM, 0.0, "uniform eastward velocity [m/s] (uniform; base of rivers)"),
        "v_m_per_s": Key(NUM, 0.0, "uniform northward velocity [m/s] (uniform; base of rivers)"),
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
            NUM + (str,), 10.0, 'horizontal diffusivity [m²/s], or "tidal" (beibu)'
        ),
        "tidal_dispersion_scale": Key(NUM, 1.0, "multiplier on the tidal dispersion field"),
        "return_time_days": Key(NUM, 0.0, "Thatcher–Harleman return time [days]", minimum=0),
        "dt_s": Key(NUM, 0.0, "time step [s]; 0 = automatic (0.9 × stability bound)", minimum=0),
    },
    "run": {
        "duration_days": Key(NUM, 30.0, "length of the run [days]", minimum=1e-12),
        "output_interval_days": Key(NUM, 1.0, "output spacing [days]", minimum=1e-12),
        "start_day_of_year": Key(NUM, 0.0, "start, days after 1 January", minimum=0),
        "checkpoint_interval_days": Key(NUM, 0.0, "checkpoint spacing [days]; 0 = off", minimum=0),
    },
    "tracers.*": {
        "decay_per_day": Key(NUM, 0.0, "first-order decay rate [1/day]", minimum=0),
        "background_mg_per_l": Key(
            NUM + (str,),
            0.0,
            'open-boundary background [mg/L], or "file" to take it '
            "from forcing/boundary.toml by season",
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
        "load_scale": Key(NUM, 1.0, "multiplier on every load", minimum=0),
    },
    "source.*": {
        "name": Key((str,), REQUIRED, "label"),
        "x_m": Key(NUM, None, "x position [m] (cartesian)"),
        "y_m": Key(NUM, None, "y position [m] (cartesian)"),
        "lon": Key(NUM, None, "longitude [degrees east] (geographic)"),
        "lat": Key(NUM, None, "latitude [degrees north] (geographic)"),
        "discharge_m3_per_s": Key(NUM, 0.0, "volume discharge [m³/s]", minimum=0),
        "loads_g_per_s": Key((dict,), {}, "loads per tracer [g/s]"),
        "loads_t_per_yr": Key((dict,), {}, "loads per tracer [t/yr]"),
    },
}


class ConfigError(ValueError):
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


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read and validate a TOML config; ``overrides`` are "section.key=value" strings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
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
    sources = []
    raw_sources = raw.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{where}: [[source]] must be an array of tables")
    for k, table in enumerate(raw_sources):
        entry = _section(where, f"source[{k}]", table, SCHEMA["source.*"], required=True)
        _check_source(where, k, entry, kind, tracers)
        sources.append(entry)
    _check_cross(where, sections, kind)
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
        close = difflib.get_close_matches(str(value), spec.choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: {full} = {value!r} is not one of {list(spec.choices)}{hint}")
    if spec.minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not value >= spec.minimum or value != value:
            bound = "> 0" if spec.minimum > 0 else f">= {spec.minimum:g}"
            raise ConfigError(
                f"{where}: {full} must be {bound} ({spec.description}), found {value!r}"
            )
    return value


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
            if isinstance(load, bool) or not isinstance(load, (int, float)) or not load >= 0:
                raise ConfigError(
                    f"{where}: {label}.{unit_key}.{tracer} must be a number >= 0, found {load!r}"
                )


def _check_cross(where: str, sections: dict, grid_kind: str) -> None:
    for edge in sections["grid"]["open_boundaries"]:
        if edge not in ("west", "east", "south", "north"):
            raise ConfigError(
                f"{where}: grid.open_boundaries has {edge!r}; expected a list of "
                "west, east, south, north"
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
    if grid_kind == "cartesian" and (
        diffusivity == "tidal" or sections["flow"]["kind"] == "circulation"
    ):
        raise ConfigError(
            f'{where}: tidal diffusivity and the built-in circulation need grid.kind = "beibu"'
        )
    for k, rect in enumerate(sections["grid"]["land"]):
        if (
            not isinstance(rect, list)
            or len(rect) != 4
            or not all(isinstance(v, (int, float)) for v in rect)
        ):
            raise ConfigError(
                f"{where}: grid.land[{k}] must be [x0_m, x1_m, y0_m, y1_m], found {rect!r}"
            )


def _apply_override(raw: dict, item: str, path: Path) -> None:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    dotted, value_text = item.split("=", 1)
    parts = dotted.strip().split(".")
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
