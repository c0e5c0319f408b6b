"""Property tests of the input edge: any TOML file either loads or raises BadInputError.

Hypothesis writes hostile TOML: a valid small config with random keys set to random values
(integers beyond 64 bits and beyond the float range, negative numbers, NaN, infinities,
booleans, strings, lists and tables nested to random depth), random tracer and source names,
and random text as whole files. Whatever it writes, `load_config` (and the readers of sources,
zones, control points, scenario and ensemble files) must return or raise a
`bbw_bay.errors.BadInputError` with a one-line message: an OverflowError, a parser's
ValueError, a RecursionError, an IndexError or a KeyError escaping is a bug. Configs that load
are built (small cartesian ones) and their work estimated, which must succeed or refuse with a
BadInputError too. Runs are derandomized, so a failure reproduces.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bbw_bay.core.config import load_config
from bbw_bay.core.inputs import MAX_TOML_INTEGER, tracer_name_problem
from bbw_bay.core.work import check_work, estimate_work
from bbw_bay.errors import BadInputError
from bbw_bay.gulf import assemble
from bbw_bay.gulf.loads import read_source_table
from bbw_bay.quality.receptors import load_control_points
from bbw_bay.quality.zones import load_zones
from tests.conftest import REPO

SETTINGS = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: A valid 6 × 4 cartesian config as TOML tables (the strategies edit it).
BASE = {
    "grid": {"nx": 6, "ny": 4, "dx_m": 500.0, "dy_m": 500.0, "open_boundaries": ["east"]},
    "flow": {"kind": "rivers"},
    "run": {"duration_days": 1.0},
    "tracers": {"DIN": {"decay_per_day": 0.02}},
    "source": [
        {
            "name": "river",
            "x_m": 250.0,
            "y_m": 1250.0,
            "discharge_m3_per_s": 5.0,
            "loads_t_per_yr": {"DIN": 80.0},
        }
    ],
}
#: Keys the strategies set: every schema key a small config uses, and a few unknown ones.
PATHS = [
    ("grid", "nx"),
    ("grid", "ny"),
    ("grid", "dx_m"),
    ("grid", "dy_m"),
    ("grid", "depth_m"),
    ("grid", "land"),
    ("grid", "open_boundaries"),
    ("grid", "kind"),
    ("flow", "kind"),
    ("flow", "u_m_per_s"),
    ("flow", "strait_transport_scale"),
    ("flow", "fill_nearest"),
    ("transport", "diffusivity_m2_per_s"),
    ("transport", "dt_s"),
    ("transport", "return_time_days"),
    ("transport", "advection"),
    ("run", "duration_days"),
    ("run", "output_interval_days"),
    ("run", "start_day_of_year"),
    ("run", "tag_sources"),
    ("run", "water_age"),
    ("sources", "load_scale"),
    ("sources", "snap_to_sea"),
    ("tracers", "DIN", "decay_per_day"),
    ("tracers", "DIN", "background_mg_per_l"),
    ("source", 0, "name"),
    ("source", 0, "x_m"),
    ("source", 0, "y_m"),
    ("source", 0, "lon"),
    ("source", 0, "discharge_m3_per_s"),
    ("source", 0, "loads_t_per_yr"),
    ("source", 0, "loads_g_per_s"),
    ("grid", "unknown_key"),
    ("title",),
]
HUGE_INTEGERS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([2**63, -(2**63) - 1, MAX_TOML_INTEGER, 10**308, 10**309, -(10**400)]),
)
NUMBERS = st.one_of(
    st.integers(-10, 10**6),
    HUGE_INTEGERS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e300, -1e300, 1e-9, 5e-324]),
)
SCALARS = st.one_of(NUMBERS, st.booleans(), st.text(max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
    ),
    max_leaves=12,
)


def toml_string(text: str) -> str:
    """A TOML basic string: control characters and DEL as \\uXXXX, quotes and backslashes
    escaped, everything else (any Unicode scalar) as itself."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value) -> str:
    """A TOML literal for the values the strategies produce (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else hex(value)  # str() stops at 4300 digits
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(value)


def to_toml(raw: dict) -> str:
    """TOML text of a config dict: top-level scalars, [section] tables, [tracers.NAME] and
    [[source]] arrays of tables (keys quoted, so any name can be written)."""
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in raw.items() if not _table(k, v)]
    for section, table in raw.items():
        if section in ("tracers", "source") or not isinstance(table, dict):
            continue
        lines.append(f"[{toml_string(section)}]")
        lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
    if isinstance(raw.get("tracers"), dict):
        for name, table in raw["tracers"].items():
            if isinstance(table, dict):
                lines.append(f"[tracers.{toml_string(name)}]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
            else:
                lines.append(f"[tracers]\n{toml_string(name)} = {toml_value(table)}")
    if isinstance(raw.get("source"), list) and all(isinstance(t, dict) for t in raw["source"]):
        for table in raw["source"]:
            lines.append("[[source]]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _table(key, value) -> bool:
    if key == "source":
        return isinstance(value, list) and all(isinstance(t, dict) for t in value)
    return isinstance(value, dict)


def with_value(path: tuple, value) -> dict:
    raw = json.loads(json.dumps(BASE))
    table = raw
    for part in path[:-1]:
        table = table.setdefault(part, {}) if isinstance(part, str) else table[part]
    table[path[-1]] = value
    return raw


def load_or_refuse(text: str, name: str = "config.toml"):
    """load_config of ``text``: the Config, or None after a one-line BadInputError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(path)
        except BadInputError as err:
            assert "\n" not in str(err) and str(path) in str(err), str(err)
            return None


