"""``bbw-bay validate`` and ``bbw-bay calibrate`` on the gulf config, with winter-only rows so
that one season is solved; each command runs once (module fixtures) and the tests read its
output."""

from __future__ import annotations

import contextlib
import csv
import io

import pytest

from bbw_bay.cli.main import main
from tests.conftest import REPO

GULF = REPO / "configs" / "beibu_gulf.toml"
ROWS = """id,source,lon,lat,start,end,depth,variable,value,unit,uncertainty,note,region
lianzhou_din,A,109.12,21.55,2021-01-01,2021-01-31,surface,DIN,0.5,mg/L as N,,test,
qinzhou_din,B,108.62,21.70,2021-01-01,2021-01-31,,DIN,0.3,mg/L as N,0.1,test,
tieshan_cod,B,109.57,21.55,2021-01-10,2021-02-10,,COD,0.8,mg/L,,test,
beihai_k1,C,109.075,21.492,1975-01-01,1997-12-31,,K1_amplitude,0.9004,m,,test,
beihai_k1g,C,109.075,21.492,1975-01-01,1997-12-31,,K1_phase,336.0,deg,,test,
beihai_range,C,109.075,21.492,1975-01-01,1997-12-31,,tidal_range,2.5,m,,test,
gulf_res,D,108.0,20.0,2018-01-01,2018-01-31,,residence_days,66,d,,test,gulf_proper
qz_chl,E,108.62,21.62,2014-01-01,2014-01-31,surface,chlorophyll,2.38,ug/L,,test,
inland,F,107.0,23.0,2021-01-01,2021-01-31,,DIN,0.2,mg/L as N,,test,
gx_share,G,108.9,21.45,2021-01-01,2021-02-28,,class_I_II_share,93.1,percent,,test,
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("validate")
    (path / "winter.csv").write_text(ROWS, encoding="utf-8")
    return path


def _run(*args):
    """(exit code, stdout) of one bbw-bay command."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main([str(a) for a in args])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def validated(folder):
    """One validate run writing CSV and figure."""
    return _run(
        "validate",
        GULF,
        "--set",
        "transport.advection=upwind",  # one LU solve instead of MC defect correction: faster
        "--observations",
        folder / "winter.csv",
        "--csv",
        folder / "out.csv",
        "-o",
        folder / "fig.png",
    )


@pytest.fixture(scope="module")
def calibrated(folder):
    """One calibrate run."""
    return _run(
        "calibrate", GULF, "--observations", folder / "winter.csv", "-o", folder / "cal.toml"
    )


def _rows(folder):
    with (folder / "out.csv").open(encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_validate_writes_every_row_with_model_ratio_and_distance(validated, folder):
    code, _ = validated
    assert code == 0
    rows = _rows(folder)
    assert len(rows) == 10
    for key in ("id", "variable", "observed", "model", "ratio", "distance_km"):
        assert key in rows["lianzhou_din"]
    din = rows["lianzhou_din"]
    assert din["basis"] == "winter" and din["region"] == "lianzhou_bay"
    assert float(din["ratio"]) == pytest.approx(float(din["model"]) / 0.5, rel=1e-5)
    # Beihai's gauge sits in a land cell at 1/30 degree: the nearest wet cell, 2.8 km away
    assert 1.0 < float(rows["beihai_k1"]["distance_km"]) < 5.0
    assert rows["tieshan_cod"]["basis"] == "winter"  # 10 Jan - 10 Feb lies in DJF


def test_validate_says_which_rows_it_cannot_compare_and_why(validated, folder):
    _, out = validated
    rows = _rows(folder)
    assert rows["qz_chl"]["model"] == "" and "carries no chlorophyll" in rows["qz_chl"]["status"]
    assert "on land" in rows["inland"]["status"] and "> 5 km" in rows["inland"]["status"]
    assert "not compared:" in out and "qz_chl" in out and "inland" in out


def test_validate_prints_the_basis_tables_and_skill(validated):
    _, out = validated
    assert out.startswith("basis: steady state of each season")
    for title in ("concentrations:", "flushing times [days]:", "tidal amplitudes [m]:"):
        assert title in out
    assert "skill per variable and region" in out
    assert "DIN" in out and "all" in out  # two DIN regions, then all of them


def test_validate_flushing_row_is_the_model_efolding_time_of_its_region(validated, folder):
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from bbw_bay.gulf.geodata import gulf_proper_mask

    setup = build(load_config(GULF, []), season="winter", steady=True)
    expected = setup.model.efolding_times({"g": gulf_proper_mask(setup.grid)}, max_days=1000)["g"]
    # the CSV keeps 6 significant digits
    assert float(_rows(folder)["gulf_res"]["model"]) == pytest.approx(expected, rel=5e-6)


def test_validate_tide_rows_are_the_tidal_solution_in_the_matched_cell(validated, folder):
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build_grid
    from bbw_bay.gulf.tide_stations import mean_range
    from bbw_bay.gulf.tides import solve_tide

    grid = build_grid(load_config(GULF, []))
    j, i, _ = grid.nearest_wet(109.075, 21.492)  # Beihai: on land at 1/30 degree
    rows = _rows(folder)
    k1 = solve_tide(grid, "K1")
    # the CSV keeps 6 significant digits
    assert float(rows["beihai_k1"]["model"]) == pytest.approx(k1.amplitude[j, i], rel=5e-6)
    assert float(rows["beihai_k1g"]["model"]) == pytest.approx(k1.phase[j, i], rel=5e-6)
    constants = {c: complex(solve_tide(grid, c).eta[j, i]) for c in ("K1", "O1", "M2")}
    assert float(rows["beihai_range"]["model"]) == pytest.approx(mean_range(constants), rel=5e-6)


def test_validate_draws_the_figure_and_refuses_to_overwrite(validated, folder, capsys):
    assert (folder / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    args = ["validate", GULF, "--observations", folder / "winter.csv", "--csv", folder / "out.csv"]
    code = main([str(a) for a in args])
    assert code == 2 and "exists; add --overwrite" in capsys.readouterr().err


def test_a_bad_observation_row_exits_2_naming_row_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(ROWS.replace("2021-01-10", "2021-1-10"), encoding="utf-8")
    assert main(["validate", str(GULF), "--observations", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "column 'start'" in err and "'2021-1-10'" in err


def test_calibrate_prints_posterior_and_skill_and_writes_the_labelled_file(calibrated, folder):
    from bbw_bay.gulf.loads import read_source_table

    code, out = calibrated
    assert code == 0
    assert "posterior load multipliers per river group" in out
    assert "DIN Nanliu" in out and "leave-one-publication-out" in out
    assert "DIN loads of the informed sources [t/yr]" in out
    text = (folder / "cal.toml").read_text(encoding="utf-8")
    assert text.startswith("# label: calibrated") and "winter.csv" in text
    assert len(read_source_table(folder / "cal.toml")) == 26


def test_calibrate_never_writes_onto_the_inventory(calibrated, capsys):
    from bbw_bay.gulf.data import forcing_path

    target = str(forcing_path("sources.toml"))
    assert main(["calibrate", str(GULF), "-o", target, "--overwrite"]) == 2
    assert "is the cited inventory" in capsys.readouterr().err


def test_validate_refuses_a_run_file_from_another_grid(tmp_path, capsys):
    channel = tmp_path / "channel.nc"
    args = ["run", REPO / "configs" / "channel.toml", "--set", "run.duration_days=1"]
    assert main([str(a) for a in [*args, "-o", channel, "-q"]]) == 0
    assert main(["validate", str(GULF), str(channel)]) == 2
    assert "is not the config's grid" in capsys.readouterr().err
