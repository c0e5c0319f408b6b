"""The bbw-bay command line: commands, exit codes, clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import netCDF4
import numpy as np
import pytest
import xarray as xr

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
    assert ds.sizes["time"] == 3
    assert "input_checksums" in ds.attrs
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