def build_small(config) -> None:
    """Build a loaded small cartesian config and check its work; BadInputError is fine."""
    grid = config["grid"]
    if grid["kind"] != "cartesian" or grid["nx"] * grid["ny"] > 5_000:
        return
    try:
        setup = assemble.build(config)
        estimate = estimate_work(
            setup.model,
            duration=setup.run_options["duration"],
            output_interval=setup.run_options["output_interval"],
            dt=setup.run_options["dt"],
        )
        check_work(estimate)
    except BadInputError as err:
        assert "\n" not in str(err), str(err)


@SETTINGS
@given(path=st.sampled_from(PATHS), value=VALUES)
def test_any_value_at_any_key_loads_or_is_refused(path, value):
    config = load_or_refuse(to_toml(with_value(path, value)))
    if config is not None:
        build_small(config)


@SETTINGS
@given(name=st.text(max_size=70))
def test_any_tracer_name_loads_only_if_it_is_a_safe_netcdf_name(name):
    raw = json.loads(json.dumps(BASE))
    raw["tracers"][name] = {"decay_per_day": 0.1}
    config = load_or_refuse(to_toml(raw))
    if config is not None:
        assert name == "DIN" or tracer_name_problem(name) is None
        assert name in config.tracers
    else:
        assert name != "DIN" and tracer_name_problem(name) is not None


@SETTINGS
@given(names=st.lists(st.text(max_size=10), min_size=2, max_size=3))
def test_source_names_load_only_if_their_tags_differ(names):
    raw = json.loads(json.dumps(BASE))
    raw["source"] = [
        {"name": name, "x_m": 250.0 + 500.0 * k, "y_m": 1250.0} for k, name in enumerate(names)
    ]
    config = load_or_refuse(to_toml(raw))
    from bbw_bay.core.inputs import source_key

    keys = [source_key(n) for n in names]
    assert (config is not None) == (all(keys) and len(set(keys)) == len(keys))


@SETTINGS
@given(depth=st.integers(0, 120), path=st.sampled_from(PATHS))
def test_arrays_nested_to_any_depth_load_or_are_refused(depth, path):
    text = to_toml(with_value(path, 0))
    key = toml_string(str(path[-1]))
    nested = "[" * depth + "1.0" + "]" * depth
    config = load_or_refuse(text.replace(f"{key} = 0\n", f"{key} = {nested}\n", 1))
    if config is not None:
        build_small(config)


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_as_a_config_is_refused_or_loads(text):
    config = load_or_refuse(text)
    assert config is None or config.tracers  # a config that loads has a tracer


@settings(SETTINGS, max_examples=60)
@given(text=st.text(max_size=300), reader=st.sampled_from(["sources", "zones", "points"]))
def test_any_text_as_a_data_file_is_refused_or_read(text, reader):
    read = {
        "sources": read_source_table,
        "zones": load_zones,
        "points": load_control_points,
    }[reader]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{reader}.toml"
        path.write_text(text, encoding="utf-8")
        try:
            read(path)
        except BadInputError as err:
            assert "\n" not in str(err), str(err)


@settings(SETTINGS, max_examples=60)
@given(value=VALUES, key=st.sampled_from(["lon", "lat", "discharge_m3_per_s", "name", "kind"]))
def test_any_value_in_the_shipped_sources_file_is_refused_or_read(value, key):
    # the first source of forcing/sources.toml with one value replaced
    text = (REPO / "forcing" / "sources.toml").read_text(encoding="utf-8")
    start = text.index("[[source]]")
    line_start = text.index(f"\n{key} = ", start) + 1
    line_end = text.index("\n", line_start)
    edited = text[:line_start] + f"{key} = {toml_value(value)}" + text[line_end:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sources.toml"
        path.write_text(edited, encoding="utf-8")
        try:
            read_source_table(path)
        except BadInputError as err:
            assert "\n" not in str(err), str(err)
