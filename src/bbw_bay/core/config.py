"""TOML configuration -> validated, frozen settings. Units live in key names; SI after loading.

One table describes every key: section, name, type, default, description (`bbw_bay.core.schema`,
re-exported here with its sanity bounds). Unknown keys are errors that name close matches; every
error names the file, the key and what was expected. The text is parsed by
`bbw_bay.core.inputs.parse_toml` and every value checked by `bbw_bay.core.inputs.check_values`
(NaN, infinities, integers beyond 64 bits, deep nesting), tracer and source names too.
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

from bbw_bay.core.inputs import (
    check_source_names,
    check_values,
    key_path,
    number_text,
    parse_toml,
    tracer_name_problem,
)
from bbw_bay.core.schema import (
    MAX_CELLS,
    MAX_CONCENTRATION_MG_PER_L,
    MAX_DECAY_PER_DAY,
    MAX_DEPTH_M,
    MAX_DIFFUSIVITY_M2_PER_S,
    MAX_DISCHARGE_M3_PER_S,
    MAX_DURATION_DAYS,
    MAX_LOAD_T_PER_YR,
    MAX_OUTPUTS,
    MAX_SPEED_M_PER_S,
    NUM,
    REQUIRED,
    SCHEMA,
    ConfigError,
    Key,
    describe_schema,
)
from bbw_bay.units import TONNE_PER_YEAR

log = logging.getLogger(__name__)


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
    raw = parse_toml(text, where=str(path), error=ConfigError, check=False)
    for item in overrides:
        _apply_override(raw, item, path)
    if overrides:
        text += "\n# overrides: " + "; ".join(overrides) + "\n"
    return parse_config(raw, path=path, text=text)


def parse_config(raw: dict, *, path: Path | None = None, text: str = "") -> Config:
    """Validate a parsed TOML mapping (see SCHEMA); fills defaults."""
    where = str(path) if path else "<config>"
    check_values(raw, where=where, error=ConfigError, expect=_expected)
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
        problem = tracer_name_problem(name)
        if problem:
            raise ConfigError(f"{where}: {key_path(('tracers', str(name)))}: {problem}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [tracers.{name}] must be a table")
        tracers[name] = _section(where, f"tracers.{name}", table, SCHEMA["tracers.*"])
        _check_background(where, name, tracers[name]["background_mg_per_l"])
    _check_tags(where, sections["run"]["tag_sources"], tracers)
    sources = []
    raw_sources = raw.get("source", [])
    if not isinstance(raw_sources, list):
        raise ConfigError(f"{where}: [[source]] must be an array of tables")
    for k, table in enumerate(raw_sources):
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: source[{k}] must be a table ([[source]]), found {number_text(table)}"
            )
        entry = _section(where, f"source[{k}]", table, SCHEMA["source.*"], required=True)
        _check_source(where, k, entry, kind, tracers)
        sources.append(entry)
    check_source_names(
        [s["name"] for s in sources],
        where=where,
        labels=[f"source[{k}]" for k in range(len(sources))],
        error=ConfigError,
    )
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


def _expected(path: tuple) -> str | tuple[tuple, str]:
    """What the config key at ``path`` expects, for `check_values` messages."""
    if path[:2] == ("grid", "land") and len(path) >= 3:
        return path[:3], "[x0_m, x1_m, y0_m, y1_m], four finite numbers [m]"
    if len(path) >= 2 and path[0] == "source" and isinstance(path[1], int):
        schema, rest = SCHEMA["source.*"], path[2:]
    elif len(path) >= 2 and path[0] == "tracers":
        schema, rest = SCHEMA["tracers.*"], path[2:]
    elif path and path[0] in SCHEMA and path[0]:
        schema, rest = SCHEMA[path[0]], path[1:]
    else:
        schema, rest = SCHEMA[""], path
    spec = schema.get(rest[0]) if rest and isinstance(rest[0], str) else None
    if spec is None:
        return "a finite number"
    if len(rest) > 1 and dict in spec.types:  # loads per tracer
        return "a number >= 0"
    return f"a finite number ({spec.description})"


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
    needed, other = (("x_m", "y_m"), ("lon", "lat"))
    if grid_kind != "cartesian":
        needed, other = other, needed
    what = "a cartesian" if grid_kind == "cartesian" else "a geographic"
    if entry[needed[0]] is None or entry[needed[1]] is None:
        raise ConfigError(f"{where}: {label} needs {needed[0]} and {needed[1]} on {what} grid")
    given = [key for key in other if entry[key] is not None]
    if given:
        raise ConfigError(
            f"{where}: {label} gives {' and '.join(given)} on {what} grid (grid.kind = "
            f"{grid_kind!r}), which places sources by {needed[0]} and {needed[1]}; remove "
            f"{' and '.join(given)}"
        )
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


def _check_tags(where: str, tags: list, tracers: dict) -> None:
    """run.tag_sources: names of defined tracers, each once."""
    for k, name in enumerate(tags):
        if not isinstance(name, str) or name not in tracers:
            raise ConfigError(
                f"{where}: run.tag_sources[{k}] = {number_text(name)} is not a tracer; expected "
                f"names from [tracers] ({', '.join(map(str, tracers))})"
            )
        if name in tags[:k]:
            raise ConfigError(f"{where}: run.tag_sources lists {name!r} twice")


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
    edges = sections["grid"]["open_boundaries"]
    for k, edge in enumerate(edges):
        if edge not in ("west", "east", "south", "north"):
            raise ConfigError(
                f"{where}: grid.open_boundaries has {edge!r}; expected a list of "
                "west, east, south, north"
            )
        if edge in edges[:k]:
            raise ConfigError(f"{where}: grid.open_boundaries lists {edge!r} twice")
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
    _check_land(where, sections["grid"], grid_kind)


def _check_land(where: str, grid: MappingProxyType, grid_kind: str) -> None:
    """Land rectangles: ordered corners, inside the grid, covering at least one cell centre."""
    if grid["land"] and grid_kind != "cartesian":
        raise ConfigError(
            f"{where}: grid.land applies to cartesian grids (metres); grid.kind = {grid_kind!r} "
            "takes its land from the shipped coastline; remove grid.land"
        )
    if grid_kind != "cartesian":
        return
    width, height = grid["nx"] * grid["dx_m"], grid["ny"] * grid["dy_m"]
    for k, (x0, x1, y0, y1) in enumerate(grid["land"]):
        rect = f"grid.land[{k}] = [{x0:g}, {x1:g}, {y0:g}, {y1:g}]"
        for low, high, a, b in (("x0_m", "x1_m", x0, x1), ("y0_m", "y1_m", y0, y1)):
            if a > b:
                raise ConfigError(
                    f"{where}: {rect} has {low} > {high}; expected [x0_m, x1_m, y0_m, y1_m] "
                    f"with {low} <= {high} (swap them)"
                )
        if x1 < 0 or x0 > width or y1 < 0 or y0 > height:
            raise ConfigError(
                f"{where}: {rect} lies outside the grid, which spans x 0–{width:g} m and y "
                f"0–{height:g} m; expected a rectangle in metres from the grid's lower-left corner"
            )
        cx = _centres_between(x0, x1, grid["dx_m"], grid["nx"])
        cy = _centres_between(y0, y1, grid["dy_m"], grid["ny"])
        if not (cx and cy):
            raise ConfigError(
                f"{where}: {rect} covers no cell centre (cells are {grid['dx_m']:g} m × "
                f"{grid['dy_m']:g} m, centres at (i + 0.5) × dx_m); expected a rectangle that "
                "holds at least one centre"
            )


def _centres_between(low: float, high: float, spacing: float, count: int) -> bool:
    """True if a cell centre (i + 0.5) × spacing, 0 <= i < count, lies in [low, high]."""
    first = max(0, math.ceil(low / spacing - 0.5))
    return first < count and (first + 0.5) * spacing <= high


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
    except (RecursionError, ValueError):  # nesting or digits beyond what Python parses
        raise ConfigError(
            f"--set {item!r}: the value nests too deeply or has more than 4300 digits; "
            'expected a TOML value such as 10, 0.5 or "mc"'
        ) from None
    table = raw
    for part in parts[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: --set {item!r}: {part} is not a table")
    table[parts[-1]] = value


#: Public names, the settings table's included (`bbw_bay.core.schema` holds it; callers import
#: it from here).
__all__ = [
    "MAX_CELLS",
    "MAX_CONCENTRATION_MG_PER_L",
    "MAX_DECAY_PER_DAY",
    "MAX_DEPTH_M",
    "MAX_DIFFUSIVITY_M2_PER_S",
    "MAX_DISCHARGE_M3_PER_S",
    "MAX_DURATION_DAYS",
    "MAX_LOAD_T_PER_YR",
    "MAX_OUTPUTS",
    "MAX_SPEED_M_PER_S",
    "NUM",
    "REQUIRED",
    "SCHEMA",
    "Config",
    "ConfigError",
    "Key",
    "describe_schema",
    "load_config",
    "parse_config",
    "resolve_config_path",
    "shipped_configs",
]
