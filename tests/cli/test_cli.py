"""The bbw-bay command line: commands, exit codes, clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

import bbw_bay as bb
from bbw_bay.cli.main import main
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"


def run_cli(*args):
    return main([str(a) for a in args])


def test_check_prints_resolved_settings_time_step_and_courant(capsys):
    assert run_cli("check", CHANNEL) == 0
    out = capsys.readouterr().out
    assert "time step" in out and "Courant" in out and "[transport]" in out


def test_run_writes_cf_netcdf_with_config_and_budget(tmp_path, capsys):
    out = tmp_path / "channel.nc"
    assert run_cli("run", CHANNEL, "--set", "run.duration_days=2", "-o", out, "-q") == 0
    ds = xr.open_dataset(out)
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert "channel" in ds.attrs["config"] and "run.duration_days=2" in ds.attrs["config"]
    assert ds["DIN"].attrs["units"] == "mg L-1"
    # records are time means over each 1-day output interval by default: two records for two
    # days (no initial state), stamped at the middle of their bounds
    assert ds.sizes["time"] == 2 and ds["DIN"].attrs["cell_methods"] == "time: mean"
    bounds = (ds["time_bnds"].values - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")
    np.testing.assert_array_equal(bounds, [[0.0, 1.0], [1.0, 2.0]])
    assert "input_checksums" in ds.attrs and "storage_change_of_load" in ds.attrs
    ds.close()
    # the file is complete netCDF (atomic write leaves no temporary behind)
    assert [p.name for p in tmp_path.iterdir()] == ["channel.nc"]
    netCDF4.Dataset(out).close()


def test_existing_output_is_not_clobbered_without_overwrite(tmp_path, capsys):
    out = tmp_path / "x.nc"
    out.write_text("precious")
    assert run_cli("run", CHANNEL, "-o", out, "--set", "run.duration_days=0.5") == 2
    assert out.read_text() == "precious"
    assert "--overwrite" in capsys.readouterr().err


def test_steady_agrees_with_long_run(tmp_path):
    steady = tmp_path / "s.nc"
    assert run_cli("steady", CHANNEL, "-o", steady, "-q") == 0
    ds = xr.open_dataset(steady)
    assert set(ds["DIN"].dims) == {"y", "x"}
    assert float(ds["DIN"].max()) > 0.05  # above background near the river
    ds.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "[tracers.DIN]\ndecay_per_dya = 0.1\n",
            "unknown key 'decay_per_dya' in [tracers.DIN]; did you mean 'decay_per_day'",
        ),
        ("[grid]\nnx = 'ten'\n", "grid.nx must be int"),
        ("[grid\nnx=1", "malformed TOML"),
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "[tracers.DIN]\n[[source]]\nname = 'a'\nx_m = 10.0\ny_m = 10.0\n"
            "loads_g_per_s = { DIN = -5.0 }\n",
            "must be a number >= 0",
        ),
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "[tracers.DIN]\n[[source]]\nname = 'far'\nx_m = 99999.0\ny_m = 10.0\n"
            "loads_g_per_s = { DIN = 5.0 }\n",
            "lies outside the grid",
        ),
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "land = [[0.0, 300.0, 0.0, 500.0]]\n[tracers.DIN]\n[[source]]\nname = 'dry'\n"
            "x_m = 50.0\ny_m = 50.0\nloads_g_per_s = { DIN = 5.0 }\n"
            "[sources]\nsnap_to_sea = false\n",
            "is on land; nearest wet cell is",
        ),
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "open_boundaries = ['west', 'east']\n[flow]\nu_m_per_s = 1.0\n"
            "[transport]\ndt_s = 5000.0\n"
            "[tracers.DIN]\n",
            "exceeds the stability (positivity) limit",
        ),
        (
            "[grid]\nkind = 'cartesian'\nnx = 10\nny = 5\ndx_m = 100.0\ndy_m = 100.0\n"
            "[flow]\nkind = 'uniform'\n[tracers.DIN]\n[[source]]\nname = 'r'\nx_m = 50.0\n"
            "y_m = 50.0\ndischarge_m3_per_s = 10.0\n",
            "cannot carry river discharges",
        ),
    ],
)
def test_bad_configs_give_one_clear_message_and_exit_code_2(tmp_path, capsys, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert run_cli("run", path, "-o", tmp_path / "o.nc") == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert str(path) in err or "source" in err or "time step" in err


def test_missing_config_file_is_exit_code_2(tmp_path, capsys):
    assert run_cli("check", tmp_path / "nope.toml") == 2
    assert "not found" in capsys.readouterr().err


def test_unwritable_output_folder_is_exit_code_2(tmp_path, capsys):
    assert run_cli("run", CHANNEL, "-o", tmp_path / "missing" / "x.nc") == 2
    assert "does not exist" in capsys.readouterr().err


def test_console_script_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "bbw_bay.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "examples:" in result.stdout


def test_divergence_mismatch_names_the_source():
    import bbw_bay as bb

    grid = bb.Grid.cartesian(10, 5, dx=100.0, dy=100.0, open_boundaries=("east",))
    flow = bb.Flow.steady(grid, u=0.0)
    with pytest.raises(bb.ModelError, match="source 'river'"):
        bb.Model(
            grid,
            flow,
            tracers={"DIN": bb.Tracer()},
            sources=[bb.PointSource("river", x=50, y=250, loads={"DIN": 1.0}, discharge=5.0)],
        )


def test_nan_in_flow_is_a_clear_error():
    import bbw_bay as bb

    grid = bb.Grid.cartesian(4, 3, dx=100.0, dy=100.0)
    u = np.zeros((3, 5))
    u[1, 2] = np.nan
    with pytest.raises(bb.core.flow.FlowError, match="NaN"):
        bb.Flow.steady(grid, u=u)


def test_info_reports_what_produced_a_file(tmp_path, capsys):
    out = tmp_path / "c.nc"
    assert run_cli("run", CHANNEL, "--set", "run.duration_days=0.5", "-o", out, "-q") == 0
    assert run_cli("info", out) == 0
    text = capsys.readouterr().out
    assert "bbw_bay" in text and "configs/channel.toml" in text and "sha256" in text


def test_verify_command_passes_its_analytic_cases(capsys):
    assert run_cli("verify") == 0
    out = capsys.readouterr().out
    from bbw_bay.core.verification import CASES

    # one PASS per case, the shallow-water cases (Thacker, lake at rest, channel tide) included
    assert out.count("PASS") == len(CASES) == 6 and "relative_l1_error" in out
    assert "max_surface_deviation_m" in out and "depth_mean_abs_error_m_1T" in out


def test_plot_command_writes_a_png(tmp_path):
    out = tmp_path / "c.nc"
    assert run_cli("run", CHANNEL, "--set", "run.duration_days=0.5", "-o", out, "-q") == 0
    png = tmp_path / "c.png"
    assert run_cli("plot", out, "--kind", "concentration", "--tracer", "DIN", "-o", png) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_with_water_age_and_source_tags(tmp_path):
    # run.water_age adds the land-water dye, its age and the mean age [days]; run.tag_sources
    # adds one tracer per source. (Age and tag physics are checked in tests/test_budget.py; here
    # the config-to-output path: variables present, ages within the run, tags non-negative.)
    import xarray as xr

    from bbw_bay.cli.main import main

    out = tmp_path / "tags.nc"
    code = main(
        [
            "run",
            str(REPO / "configs" / "channel.toml"),
            "-o",
            str(out),
            "-q",
            "--set",
            "run.duration_days=2",
            "--set",
            "run.water_age=true",
            "--set",
            'run.tag_sources=["DIN"]',
        ]
    )
    assert code == 0
    with xr.open_dataset(out) as ds:
        assert {
            "DIN@river",
            "DIN@outfall",
            "land_water",
            "land_water_age",
            "land_water_age_mean_days",
        } <= set(ds.data_vars)
        age = ds["land_water_age_mean_days"].values[-1]
        finite = age[np.isfinite(age)]
        # ages are positive and cannot exceed the 2-day run
        assert finite.size and finite.min() >= 0 and finite.max() <= 2.0 + 1e-9
        assert float(ds["DIN@river"].min()) >= 0


def test_run_prints_the_storage_change_of_the_evaluated_period(tmp_path, capsys):
    out = tmp_path / "c.nc"
    assert run_cli("run", CHANNEL, "--set", "run.duration_days=1", "-o", out) == 0
    printed = capsys.readouterr().out
    assert "storage change over the evaluated period, % of its load: DIN +" in printed
    # a channel filling from its background for one day is far from settled, and says so
    assert "NOT settled" in printed


def test_snapshot_output_and_spinup_options(tmp_path):
    out = tmp_path / "s.nc"
    sets = ["run.duration_days=1", "run.output_interval_days=0.5", 'run.output="snapshot"']
    sets += ["run.spinup_days=0.5"]
    assert run_cli("run", CHANNEL, *[a for s in sets for a in ("--set", s)], "-o", out, "-q") == 0
    with xr.open_dataset(out) as ds:
        days = (ds["time"].values - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")
        # the spin-up (days -0.5 to 0) is not written: snapshots at the start, 0.5 d and 1 d
        np.testing.assert_array_equal(days, [0.0, 0.5, 1.0])
        assert ds["DIN"].attrs["cell_methods"] == "time: point" and ds.attrs["spinup_steps"] > 0
        assert "spinup_mass_budget" in ds.attrs


def test_evaluate_refuses_a_file_that_begins_with_its_initial_state(tmp_path, capsys):
    # a snapshot file's first record is the initial state: its time mean would count it
    from bbw_bay.core.output import concentration_dataset, write_netcdf

    grid = bb.Grid.geographic_grid(
        np.linspace(108.0, 109.0, 4), np.linspace(21.0, 21.5, 3), depth=10.0
    )
    fields = np.full((2, 1, 2, 3), 0.1)
    write_netcdf(concentration_dataset(grid, ("DIN",), fields, [0.0, 86400.0]), tmp_path / "s.nc")
    assert run_cli("evaluate", tmp_path / "s.nc") == 2
    err = capsys.readouterr().err
    assert "its first record is the initial state" in err and "--drop-initial" in err
    assert run_cli("evaluate", tmp_path / "s.nc", "--drop-initial") == 0


def test_output_piped_into_a_reader_that_stops_ends_quietly(capsys, monkeypatch):
    # `bbw-bay ... | head`: the write that finds the pipe closed raises BrokenPipeError
    import bbw_bay.cli.run_commands as commands

    def closed_pipe(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(commands, "cmd_verify", closed_pipe)
    assert run_cli("verify") == 0
    assert capsys.readouterr().err == ""


def test_an_unexpected_exception_is_reported_as_a_bug_without_its_type(capsys, monkeypatch):
    import bbw_bay.cli.run_commands as commands

    def broken(args):
        raise KeyError("boundary")

    monkeypatch.setattr(commands, "cmd_verify", broken)
    assert run_cli("verify") == 1
    err = capsys.readouterr().err
    assert err.startswith("bbw-bay: internal error: 'boundary'") and "KeyError" not in err
    assert "this is a bug in bbw_bay" in err and "-v" in err and "Traceback" not in err
