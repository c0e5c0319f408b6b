"""Bad input that reaches the library: one BadInputError naming the file, key, row or argument.

Issue 14 (trustworthy at the edges), the library's side: configs, sources files, zones and
control points, currents files, scenario and ensemble files, and the work a config asks for.
Each case goes through the library call a user (or the CLI) makes and checks two things: the
error is a `bbw_bay.errors.BadInputError` (never an OverflowError, ValueError from a parser,
RecursionError, IndexError or KeyError, and never silent acceptance), and its one line names
where the problem is and what was expected against what was found.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bbw_bay.control.ensemble_spec import EnsembleError, load_ensemble
from bbw_bay.control.scenario_spec import ScenarioError, load_spec
from bbw_bay.control.scenarios import plan
from bbw_bay.core.config import ConfigError, load_config, parse_config
from bbw_bay.core.currents import CurrentsError, dataset_transports
from bbw_bay.core.grid import Grid
from bbw_bay.core.inputs import MAX_TOML_DEPTH, RESERVED_NAMES, tracer_name_problem
from bbw_bay.core.output import CF_ATTRIBUTES
from bbw_bay.core.sources import PointSource, SourceError, SourceLayout
from bbw_bay.core.work import MAX_CELL_STEPS, WorkError, check_work, estimate_work
from bbw_bay.errors import BadInputError
from bbw_bay.gulf import assemble
from bbw_bay.gulf.loads import LoadsError, read_source_table
from bbw_bay.quality.receptors import ReceptorError, load_control_points, point_receptors
from bbw_bay.quality.zones import ZoneError, load_zones, zone_masks
from bbw_bay.units import DAY, TONNE_PER_YEAR
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"

#: A valid 20 × 10 cartesian config (10 km × 5 km, open to the east) with one river.
BASE = """\
[grid]
nx = 20
ny = 10
dx_m = 500.0
dy_m = 500.0
depth_m = 6.0
open_boundaries = ["east"]

[flow]
kind = "rivers"

[run]
duration_days = 1.0

[tracers.DIN]
decay_per_day = 0.02

