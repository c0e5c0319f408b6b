"""The settings table of a config: every key with its type, default, bounds and description.

One table (`SCHEMA`: section -> key -> `Key`) describes every key a TOML config may hold, with
units in the key names (`bbw_bay.core.config` reads and checks configs against it), and the
sanity bounds that turn unit slips into errors instead of endless or overflowing runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bbw_bay.errors import BadInputError

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
        "strait_transport_scale": Key(
            NUM, 1.0, "multiplier on the Qiongzhou Strait transport", minimum=0, maximum=100.0
        ),
        "fill_nearest": Key(
            (bool,),
            False,
            "fill land (NaN) of the currents file with the nearest valid velocity before "
            "interpolating, for model coasts finer than the currents' (dataset)",
        ),
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
        "return_time_days": Key(
            NUM,
            0.0,
            "Thatcher–Harleman return time [days]",
            minimum=0,
            maximum=MAX_DURATION_DAYS,
        ),
        "background_mode": Key(
            (str,),
            "boundary",
            'how the background enters: "boundary" (open-boundary inflow concentration, decays '
            'inside like any tracer) or "ambient" (ambient sea level everywhere; the model '
            "carries the land-based excess, zero at the boundaries, and reports background + "
            "excess)",
            choices=("boundary", "ambient"),
        ),
        "dt_s": Key(
            NUM,
            0.0,
            "time step [s]; 0 = automatic (0.9 × stability bound)",
            minimum=0,
            maximum=MAX_DURATION_DAYS * 86_400.0,
        ),
    },
    "run": {
        "duration_days": Key(
            NUM, 30.0, "length of the run [days]", minimum=1e-12, maximum=MAX_DURATION_DAYS
        ),
        "output_interval_days": Key(
            NUM, 1.0, "output spacing [days]", minimum=1e-12, maximum=MAX_DURATION_DAYS
        ),
        "start_day_of_year": Key(NUM, 0.0, "start, days after 1 January", minimum=0, maximum=366.0),
        "checkpoint_interval_days": Key(
            NUM, 0.0, "checkpoint spacing [days]; 0 = off", minimum=0, maximum=MAX_DURATION_DAYS
        ),
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
        "lon": Key(
            NUM, None, "longitude [degrees east] (geographic)", minimum=-180.0, maximum=360.0
        ),
        "lat": Key(NUM, None, "latitude [degrees north] (geographic)", minimum=-90.0, maximum=90.0),
        "discharge_m3_per_s": Key(
            NUM, 0.0, "volume discharge [m³/s]", minimum=0, maximum=MAX_DISCHARGE_M3_PER_S
        ),
        "loads_g_per_s": Key((dict,), {}, "loads per tracer [g/s]"),
        "loads_t_per_yr": Key((dict,), {}, "loads per tracer [t/yr]"),
    },
}


class ConfigError(BadInputError):
    """A configuration file is malformed or holds a wrong key or value."""


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
