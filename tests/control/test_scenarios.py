"""Scenario files: parsing, each operation's physical effect, the comparison table, the CLI.

The physics checks use the idealised channel with first-order upwind advection, whose steady
state solves a linear system A c = -(loads/V + inflow·background) exactly (sparse LU): changes
of the loads therefore act linearly, to round-off.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import xarray as xr

from bbw_bay.cli.main import main
from bbw_bay.control.scenario_compare import comparison_rows, comparison_table, default_zones
from bbw_bay.control.scenario_spec import ScenarioError, load_spec
from bbw_bay.control.scenarios import case_model, plan, run_scenarios
from bbw_bay.plots.files import plot_file
from bbw_bay.quality.evaluate import evaluate
from bbw_bay.units import TONNE_PER_YEAR
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"
TRACERS = ("DIN", "PO4", "COD")
#: Round-off of two sparse LU solves on the channel (condition number of A ~1e4, values O(1)).
LINEAR_ROUND_OFF = 1e-10


def write_spec(folder, body: str, *, name="spec.toml", header=None) -> str:
    header = (
        header
        if header is not None
        else (f'base = "{CHANNEL.as_posix()}"\nset = [\'transport.advection="upwind"\']\n')
    )
    path = folder / name
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def channel_results(tmp_path_factory):
    """One scenario file with every load operation, solved once for the physics checks."""
    folder = tmp_path_factory.mktemp("scenarios")
    spec = write_spec(
        folder,
        """
        [[scenario]]
        name = "DIN x0.6"
        operations = [{op = "scale", group = "all", tracer = "DIN", factor = 0.6}]
        [[scenario]]
        name = "no DIN"
        operations = [{op = "scale", group = "all", tracer = "DIN", factor = 0.0}]
        [[scenario]]
        name = "outfall removed"
        operations = [{op = "remove", source = "outfall"}]
        [[scenario]]
        name = "outfall zeroed"
        operations = [{op = "scale", source = "outfall", factor = 0.0}]
        [[scenario]]
        name = "outfall alone"
        operations = [{op = "remove", group = {kind = "river"}}]
        [[scenario]]
        name = "outfall alone, moved"
        operations = [{op = "remove", group = {kind = "river"}},
                      {op = "move", source = "outfall", x_m = 45000.0, y_m = 15000.0}]
        [[scenario]]
        name = "new outfall"
        [[scenario.operations]]  # the array-of-tables spelling of operations = [{...}]
        op = "add_outfall"
        name = "new"
        x_m = 40000.0
        y_m = 15000.0
        loads_t_per_yr = {DIN = 500.0}
        [[scenario]]
        name = "COD decay x3"
        operations = [{op = "decay", tracer = "COD", factor = 3.0}]
        """,
    )
    return run_scenarios(spec)


def field(ds, label, tracer):
    return np.nan_to_num(ds[tracer].sel(scenario=label).values)


def test_baseline_comes_first_and_every_scenario_is_solved(channel_results):
    labels = list(channel_results["scenario"].values)
    assert labels[0] == "baseline" and len(labels) == 9
    assert channel_results["DIN"].dims == ("scenario", "y", "x")


def test_scaling_a_tracers_loads_scales_its_excess_by_the_factor(channel_results):
    # linear steady state: c(f·s) − c(0) = f·(c(s) − c(0)) to round-off; other tracers unchanged
    ds = channel_results
    excess = field(ds, "baseline", "DIN") - field(ds, "no DIN", "DIN")
    scaled = field(ds, "DIN x0.6", "DIN") - field(ds, "no DIN", "DIN")
    assert np.abs(excess).max() > 0.1  # mg/L: the loads matter
    np.testing.assert_allclose(
        scaled, 0.6 * excess, rtol=0, atol=LINEAR_ROUND_OFF * np.abs(excess).max()
    )
    for tracer in ("PO4", "COD"):  # identical inputs and arithmetic: identical fields
        np.testing.assert_array_equal(field(ds, "DIN x0.6", tracer), field(ds, "baseline", tracer))


def test_removing_a_source_equals_zeroing_its_loads(channel_results):
    # the outfall has no discharge, so removing it leaves the flow and the operator unchanged
    for tracer in TRACERS:
        np.testing.assert_array_equal(
            field(channel_results, "outfall removed", tracer),
            field(channel_results, "outfall zeroed", tracer),
        )
    assert not np.array_equal(
        field(channel_results, "outfall removed", "DIN"), field(channel_results, "baseline", "DIN")
    )


def test_moving_a_source_moves_the_concentration_maximum(channel_results):
    ds = channel_results
    x, y = ds["x"].values, ds["y"].values
    for label, (x0, y0) in (
        ("outfall alone", (30000.0, 6000.0)),
        ("outfall alone, moved", (45000.0, 15000.0)),
    ):
        j, i = np.unravel_index(np.argmax(field(ds, label, "DIN")), (y.size, x.size))
        # the maximum sits in the cell holding the source (cells are 500 m wide)
        assert abs(x[i] - x0) <= 250.0 and abs(y[j] - y0) <= 250.0


def test_an_added_outfall_adds_exactly_its_load_to_the_budget(channel_results):
    budgets = json.loads(channel_results.attrs["mass_budget"])
    added = (
        budgets["new outfall"]["DIN"]["loads_in_g_per_s"]
        - budgets["baseline"]["DIN"]["loads_in_g_per_s"]
    )
    # 500 t/yr in g/s; relative round-off of a sum of a few loads
    assert added == pytest.approx(500.0 * TONNE_PER_YEAR, rel=1e-12)
    excess = field(channel_results, "new outfall", "DIN") - field(
        channel_results, "baseline", "DIN"
    )
    assert excess.min() >= -LINEAR_ROUND_OFF and excess.max() > 0.01


def test_faster_decay_lowers_that_tracer_everywhere_and_leaves_others(channel_results):
    # (kI − A)⁻¹ of an M-matrix decreases with k for every positive right-hand side
    fast, base = (
        field(channel_results, "COD decay x3", "COD"),
        field(channel_results, "baseline", "COD"),
    )
    assert np.all(fast <= base + LINEAR_ROUND_OFF) and (base - fast).max() > 0.01
    np.testing.assert_array_equal(
        field(channel_results, "COD decay x3", "DIN"), field(channel_results, "baseline", "DIN")
    )


def test_comparison_table_is_evaluate_of_each_scenario_and_its_change(channel_results):
    ds = channel_results
    zones = default_zones(ds)
    base = evaluate(ds.sel(scenario="baseline")[[*TRACERS, "cell_area", "wet"]], zones=zones)
    for label in ("DIN x0.6", "outfall removed"):
        direct = evaluate(ds.sel(scenario=label)[[*TRACERS, "cell_area", "wet"]], zones=zones)
        row = ds.sel(scenario=label)
        for name in ("good_share", "p95", "max", "mean", "passes", "overall_good_share"):
            np.testing.assert_array_equal(row[name].values, direct[name].values)
        # same numbers subtracted: exact
        np.testing.assert_array_equal(
            row["delta_p95"].values, direct["p95"].values - base["p95"].values
        )
        np.testing.assert_array_equal(
            row["delta_overall_good_share"].values,
            direct["overall_good_share"].values - base["overall_good_share"].values,
        )
    rows = comparison_rows(ds)
    assert len(rows) == ds.sizes["scenario"] * ds.sizes["zone"] * (len(TRACERS) + 1)
    text = comparison_table(ds)
    assert "DIN x0.6" in text and "p95/max" in text and "-40.0%" in text  # 0.6 × DIN p95


def test_cli_writes_netcdf_and_csv_refuses_to_clobber_and_plots(tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        """
        [[scenario]]
        name = "rivers -30% DIN"
        operations = [{op = "scale", group = {kind = "river"}, tracer = "DIN", factor = 0.7}]
        """,
    )
    out, table = tmp_path / "s.nc", tmp_path / "s.csv"
    assert main(["scenarios", spec, "-o", str(out), "--csv", str(table)]) == 0
    printed = capsys.readouterr().out
    assert "rivers -30% DIN" in printed and f"wrote {out}" in printed
    with xr.open_dataset(out) as ds:
        assert list(ds["scenario"].values) == ["baseline", "rivers -30% DIN"]
        assert ds["DIN"].dims == ("scenario", "y", "x")
        assert ds["overall_good_share"].dims == ("scenario", "zone")
        assert ds.attrs["scenario_mode"] == "steady" and "factor = 0.7" in ds.attrs["scenario_spec"]
    lines = table.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 2 * 1 * (len(TRACERS) + 1)  # header + scenario × zone × (tracers+1)
    before = out.stat().st_mtime_ns
    assert main(["scenarios", spec, "-o", str(out), "-q"]) == 2  # exists, no --overwrite
    assert "--overwrite" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    figure = plot_file(out, "scenarios", output=tmp_path / "bars.png")
    assert figure.stat().st_size > 10_000  # a PNG with bars, not an empty canvas


def test_run_mode_marches_each_scenario_and_evaluates_after_spinup(tmp_path):
    spec = write_spec(
        tmp_path,
        """
        [run]
        mode = "run"
        spinup_days = 0.1
        [[scenario]]
        name = "half loads"
        operations = [{op = "scale", group = "all", factor = 0.5}]
        """,
        header=(
            f'base = "{CHANNEL.as_posix()}"\n'
            'set = ["run.duration_days=0.2", "run.output_interval_days=0.05"]\n'
        ),
    )
    ds = run_scenarios(spec)
    assert ds["DIN"].dims == ("scenario", "time", "y", "x") and ds.sizes["time"] == 5
    assert ds.attrs["time_records"] == 3  # records at 0.1, 0.15, 0.2 days
    assert float(ds["delta_max"].sel(scenario="half loads", tracer="DIN").max()) < 0


def test_shipped_scenario_files_are_valid_for_the_gulf():
    labels = {}
    for path in sorted((REPO / "configs" / "scenarios").glob("*.toml")):
        cases = plan(load_spec(path))  # checks sources, provinces, positions, overrides
        assert cases[0].scenario.name == "baseline"
        # every change says where its numbers come from
        assert all(c.scenario.basis for c in cases if c.scenario.name != "baseline"), path
        labels[path.stem] = [c.label for c in cases]
    assert set(labels) >= {"guangxi_reduction", "outfall_relocation", "sensitivity"}
    assert "Guangxi rivers DIN -30%" in labels["guangxi_reduction"]
    assert "baseline [summer]" in labels["sensitivity"]


BAD = {
    "unknown source": (
        'operations = [{op = "scale", source = "outfal", factor = 0.5}]',
        "unknown source 'outfal'; expected one of outfall, river (did you mean 'outfall'?)",
    ),
    "unknown op": (
        'operations = [{op = "scael", group = "all", factor = 0.5}]',
        "did you mean 'scale'",
    ),
    "missing factor": ('operations = [{op = "scale", group = "all"}]', "missing key 'factor'"),
    "negative factor": (
        'operations = [{op = "scale", group = "all", factor = -1}]',
        "factor must be >= 0, found -1",
    ),
    "unknown tracer": (
        'operations = [{op = "scale", group = "all", tracer = "DIM", factor = 0.5}]',
        "unknown tracer 'DIM'; expected one of COD, DIN, PO4 (did you mean 'DIN'?)",
    ),
    "source and group": (
        'operations = [{op = "remove", source = "river", group = "all"}]',
        "exactly one of source",
    ),
    "bad kind": (
        'operations = [{op = "scale", group = {kind = "rivers"}, factor = 0.5}]',
        "group.kind must be one of ['river', 'outfall'], found 'rivers'",
    ),
    "lon on cartesian": (
        'operations = [{op = "move", source = "outfall", lon = 109.0, lat = 21.0}]',
        "the grid is cartesian; give x_m and y_m",
    ),
    "outside the grid": (
        'operations = [{op = "move", source = "outfall", x_m = 9e5, y_m = 1e3}]',
        'source "outfall"',
    ),
    "bad override": (
        'operations = [{op = "set", values = ["transport.advektion=1"]}]',
        "did you mean 'advection'",
    ),
    "unknown key": (
        'operations = [{op = "scale", group = "all", factr = 0.5}]',
        "unknown key 'factr'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenarios_name_file_scenario_key_and_expectation(tmp_path, case):
    body, expected = BAD[case]
    spec = write_spec(tmp_path, f'[[scenario]]\nname = "bad one"\n{body}\n')
    with pytest.raises(ScenarioError) as err:
        plan(load_spec(spec))
    message = str(err.value)
    assert spec in message and "bad one" in message and expected in message


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            '[run]\nmode = "stedy"\n',
            "run.mode must be one of ['steady', 'run', 'evaluation'], found 'stedy'",
        ),
        ('[run]\nseasons = ["winter", "wnter"]\n', "run.seasons has 'wnter'"),
        ('[[scenario]]\nname = "baseline"\n', "the baseline is added automatically"),
        ('[[scenario]]\nname = "x"\n[[scenario]]\nname = "x"\n', "name 'x' is used twice"),
        (
            '[run]\nseasons = ["winter", "summer"]\n[[scenario]]\nname = "s"\n'
            'operations = [{op = "season", season = "summer"}]\n',
            "needs a single-season file",
        ),
        ("[runn]\n", "unknown key 'runn' in the top level (did you mean 'run'?)"),
        ("[run]\nsteady_max_iterations = 0\n", "run.steady_max_iterations must be an integer >= 1"),
    ],
)
def test_bad_file_level_settings_are_named(tmp_path, body, expected):
    spec = write_spec(tmp_path, body)
    with pytest.raises(ScenarioError, match="spec.toml") as err:
        load_spec(spec)
    assert expected in str(err.value)


def test_missing_base_config_and_cli_exit_code_2(tmp_path, capsys):
    spec = write_spec(tmp_path, "", header='base = "nowhere.toml"\n')
    assert main(["scenarios", spec, "-o", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert "base = 'nowhere.toml': no such config file" in err and "spec.toml" in err


def test_moving_a_gulf_outfall_rebuilds_the_same_steady_season_flow():
    # a moved discharge needs a new flow; a steady case of the seasonal gulf config must get the
    # annual steady circulation again (as assemble.build gives the baseline), not the seasonal one
    spec = load_spec(REPO / "configs" / "scenarios" / "outfall_relocation.toml")
    case = next(c for c in plan(spec) if c.scenario.name == "Beihai outfall offshore")
    setup, model = case_model(case, spec=spec)
    assert model.flow is not setup.flow and setup.flow.is_steady and model.flow.is_steady
    # away from the two outfall positions the residual circulation is nearly unchanged
    # (2.3 m³/s against face transports of order 1e4-1e5 m³/s)
    scale = np.abs(setup.flow.transport_u).max()
    assert np.abs(model.flow.transport_u - setup.flow.transport_u).max() < 1e-3 * scale


def test_scenario_models_keep_the_monitored_sections_and_report_the_gulf_proper_budget(tmp_path):
    # a scenario model is the base model with other sources (Model.replace): it keeps every other
    # input, the monitored gulf-proper region and its sections included, so a scenario run
    # reports the gulf-proper budget as the baseline run does (one season's circulation and half
    # a day keep the test to seconds)
    beibu = REPO / "configs" / "beibu_gulf.toml"
    spec = load_spec(
        write_spec(
            tmp_path,
            """
            [run]
            mode = "run"
            [[scenario]]
            name = "Guangxi rivers DIN -30%"
            [[scenario.operations]]
            op = "scale"
            group = {province = "Guangxi", kind = "river"}
            tracer = "DIN"
            factor = 0.7
            """,
            header=(
                f'base = "{beibu.as_posix()}"\nset = [\'flow.season="winter"\', '
                '"run.duration_days=0.5", "run.output_interval_days=0.5"]\n'
            ),
        )
    )
    baseline, cut = plan(spec)
    setup, model = case_model(cut, spec=spec)
    sections = setup.model.solver.sections
    assert sections.region is not None and sections.names
    assert model.solver.sections.names == sections.names
    np.testing.assert_array_equal(model.solver.sections.region, sections.region)
    ds = run_scenarios(spec)
    budgets = json.loads(ds.attrs["gulf_proper_budget"])
    assert set(budgets) == {baseline.label, cut.label}
    assert set(budgets[cut.label]["DIN"]) == set(budgets[baseline.label]["DIN"])
    assert any(key.startswith("inflow_") for key in budgets[baseline.label]["DIN"])
    # the cut lowers the DIN load into the gulf proper and leaves COD's unchanged
    assert budgets[cut.label]["DIN"]["loads_in_g"] < budgets[baseline.label]["DIN"]["loads_in_g"]
    assert budgets[cut.label]["COD"]["loads_in_g"] == budgets[baseline.label]["COD"]["loads_in_g"]