[[source]]
name = "river"
x_m = 250.0
y_m = 2500.0
discharge_m3_per_s = 15.0
loads_t_per_yr = { DIN = 80.0 }
"""


def write(folder: Path, text: str, name: str = "case.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def one_line(err: pytest.ExceptionInfo, *fragments: str) -> str:
    """The message is one line, a BadInputError, and holds every fragment."""
    message = str(err.value)
    assert isinstance(err.value, BadInputError), type(err.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_the_base_config_is_valid(tmp_path):
    # every case below edits it; unedited it loads and builds (the checks are not blanket)
    setup = assemble.build(load_config(write(tmp_path, BASE)))
    assert setup.grid.n_wet == 200


# ----------------------------------------------------------------------------- numbers
HUGE = "1" + "0" * 400  # an integer TOML accepts and float() cannot convert (OverflowError)
NUMBER_CASES = {
    "integer beyond the float range": (
        edit("dx_m = 500.0", f"dx_m = {HUGE}"),
        ["grid.dx_m", "~1e+400", "64-bit integers"],
    ),
    "huge integer position": (
        edit("x_m = 250.0", f"x_m = {HUGE}"),
        ["source[0].x_m", "64-bit"],
    ),
    "huge integer load in g/s": (
        edit("loads_t_per_yr = { DIN = 80.0 }", f"loads_g_per_s = {{ DIN = {HUGE} }}"),
        ["source[0].loads_g_per_s.DIN", "64-bit"],
    ),
    "huge integer output interval": (
        edit("duration_days = 1.0", f"duration_days = 1.0\noutput_interval_days = {HUGE}"),
        ["run.output_interval_days", "64-bit"],
    ),
    "huge integer in a land rectangle": (
        edit("depth_m = 6.0", f"depth_m = 6.0\nland = [[0, {HUGE}, 0, 1]]"),
        ["grid.land[0][1]", "64-bit"],
    ),
    "5000-digit integer": (
        edit("dx_m = 500.0", "dx_m = 1" + "0" * 5000),
        ["more than 4300 digits", "(line 4)", "64-bit"],
    ),
    "5000-digit hexadecimal integer (parsed; str() of it would raise)": (
        edit("dx_m = 500.0", "dx_m = 0x" + "f" * 5000),
        ["grid.dx_m = ~1e+6020 (an integer of 20000 bits)", "64-bit"],
    ),
    "arrays nested 3000 deep": (
        edit("depth_m = 6.0", "depth_m = 6.0\nland = " + "[" * 3000 + "]" * 3000),
        ["nested too deeply", f"at most {MAX_TOML_DEPTH} levels"],
    ),
    "arrays nested 40 deep (parsed, then refused)": (
        edit("depth_m = 6.0", "depth_m = 6.0\nland = " + "[" * 40 + "]" * 40),
        ["grid.land", f"more than {MAX_TOML_DEPTH} levels"],
    ),
    "nan": (
        edit("depth_m = 6.0", "depth_m = nan"),
        ["grid.depth_m must be a finite number", "[m]", "found nan"],
    ),
    "inf load": (
        edit("DIN = 80.0", "DIN = inf"),
        ["source[0].loads_t_per_yr.DIN must be a number >= 0", "found inf"],
    ),
    "float beyond the float range reads as inf": (
        edit("decay_per_day = 0.02", "decay_per_day = 1e400"),
        ["tracers.DIN.decay_per_day must be a finite number", "found inf", "1.8e308"],
    ),
    "-inf in a land rectangle": (
        edit("depth_m = 6.0", "depth_m = 6.0\nland = [[0, -inf, 0, 1]]"),
        ["grid.land[0] must be [x0_m, x1_m, y0_m, y1_m]", "found -inf"],
    ),
    "boolean cell count": (edit("nx = 20", "nx = true"), ["grid.nx must be int", "True (bool)"]),
    "boolean load": (
        edit("DIN = 80.0", "DIN = true"),
        ["loads_t_per_yr.DIN must be a number >= 0", "found True"],
    ),
    "boolean in a land rectangle": (
        edit("depth_m = 6.0", "depth_m = 6.0\nland = [[0, true, 0, 1]]"),
        ["grid.land[0] must be [x0_m, x1_m, y0_m, y1_m]", "True"],
    ),
    "no bound on the strait transport scale": (
        edit('kind = "rivers"', 'kind = "rivers"\nstrait_transport_scale = 1e308'),
        ["flow.strait_transport_scale must be <= 100"],
    ),
    "no bound on the return time": (
        edit("[run]", "[transport]\nreturn_time_days = 1e300\n[run]"),
        ["transport.return_time_days must be <= 36525"],
    ),
    "a source that is not a table": (
        "source = [1]\n" + BASE.split("[[source]]")[0],
        ["source[0] must be a table ([[source]]), found 1"],
    ),
    "longitude beyond 360 degrees": (
        edit(
            "[grid]",
            '[grid]\nkind = "beibu"',
            edit("x_m = 250.0\ny_m = 2500.0", "lon = 1e6\nlat = 21.0"),
        ),
        ["source[0].lon must be <= 360"],
    ),
}


@pytest.mark.parametrize("case", list(NUMBER_CASES))
def test_numbers_python_cannot_use_are_named(tmp_path, case):
    text, fragments = NUMBER_CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as err:
        load_config(path)
    one_line(err, str(path), *fragments)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("grid.dx_m=1e999", "grid.dx_m must be a finite number"),
        ("grid.dx_m=" + "9" * 5000, "4300 digits"),
        ("grid.land=" + "[" * 3000 + "]" * 3000, "nests too deeply"),
        (f"run.duration_days={HUGE}", "run.duration_days"),
    ],
)
def test_overrides_go_through_the_same_checks(tmp_path, override, fragment):
    with pytest.raises(BadInputError) as err:
        load_config(write(tmp_path, BASE), [override])
    one_line(err, fragment)


def test_a_parsed_mapping_is_checked_like_a_file():
    # parse_config takes Python dicts too (scenario files, notebooks): the same walk applies
    raw = {"grid": {"nx": 10**30, "ny": 2, "dx_m": 1.0, "dy_m": 1.0}, "tracers": {"DIN": {}}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    one_line(err, "<config>", "grid.nx", "64-bit")


DATA_FILES = {
    "sources file with a NaN longitude": (
        "sources.toml",
        lambda p: read_source_table(p),
        '[[source]]\nname = "a"\nlon = nan\n',
        ["source[0].lon must be a finite number", "found nan"],
    ),
    "zones file with a huge integer vertex": (
        "zones.toml",
        lambda p: load_zones(p),
        f'[[zone]]\nkey = "a"\npolygon = [[{HUGE}, 21.0], [108.5, 21.0], [108.5, 21.5]]\n',
        ["zone[0].polygon[0][0]", "64-bit"],
    ),
    "control points nested 3000 deep": (
        "points.toml",
        lambda p: load_control_points(p),
        "[[point]]\nkey = " + "[" * 3000 + "]" * 3000 + "\n",
        ["nested too deeply"],
    ),
    "scenario file with a 5000-digit factor": (
        "spec.toml",
        lambda p: load_spec(p),
        f'base = "{CHANNEL.as_posix()}"\n[[scenario]]\nname = "a"\n'
        'operations = [{op = "scale", group = "all", factor = 1' + "0" * 5000 + "}]\n",
        ["more than 4300 digits", "line 4"],
    ),
    "ensemble file with inf cv": (
        "ens.toml",
        lambda p: load_ensemble(p),
        f'base = "{CHANNEL.as_posix()}"\n[[uncertain]]\nname = "a"\ncv = inf\n',
        ["uncertain[0].cv must be a finite number", "found inf"],
    ),
}


@pytest.mark.parametrize("case", list(DATA_FILES))
def test_every_toml_file_goes_through_the_same_reader(tmp_path, case):
    name, reader, text, fragments = DATA_FILES[case]
    path = write(tmp_path, text, name)
    with pytest.raises(BadInputError) as err:
        reader(path)
    one_line(err, str(path), *fragments)


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    "name, fragment",
    [
        ("x", "variable or coordinate"),
        ("y", "variable or coordinate"),
        ("lon", "variable or coordinate"),
        ("lat", "variable or coordinate"),
        ("time", "variable or coordinate"),
        ("time_bnds", "variable or coordinate"),
        ("cell_area", "variable or coordinate"),
        ("depth", "variable or coordinate"),
        ("wet", "variable or coordinate"),
        ("land_water", "variable or coordinate"),
        ("land_water_age", "variable or coordinate"),
        ("DIN_age", "ends in '_age'"),
        ("DIN_mean_days", "ends in '_mean_days'"),
        ("delta_mean", "begins with 'delta_'"),
        ("A@B", "source tags"),
        ("", "non-empty"),
        ("a/b", "letters, digits and underscores"),
        ("1DIN", "begin with a letter"),
        ("DIN PO4", "letters, digits and underscores"),
        ("a" * 65, "at most 64"),
    ],
)
def test_tracer_names_that_collide_or_netcdf_refuses_fail_at_load(tmp_path, name, fragment):
    path = write(tmp_path, BASE + f'\n[tracers."{name}"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    one_line(err, str(path), "tracers.", fragment)


def _output_names(ds: xr.Dataset, tracers) -> set[str]:
    return {str(n) for n in [*ds.variables, *ds.dims]} - set(tracers)


def test_reserved_names_cover_every_variable_bbw_bay_writes_beside_tracers(tmp_path):
    # the names collected in core.inputs, checked against what the outputs actually hold: the
    # CF table of core.output, a run with water age (time, bounds, land_water...), a steady
    # state and a scenario comparison (zone statistics, scenario coordinates)
    from bbw_bay.control.scenarios import run_scenarios
    from bbw_bay.core.simulation import Simulation

    tracers = ("DIN", "PO4", "COD", "oil")
    names = set(CF_ATTRIBUTES) - set(tracers)
    config = load_config(CHANNEL, ["run.duration_days=2", "run.water_age=true"])
    setup = assemble.build(config)
    run = Simulation.from_config(setup.model, config).run()
    names |= _output_names(run, tracers) - {"land_water", "land_water_age"}
    names |= {"land_water", "land_water_age"}
    names |= _output_names(setup.model.steady_state(), tracers)
    spec = write(
        tmp_path,
        f'base = "{CHANNEL.as_posix()}"\nset = [\'transport.advection="upwind"\']\n'
        '[[scenario]]\nname = "less"\noperations = [{op = "scale", group = "all", factor = 0.5}]\n',
        "spec.toml",
    )
    names |= _output_names(run_scenarios(spec), tracers)
    refused = {name for name in names if tracer_name_problem(name)}
    assert names - refused == set(), "output names a tracer could take"
    assert {"x", "cell_area", "time_bnds", "land_water"} <= RESERVED_NAMES


@pytest.mark.parametrize(
    "second, fragments",
    [
        ("Nan-liu", ["source[1] 'Nan-liu' and source[0] 'Nan liu'", "one label 'nan_liu'"]),
        ("Nan liu", ["source[1] 'Nan liu' and source[0] 'Nan liu' have the same name"]),
        ("NAN  LIU!", ["source[1] 'NAN  LIU!' and source[0] 'Nan liu'"]),
    ],
)
def test_source_names_that_share_a_tag_name_both_rows(tmp_path, second, fragments):
    text = edit('name = "river"', 'name = "Nan liu"') + (
        f'\n[[source]]\nname = "{second}"\nx_m = 750.0\ny_m = 2500.0\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    one_line(err, *fragments, "unique source names")


def test_a_source_name_needs_a_letter_or_digit(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, edit('name = "river"', 'name = " - "')))
    one_line(err, "source[0] name ' - ' has no letter or digit")


def test_a_sources_file_with_colliding_names_names_both_rows(tmp_path):
    text = (REPO / "forcing" / "sources.toml").read_text(encoding="utf-8")
    rows = read_source_table(REPO / "forcing" / "sources.toml")
    first = rows[0]["name"]
    renamed = text.replace(f'name = "{rows[1]["name"]}"', f'name = "{first.upper()}"', 1)
    path = write(tmp_path, renamed, "sources.toml")
    with pytest.raises(LoadsError) as err:
        read_source_table(path)
    one_line(err, str(path), f"source[1] {first.upper()!r} and source[0] {first!r}")


def test_inline_sources_may_not_repeat_a_sources_file_name(tmp_path):
    first = read_source_table()[0]["name"]
    text = textwrap.dedent(
        f"""\
        [grid]
        kind = "beibu"
        resolution_deg = 0.0666666666666667
        [tracers.DIN]
        decay_per_day = 0.01
        [sources]
        file = "default"
        [[source]]
        name = "{first.lower()}"
        lon = 109.0
        lat = 21.0
        """
    )
    config = load_config(write(tmp_path, text))
    grid = assemble.build_grid(config)
    with pytest.raises(ConfigError) as err:
        assemble.build_sources(config, grid, assemble.build_tracers(config))
    one_line(err, f"source[0] {first.lower()!r} and sources.file source[0] {first!r}")


def test_the_library_refuses_colliding_source_names_too():
    grid = Grid.cartesian(4, 4, dx=100.0, dy=100.0, open_boundaries=("east",))
    sources = [PointSource("Out-fall", x=50.0, y=50.0), PointSource("out fall", x=150.0, y=50.0)]
    with pytest.raises(SourceError) as err:
        SourceLayout.build(grid, sources, ("DIN",))
    one_line(err, "source[1] 'out fall' and source[0] 'Out-fall'")


# ----------------------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    "rect, fragments",
    [
        ("[5000.0, 1000.0, 0.0, 5000.0]", ["grid.land[0]", "x0_m > x1_m", "swap"]),
        ("[0.0, 1000.0, 4000.0, 1000.0]", ["grid.land[0]", "y0_m > y1_m"]),
        ("[50000.0, 60000.0, 0.0, 5000.0]", ["outside the grid", "x 0–10000 m"]),
        ("[-900.0, -100.0, 0.0, 5000.0]", ["outside the grid"]),
        ("[100.0, 200.0, 0.0, 5000.0]", ["covers no cell centre", "500 m × 500 m"]),
    ],
)
def test_land_rectangles_accepted_silently_before_are_refused(tmp_path, rect, fragments):
    path = write(tmp_path, edit("depth_m = 6.0", f"depth_m = 6.0\nland = [{rect}]"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    one_line(err, str(path), *fragments)


def test_a_land_rectangle_on_its_cells_still_makes_land(tmp_path):
    # the guard against rectangles that cover nothing leaves real ones alone: x 0–1 km holds
    # the centres 250 and 750 m, so two columns become land
    path = write(tmp_path, edit("depth_m = 6.0", "depth_m = 6.0\nland = [[0, 1000, 0, 5000]]"))
    grid = assemble.build_grid(load_config(path))
    assert not grid.wet[:, :2].any() and grid.wet[:, 2:].all()


def test_an_open_boundary_listed_twice_is_refused(tmp_path):
    path = write(tmp_path, edit('open_boundaries = ["east"]', 'open_boundaries = ["east", "east"]'))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    one_line(err, "grid.open_boundaries lists 'east' twice")


def test_land_rectangles_on_a_gulf_grid_are_refused(tmp_path):
    text = '[grid]\nkind = "beibu"\nland = [[0, 1, 0, 1]]\n[tracers.DIN]\n'
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    one_line(err, "grid.land applies to cartesian grids")


def test_the_gulf_sources_file_on_a_cartesian_grid_is_refused(tmp_path):
    path = write(tmp_path, edit("[[source]]", '[sources]\nfile = "default"\n[[source]]'))
    config = load_config(path)
    with pytest.raises(ConfigError) as err:
        assemble.build(config)
    one_line(err, str(path), "sources.file = 'default' on a cartesian grid", "as metres")


@pytest.mark.parametrize(
    "kind, position, fragment",
    [
        ("cartesian", "x_m = 250.0\ny_m = 2500.0\nlon = 108.0\nlat = 21.0", "gives lon and lat"),
        ("beibu", "lon = 108.0\nlat = 21.0\nx_m = 250.0", "gives x_m"),
    ],
)
def test_source_coordinates_of_the_other_grid_kind_are_refused(tmp_path, kind, position, fragment):
    text = edit("[grid]", f'[grid]\nkind = "{kind}"', edit("x_m = 250.0\ny_m = 2500.0", position))
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    one_line(err, "source[0] ('river')", fragment)


def test_a_lon_lat_source_is_refused_on_a_cartesian_grid_by_the_library():
    grid = Grid.cartesian(400, 400, dx=500.0, dy=500.0, open_boundaries=("east",))
    # 108E 21N read as metres would fall inside this 200 km grid
    source = PointSource("Nanliu", x=108.0, y=21.0, geographic=True)
    with pytest.raises(SourceError) as err:
        source.locate(grid)
    one_line(err, "lon/lat [degrees]", "grid is cartesian")


def test_lon_lat_control_points_and_zones_are_refused_on_a_cartesian_grid():
    grid = Grid.cartesian(400, 400, dx=500.0, dy=500.0, open_boundaries=("east",))
    with pytest.raises(ReceptorError) as err:
        point_receptors(grid, load_control_points())
    one_line(err, "is given as lon and lat [degrees]", "cartesian (x/y [m])")
    from bbw_bay.core.output import grid_dataset

    with pytest.raises(ZoneError) as err:
        zone_masks(grid_dataset(grid), load_zones())
    one_line(err, "polygon in lon/lat [degrees]", "cartesian (x/y [m])")


def test_x_y_control_points_are_refused_on_a_geographic_grid(tmp_path):
    path = write(
        tmp_path,
        '[[point]]\nkey = "p"\nname = "p"\ntarget_class = 2\nzone = ""\nprovince = ""\n'
        'x_m = 108.5\ny_m = 21.5\ncitations = {position = "test", target_class = "test"}\n',
        "points.toml",
    )
    grid = Grid.geographic_grid(np.linspace(108, 109, 11), np.linspace(21, 22, 11), depth=10.0)
    with pytest.raises(ReceptorError) as err:
        point_receptors(grid, load_control_points(path))
    one_line(err, "control point 'p'", "x_m and y_m [m]", "grid is lon/lat")


# ----------------------------------------------------------------------------- work
def test_a_tiny_cell_gives_a_work_estimate_beyond_the_bound(tmp_path):
    text = edit("dx_m = 500.0\ndy_m = 500.0", "dx_m = 1e-4\ndy_m = 1e-4")
    text = edit("x_m = 250.0\ny_m = 2500.0", "x_m = 5e-5\ny_m = 5e-4", text)
    text = edit("discharge_m3_per_s = 15.0", "discharge_m3_per_s = 1e-9", text)
    setup = assemble.build(load_config(write(tmp_path, text)))
    estimate = estimate_work(setup.model, duration=DAY, output_interval=DAY)
    assert estimate.dt < 1e-6  # diffusion over 0.1 mm cells: dt ~ dx²/(4K) ~ 1e-10 s
    with pytest.raises(WorkError) as err:
        check_work(estimate)
    one_line(err, "cell-steps exceed the bound", "unit slip", "--force")
    assert check_work(estimate, force=True) is estimate


def test_a_given_time_step_of_1e_minus_300_s_is_refused_by_the_work_bound(tmp_path):
    text = edit("[run]", "[transport]\ndt_s = 1e-300\n[run]")
    setup = assemble.build(load_config(write(tmp_path, text)))
    estimate = estimate_work(setup.model, duration=DAY, output_interval=DAY, dt=1e-300)
    assert estimate.dt_source == "given" and estimate.steps == pytest.approx(8.64e304)
    with pytest.raises(WorkError) as err:
        check_work(estimate)
    one_line(err, "8.64e+304 steps of dt = 1e-300 s (given)", "--force")


def test_shipped_runs_are_within_the_work_bound():
    setup = assemble.build(load_config(CHANNEL))
    year = estimate_work(setup.model, duration=365 * DAY, output_interval=DAY)
    # the channel: 4,200 wet cells × 3 tracers, dt ~ 1,000 s, a year ~ 4e8 cell-steps
    assert year.cell_steps < MAX_CELL_STEPS / 100
    check_work(year)


def test_a_million_ensemble_members_exceed_the_bound():
    setup = assemble.build(load_config(CHANNEL), steady=True)
    twenty = estimate_work(setup.model, kind="ensemble", members=20)
    check_work(twenty)
    million = estimate_work(setup.model, kind="ensemble", members=1_000_000)
    # members multiply the work (the per-member cost is the same estimate)
    assert million.cell_steps == pytest.approx(twenty.cell_steps * 50_000, rel=1e-12)
    with pytest.raises(WorkError) as err:
        check_work(million)
    one_line(err, "1,000,000 members", "--force")


def test_output_records_beyond_the_memory_bound_are_refused():
    setup = assemble.build(load_config(CHANNEL))
    many = estimate_work(setup.model, duration=DAY, output_interval=DAY, fields_kept=10**7)
    with pytest.raises(WorkError) as err:
        check_work(many)
    one_line(err, "of memory exceeds the bound of 16 GB")


# ----------------------------------------------------------------------------- currents
def _grid() -> Grid:
    return Grid.cartesian(10, 6, dx=1000.0, dy=1000.0, depth=10.0, open_boundaries=("east",))


def _currents(times=None, time_units=None, *, speed=0.1, units="m/s", levels=None):
    x, y = np.linspace(-500.0, 10500.0, 12), np.linspace(-500.0, 6500.0, 8)
    dims, shape, coords = ("y", "x"), (y.size, x.size), {"x": x, "y": y}
    if levels is not None:
        dims, shape = ("depth", *dims), (len(levels), *shape)
        coords["depth"] = levels
    if times is not None:
        dims, shape = ("time", *dims), (len(times), *shape)
        coords["time"] = (
            "time",
            np.asarray(times, float),
            {"units": time_units} if time_units else {},
        )
    u = np.full(shape, speed)
    return xr.Dataset(
        {"u": (dims, u, {"units": units}), "v": (dims, np.zeros(shape), {"units": units})},
        coords=coords,
    )


@pytest.mark.parametrize(
    "units, factor",
    [("days", DAY), ("hours", 3600.0), ("days since 2000-01-01", DAY), (None, 1.0)],
)
def test_numeric_times_are_read_in_their_units(tmp_path, units, factor):
    # "days" without an epoch is not decoded by xarray; it was read as seconds (a month of
    # currents became 59 s). Units without an epoch are fine: times count from the first.
    path = tmp_path / "c.nc"
    _currents([0.0, 31.0, 59.0], units).to_netcdf(path)
    times, _, _ = dataset_transports(_grid(), path)
    np.testing.assert_allclose(times, np.array([0.0, 31.0, 59.0]) * factor, rtol=1e-15)


def test_times_in_months_are_refused():
    with pytest.raises(CurrentsError) as err:
        dataset_transports(_grid(), _currents([0.0, 1.0], "fortnights"))
    one_line(err, "time 'time' has units 'fortnights'", "seconds, minutes, hours or days")


def test_a_single_surface_level_is_the_depth_average(caplog):
    grid = _grid()
    _, tu_2d, _ = dataset_transports(grid, _currents())
    with caplog.at_level(logging.INFO, logger="bbw_bay.core.currents"):
        _, tu_1, _ = dataset_transports(grid, _currents(levels=[0.0]))
    # the same field: a single level is taken as it is (equal to round-off of one projection)
    np.testing.assert_allclose(tu_1, tu_2d, rtol=0, atol=1e-12)
    assert "single level" in caplog.text


@pytest.mark.parametrize("speed, units", [(1e4, "m/s"), (2e3, "cm/s"), (9.9e36, "m/s")])
def test_speeds_beyond_any_ocean_current_are_refused(speed, units):
    with pytest.raises(CurrentsError) as err:
        dataset_transports(_grid(), _currents(speed=speed, units=units))
    one_line(err, "variable 'u' reaches", "above the 10 m/s")


def test_a_fast_but_real_current_in_cm_per_s_is_accepted():
    grid = Grid.cartesian(10, 6, dx=1000.0, dy=1000.0, depth=10.0, open_boundaries=("west", "east"))
    _, tu, _ = dataset_transports(grid, _currents(speed=150.0, units="cm/s"))
    # 1.5 m/s × 10 m × 1000 m face = 1.5e4 m³/s: a uniform flow between two open edges is
    # divergence-free, so the projection leaves it alone (to round-off)
    np.testing.assert_allclose(tu[0][grid.flux_u], 1.5e4, rtol=1e-9)


def test_monthly_currents_carry_each_months_river_discharge():
    grid = _grid()
    river = np.zeros(grid.shape)
    river[3, 0] = 1.0

    def discharge(time):  # 10 m³/s in even months, 30 in odd ones; None: the annual mean
        return river * (20.0 if time is None else (10.0, 30.0)[int(time // (30 * DAY)) % 2])

    times, tu, tv = dataset_transports(
        grid, _currents([15.0, 45.0, 75.0], "days"), river_discharge=discharge
    )
    for k, time in enumerate(times):
        div = (tu[k][:, 1:] - tu[k][:, :-1]) + (tv[k][1:] - tv[k][:-1])
        # divergence = that month's discharge (round-off of the sparse projection)
        np.testing.assert_allclose(div, discharge(time), atol=1e-8)


def test_a_monthly_currents_file_runs_with_the_shipped_monthly_rivers(tmp_path):
    # was: "net outflow 1077 m³/s vs river discharge 1077 m³/s" (the flow carried the annual
    # discharge, the model checked each month's)
    lon, lat = np.arange(104.0, 114.01, 0.25), np.arange(15.5, 24.01, 0.25)
    shape = (12, lat.size, lon.size)
    xr.Dataset(
        {
            "u": (("time", "lat", "lon"), np.full(shape, 0.05), {"units": "m/s"}),
            "v": (("time", "lat", "lon"), np.zeros(shape), {"units": "m/s"}),
        },
        coords={
            "time": ("time", np.arange(12) * 30.4375 + 15, {"units": "days"}),
            "lat": lat,
            "lon": lon,
        },
    ).to_netcdf(tmp_path / "monthly.nc")
    text = textwrap.dedent(
        """\
        [grid]
        kind = "beibu"
        resolution_deg = 0.0666666666666667
        [flow]
        kind = "dataset"
        path = "monthly.nc"
        fill_nearest = true
        [sources]
        file = "default"
        [tracers.DIN]
        decay_per_day = 0.02
        """
    )
    setup = assemble.build(load_config(write(tmp_path, text)))
    assert setup.flow.times.size == 12 and setup.model.layout.time_varying


def test_the_fill_nearest_hint_names_the_config_key():
    grid = _grid()
    ds = _currents()
    ds["u"][:, :6] = np.nan
    with pytest.raises(CurrentsError) as err:
        dataset_transports(grid, ds)
    one_line(err, "flow.fill_nearest = true", "fill_nearest=True")


# ----------------------------------------------------------------------------- scenarios
def _spec(tmp_path, operations: str, *, extra: str = "") -> Path:
    return write(
        tmp_path,
        f'base = "{CHANNEL.as_posix()}"\n{extra}[[scenario]]\nname = "s"\n'
        f"operations = [{operations}]\n",
        "spec.toml",
    )


@pytest.mark.parametrize(
    "operations, fragments",
    [
        (
            '{op = "scale", group = "all", factor = 1e300}',
            ["operations[0] (op = 'scale')", "t/yr", "above the 1e+07 t/yr"],
        ),
        (
            '{op = "add_outfall", name = "big", x_m = 40000.0, y_m = 15000.0, '
            "loads_t_per_yr = {DIN = 1e12}}",
            ["operations[0] (op = 'add_outfall')", "1e+12 t/yr", "above the 1e+07 t/yr"],
        ),
        (
            '{op = "add_outfall", name = "River", x_m = 40000.0, y_m = 15000.0, '
            "loads_t_per_yr = {DIN = 1.0}}",
            ["a source with the same label as 'River', 'river' already exists"],
        ),
        ('{op = "set", values = ["grid.nx=60"]}', ["changes the grid", "grid.nx = 60, base 120"]),
        ('{op = "season", season = "winter"}', ["a season changes nothing", "'rivers'"]),
        (
            '{op = "decay", tracer = "DIN", factor = 1e300}',
            ["tracers.DIN.decay_per_day must be <= 1000", "found 2.0000000000000002e+298"],
        ),
    ],
)
def test_scenario_operations_keep_the_configs_bounds(tmp_path, operations, fragments):
    spec = load_spec(_spec(tmp_path, operations))
    with pytest.raises(ScenarioError) as err:
        plan(spec)
    one_line(err, str(spec.path), "scenario 's'", *fragments)


def test_run_seasons_on_a_config_without_seasons_are_refused(tmp_path):
    spec = load_spec(
        _spec(
            tmp_path, '{op = "remove", source = "outfall"}', extra='[run]\nseasons = ["winter"]\n'
        )
    )
    with pytest.raises(ScenarioError) as err:
        plan(spec)
    one_line(err, "run.seasons = ['winter']", "a season changes nothing")


def test_a_scaled_load_within_the_bounds_still_plans(tmp_path):
    spec = load_spec(_spec(tmp_path, '{op = "scale", group = "all", factor = 3.0}'))
    assert [c.label for c in plan(spec)] == ["baseline", "s"]


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ('distribution = "lognormal"\ncv = 1e200', "cv must be a number in [0, 10]"),
        ('distribution = "uniform"\nlow = 0.5\nhigh = 1e6', "high must be a number in [0, 1000]"),
    ],
)
def test_ensemble_spreads_are_bounded(tmp_path, entry, fragment):
    path = write(
        tmp_path,
        f'base = "{CHANNEL.as_posix()}"\n[[uncertain]]\nname = "a"\nkind = "decay"\n'
        f'tracer = "DIN"\nbasis = "estimate: test"\n{entry}\n',
        "ens.toml",
    )
    with pytest.raises(EnsembleError) as err:
        load_ensemble(path)
    one_line(err, str(path), "uncertain[0] 'a'", fragment)


def test_ensemble_members_are_bounded(tmp_path):
    path = write(
        tmp_path,
        f'base = "{CHANNEL.as_posix()}"\n[run]\nmembers = 10000000\n[[uncertain]]\nname = "a"\n'
        'kind = "decay"\ntracer = "DIN"\nbasis = "estimate: test"\ndistribution = "lognormal"\n'
        "cv = 0.3\n",
        "ens.toml",
    )
    with pytest.raises(EnsembleError) as err:
        load_ensemble(path)
    one_line(err, "run.members must be <= 1,000,000", "10000000")


def test_the_load_bound_is_the_configs(tmp_path):
    # PointSource applies the config's bound after every change: exactly at it is accepted
    limit = 1.0e7 * TONNE_PER_YEAR
    PointSource("a", x=0.0, y=0.0, loads={"DIN": limit})
    with pytest.raises(SourceError):
        PointSource("a", x=0.0, y=0.0, loads={"DIN": limit * (1 + 1e-9)})
