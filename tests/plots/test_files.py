"""`plot_file`: writes images of each kind from netCDF files and names valid choices when
given a bad one; `save_figure` writes atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import os  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from bbw_bay import plots  # noqa: E402
from tests.plots.conftest import cartesian_grid, geographic_grid, make_dataset  # noqa: E402


def test_save_figure_is_atomic_png_at_150_dpi(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = plots.save_figure(fig, tmp_path / "fig.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    k = data.index(b"pHYs")  # pixels per metre: 150 dpi = 5905.5 /m, stored rounded
    assert int.from_bytes(data[k + 4 : k + 8], "big") == round(150 / 0.0254)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_plot_file_writes_each_kind(tmp_path):
    grid = geographic_grid()
    ds = make_dataset(grid)
    ds["u"] = ds["depth"] * 0 + 0.1
    ds["v"] = ds["depth"] * 0
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    for kind in ("concentration", "class", "flow", "timeseries"):
        out = plots.plot_file(path, kind, tracer="DIN", output=tmp_path / f"{kind}.png")
        assert out.read_bytes()[:4] == b"\x89PNG"
    default = plots.plot_file(path, "concentration")
    assert default == tmp_path / "run_concentration.png" and default.exists()


def test_plot_file_scenarios_from_a_scenario_table(tmp_path):
    table = xr.Dataset(
        {"overall_good_share": (("scenario", "zone"), [[0.4, 0.9], [0.6, 1.0]])},
        coords={"scenario": ["base", "cut"], "zone": ["a", "b"]},
    )
    path = tmp_path / "scen.nc"
    table.to_netcdf(path)
    out = plots.plot_file(path, "scenarios", output=tmp_path / "s.png")
    assert out.exists()


def test_plot_file_errors_name_the_valid_choices(tmp_path):
    ds = make_dataset(cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    with pytest.raises(
        ValueError, match="valid kinds: concentration, class, flow, timeseries, scenarios"
    ):
        plots.plot_file(path, "contour")
    with pytest.raises(ValueError, match="tracers present: DIN, PO4"):
        plots.plot_file(path, "concentration", tracer="NH4")
    with pytest.raises(ValueError, match="no u and v"):
        plots.plot_file(path, "flow")
    with pytest.raises(ValueError, match="'scenario' dimension"):
        plots.plot_file(path, "scenarios")
    with pytest.raises(FileNotFoundError):
        plots.plot_file(tmp_path / "missing.nc", "class")


def test_plot_file_uses_no_pyplot_figure(tmp_path):
    """The CLI path draws on a bare Figure, so repeated calls leave no open pyplot figures."""
    ds = make_dataset(cartesian_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    plt.close("all")
    plots.plot_file(path, "class", output=tmp_path / "c.png")
    assert plt.get_fignums() == []


def test_plot_time_option_is_checked(tmp_path, capsys):
    # --time takes 'mean' or a record index; anything else is a bad input (exit 2)
    from bbw_bay.cli.main import main

    code = main(
        [
            "plot",
            str(tmp_path / "missing.nc"),
            "--kind",
            "flow",
            "--time",
            "mean",
            "-o",
            str(tmp_path / "f.png"),
        ]
    )
    assert code == 2
    assert "--time applies to --kind concentration or class" in capsys.readouterr().err


def test_plot_file_passes_map_options_and_refuses_ones_of_other_kinds(tmp_path):
    ds = make_dataset(geographic_grid())
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    out = plots.plot_file(
        path,
        "concentration",
        tracer="DIN",
        output=tmp_path / "c.png",
        vmin=0.0,
        vmax=0.8,
        extent=(108.2, 109.2, 20.2, 21.2),
        zones=False,
        places=False,
        time=None,  # an option the CLI did not set
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(plots.PlotError, match="vmax do not apply to --kind class"):
        plots.plot_file(path, "class", vmax=1.0)


def test_plot_file_apportionment_and_capacity_files(tmp_path):
    app = xr.Dataset(
        {"contribution": (("tracer", "receptor", "source"), [[[0.3, 0.1], [0.05, 0.2]]])},
        coords={
            "tracer": ["DIN"],
            "receptor": ["zone:a", "zone:b"],
            "receptor_name": ("receptor", ["Bay A", "Bay B"]),
            "source": ["Qin", "Suixi"],
        },
    )
    app.to_netcdf(tmp_path / "app.nc")
    out = plots.plot_file(tmp_path / "app.nc", "apportionment", output=tmp_path / "a.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    cap = xr.Dataset(
        {"today": ("source", [100.0, 50.0]), "allowable": ("source", [60.0, 80.0])},
        coords={"source": ["Nanliu", "Qin"]},
    )
    cap.to_netcdf(tmp_path / "cap.nc")
    out = plots.plot_file(tmp_path / "cap.nc", "capacity", output=tmp_path / "k.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(plots.PlotError, match="'contribution'"):
        plots.plot_file(tmp_path / "cap.nc", "apportionment")


def test_plot_file_flow_on_a_real_steady_output_file(tmp_path):
    """`bbw-bay steady` on the channel case, then `plot --kind flow` on its file.

    The velocities are added here as the output writer is asked to write them (u, v at cell
    centres from `bbw_bay.core.flow.centre_velocities` of the run's flow, with the CF
    attributes of `bbw_bay.core.output.CF_ATTRIBUTES`): files written today carry none, so
    without them plot --kind flow answers with a bad-input error naming u and v."""
    from bbw_bay.cli.main import main
    from bbw_bay.core.config import load_config, resolve_config_path
    from bbw_bay.core.flow import centre_velocities
    from bbw_bay.core.output import CF_ATTRIBUTES
    from bbw_bay.gulf.assemble import build

    steady = tmp_path / "steady.nc"
    assert main(["steady", "channel", "-o", str(steady), "-q"]) == 0
    with xr.open_dataset(steady) as ds:
        ds = ds.load()
    if "u" not in ds:
        with pytest.raises(plots.PlotError, match="no u and v"):
            plots.plot_file(steady, "flow", output=tmp_path / "none.png")
        setup = build(load_config(resolve_config_path("channel")), steady=True)
        u, v = centre_velocities(setup.flow)
        for name, values in (("u", u), ("v", v)):
            ds[name] = (("y", "x"), values, CF_ATTRIBUTES[name])
        steady = tmp_path / "steady_with_velocities.nc"
        ds.to_netcdf(steady)
    out = plots.plot_file(steady, "flow", output=tmp_path / "flow.png", style="arrows")
    assert out.read_bytes()[:4] == b"\x89PNG"
    ax = plots.flow_map(xr.open_dataset(steady).load(), kind="arrows")
    arrows = np.concatenate([q.U for q in ax.collections if type(q).__name__ == "Quiver"])
    # the river runs from the channel's head (x = 250 m) to the open east edge: downstream
    assert arrows.size and np.mean(arrows > 0) > 0.9
