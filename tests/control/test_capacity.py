"""Allowable loads and minimum reductions by linear programming (control.capacity) and the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bbw_bay.cli import main as cli
from bbw_bay.control.capacity import CapacityError, allowable_loads, build_problem, solve
from bbw_bay.control.capacity_report import (
    VERIFY_RTOL,
    capacity_csv,
    capacity_dataset,
    capacity_table,
    verify,
)
from bbw_bay.control.response import ResponseMatrix, response_coefficients
from bbw_bay.quality.receptors import Receptor
from bbw_bay.quality.standards import limit
from tests.conftest import REPO
from tests.control.test_response import bay_model, bay_receptors

# HiGHS solves the scaled LP (rows divided by their limit, variables by their upper bound) to a
# primal feasibility tolerance of 1e-7: LP answers are checked against the analytic ones to
# 1e-7 relative.
LP_RTOL = 1e-7
DIN_II = limit("DIN", 2)  # 0.30 mg/L


def synthetic(coefficients, loads, *, background=0.07, classes=None, label="") -> ResponseMatrix:
    """A DIN response matrix with given α (nrec, ns) [mg/L per t/yr] and loads (ns,) [t/yr]."""
    coefficients = np.atleast_2d(np.asarray(coefficients, dtype=float))
    nrec, ns = coefficients.shape
    classes = classes or [2] * nrec
    receptors = tuple(
        Receptor(f"r{k}", "point", np.zeros(1), classes[k], f"receptor {k}") for k in range(nrec)
    )
    return ResponseMatrix(
        ("DIN",),
        tuple(f"s{k}" for k in range(ns)),
        receptors,
        coefficients[None],
        np.asarray(loads, dtype=float)[None],
        np.full((1, nrec), background),
        np.zeros((1, nrec)),
        label=label,
    )


def test_one_receptor_two_sources_matches_the_greedy_answer():
    # max x0 + x1 s.t. α0 x0 + α1 x1 ≤ 0.30 − 0.07 = 0.23, 0 ≤ x ≤ 1.2 L: the cheaper source (s0,
    # smaller α) goes to its bound first, s1 takes what is left (fractional knapsack).
    alpha = np.array([1e-5, 4e-5])
    loads = np.array([10_000.0, 8_000.0])
    result = solve(build_problem(synthetic([alpha], loads), tracer="DIN", growth=0.2))
    x0 = 1.2 * loads[0]
    x1 = (DIN_II - 0.07 - alpha[0] * x0) / alpha[1]
    np.testing.assert_allclose(result.allowable, [x0, x1], rtol=LP_RTOL)
    assert result.feasible and result.binding.tolist() == [True]
    # shadow price: one more mg/L of limit buys 1/α1 t/yr of the marginal source
    assert result.shadow_price[0] == pytest.approx(1 / alpha[1], rel=LP_RTOL)
    assert result.limiting_rows(1) == [0] and result.limiting_rows(0) == []


def test_min_reduction_cuts_the_most_effective_source_and_uniform_cuts_evenly():
    alpha = np.array([1e-5, 4e-5])
    loads = np.array([10_000.0, 8_000.0])  # today 0.07 + 0.1 + 0.32 = 0.49 mg/L > 0.30
    m = synthetic([alpha], loads)
    cut = solve(build_problem(m, tracer="DIN", mode="min-reduction"))
    # removing 0.19 mg/L is cheapest through s1 (largest α): 0.19 / 4e-5 = 4750 t/yr
    np.testing.assert_allclose(cut.cut, [0.0, 0.19 / 4e-5], rtol=LP_RTOL)
    uniform = solve(build_problem(m, tracer="DIN", mode="uniform"))
    theta = (DIN_II - 0.07) / (alpha @ loads)
    np.testing.assert_allclose(uniform.allowable, theta * loads, rtol=LP_RTOL)


def test_compliant_loads_need_no_cut():
    m = synthetic([[1e-6, 2e-6], [3e-6, 1e-6]], [1_000.0, 2_000.0])  # 0.075, 0.075 mg/L
    result = solve(build_problem(m, tracer="DIN", mode="min-reduction"))
    assert result.feasible
    np.testing.assert_allclose(result.cut, 0.0, atol=LP_RTOL * 2_000.0)
    assert not result.binding.any()


def test_shadow_price_is_the_gain_per_relaxed_limit():
    m = synthetic([[1e-5, 2e-5, 3e-6], [2e-5, 1e-5, 1e-5]], [5_000.0, 6_000.0, 9_000.0])
    problem = build_problem(m, tracer="DIN", growth=1.0)
    base = solve(problem)
    row = int(np.nonzero(base.binding)[0][0])
    delta = 1e-4  # small enough to keep the optimal basis
    relaxed = solve(
        dataclasses.replace(
            problem, limit=problem.limit + delta * (np.arange(problem.limit.size) == row)
        )
    )
    gain = (relaxed.allowable.sum() - base.allowable.sum()) / delta
    assert gain == pytest.approx(base.shadow_price[row], rel=1e-6)


def test_background_above_the_limit_is_explained_not_answered():
    m = synthetic([[1e-5, 2e-5]], [100.0, 100.0], background=0.35)
    result = solve(build_problem(m, tracer="DIN"))
    assert not result.feasible and np.isnan(result.allowable).all()
    assert "background 0.35 mg/L alone" in result.explanations[0]
    assert "Class II DIN limit 0.3 mg/L" in result.explanations[0]
    assert "UNATTAINABLE" in capacity_table(result)


def test_fixed_sources_above_the_limit_are_named_and_can_be_skipped():
    # r0: the fixed source s1 alone gives 0.07 + 0.4 mg/L > 0.30; r1 is attainable
    m = synthetic([[1e-5, 4e-5], [2e-5, 1e-6]], [1_000.0, 10_000.0])
    problem = build_problem(m, tracer="DIN", controlled=[0], mode="min-reduction")
    result = solve(problem)
    assert not result.feasible
    text = result.explanations[0]
    assert "receptor 0" in text and "s1 0.4" in text and "= 0.47 mg/L" in text
    skipped = solve(problem, skip_unattainable=True)
    assert skipped.feasible and skipped.dropped.tolist() == [True, False]
    # r1 alone: 0.07 + 2e-5 x0 + 0.01 ≤ 0.30 holds at today's 1000 t/yr: no cut
    assert skipped.cut[0] == pytest.approx(0.0, abs=LP_RTOL * 1_000.0)


def test_seasons_stack_their_constraints():
    winter = synthetic([[1e-5, 1e-5]], [6_000.0, 6_000.0], label="winter")
    summer = synthetic([[2e-5, 5e-6]], [6_000.0, 6_000.0], background=0.05, label="summer")
    result = solve(build_problem([winter, summer], tracer="DIN", growth=1.0))
    values = result.value
    assert np.all(values <= result.problem.limit * (1 + LP_RTOL))
    # x0 + x1 ≤ 23000 (winter), 4 x0 + x1 ≤ 50000 (summer), x ≤ 12000: s1 is cheaper in summer
    # and goes to its bound, then summer binds at x0 = 9500 (winter keeps 1500 t/yr of slack)
    np.testing.assert_allclose(result.allowable, [9_500.0, 12_000.0], rtol=LP_RTOL)
    assert result.binding.tolist() == [False, True]
    assert result.problem.row_label(1) == "r0 (summer)"


def test_unbounded_growth_is_reported():
    m = synthetic([[1e-5, 0.0]], [100.0, 100.0])
    result = solve(build_problem(m, tracer="DIN", growth=float("inf")))
    assert not result.feasible and result.status.startswith("unbounded")


def test_bad_input_is_a_capacity_error():
    m = synthetic([[1e-5]], [100.0])
    with pytest.raises(CapacityError, match="unknown mode"):
        build_problem(m, tracer="DIN", mode="maximum")
    with pytest.raises(CapacityError, match="growth must be >= 0"):
        build_problem(m, tracer="DIN", growth=-0.1)
    with pytest.raises(CapacityError, match="weight for unknown source"):
        build_problem(m, tracer="DIN", weights={"nope": 1.0})
    with pytest.raises(CapacityError, match="lower limit"):
        build_problem(dataclasses.replace(m, tracers=("DO",)), tracer="DO")


def test_allowable_loads_pass_a_forward_run_of_the_model(tmp_path):
    model = bay_model()
    receptors = bay_receptors(model)
    today = response_coefficients(model, receptors=receptors).concentration()
    assert today[0].max() > DIN_II  # the river makes the problem bite
    result = allowable_loads(model, tracer="DIN", receptors=receptors, growth=0.5)
    assert result.feasible and result.binding.any()
    check = verify(model, result)
    assert check["passed"]
    # forward values: none above the limit, binding ones at it (VERIFY_RTOL, see capacity.py)
    assert check["max_relative_excess"] <= VERIFY_RTOL
    assert check["max_binding_gap"] <= VERIFY_RTOL
    # the LP's α-predicted values and the forward run agree to round-off
    assert check["max_lp_vs_forward"] < 1e-10
    ds = capacity_dataset(result)
    np.testing.assert_allclose(ds["cut"], ds["today"] - ds["allowable"])
    lines = capacity_csv([result], tmp_path / "c.csv").read_text().splitlines()
    assert len(lines) == 1 + len(model.sources)


def test_verify_detects_loads_above_the_allowable():
    model = bay_model()
    result = allowable_loads(model, tracer="DIN", receptors=bay_receptors(model))
    bumped = dataclasses.replace(result, allowable=result.allowable * 1.01)
    assert not verify(model, bumped)["passed"]


CHANNEL = str(REPO / "configs" / "channel.toml")
POINTS = """
[[point]]
key = "bay"
name = "bay centre"
x_m = 30000.0
y_m = 10000.0
target_class = {cls}
zone = ""
province = "test"
[point.citations]
position = "estimate: test"
target_class = "estimate: test"
"""


def test_cli_capacity_and_apportion_on_the_channel(tmp_path, capsys):
    points = tmp_path / "points.toml"
    points.write_text(POINTS.format(cls=4))
    code = cli.main(
        [
            "capacity",
            CHANNEL,
            "--basis",
            "steady",
            "--points",
            str(points),
            "--tracer",
            "DIN",
            "--mode",
            "min-reduction",
            "--csv",
            str(tmp_path / "c.csv"),
            "-o",
            str(tmp_path / "c.nc"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "forward check" in out and "PASS" in out
    code = cli.main(
        [
            "apportion",
            CHANNEL,
            "--points",
            str(points),
            "--tracer",
            "DIN,COD",
            "-o",
            str(tmp_path / "a.nc"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "superposition check" in out and "bay" in out


def test_cli_capacity_infeasible_exits_0_with_the_reason_and_bad_input_exits_2(tmp_path, capsys):
    points = tmp_path / "points.toml"
    points.write_text(POINTS.format(cls=1))
    # an ambient DIN background of 0.25 mg/L is above the Class I limit 0.20 mg/L everywhere
    code = cli.main(
        [
            "capacity",
            CHANNEL,
            "--basis",
            "steady",
            "--points",
            str(points),
            "--tracer",
            "DIN",
            "--sources",
            "river",
            "--set",
            "tracers.DIN.background_mg_per_l=0.25",
            "--set",
            "transport.background_mode=ambient",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "UNATTAINABLE" in out and "alone" in out
    code = cli.main(
        [
            "capacity",
            CHANNEL,
            "--basis",
            "steady",
            "--points",
            str(points),
            "--sources",
            "kind=river",
        ]
    )
    assert code == 2 and "matches no source" in capsys.readouterr().err


def test_gulf_guangxi_rivers_minimum_din_cut_meets_class_ii_in_a_forward_run():
    from bbw_bay.control.response import Factorisations
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from bbw_bay.quality.receptors import default_receptors, select_receptors

    model = build(load_config(REPO / "configs" / "beibu_gulf.toml", []), steady=True).model
    receptors = select_receptors(default_receptors(model.grid), "province=Guangxi")
    factors = Factorisations(model)
    adjoint = response_coefficients(model, receptors=receptors, tracers="DIN", factors=factors)
    forward = response_coefficients(
        model, receptors=receptors, tracers="DIN", factors=factors, method="forward"
    )
    scale = np.abs(forward.coefficients).max()
    # same LU, transposed solve: round-off (see tests/test_response.py)
    np.testing.assert_allclose(
        adjoint.coefficients, forward.coefficients, rtol=0, atol=1e-10 * scale
    )
    problem = build_problem(
        adjoint,
        tracer="DIN",
        mode="min-reduction",
        controlled=[k for k, s in enumerate(model.sources) if s.groups[:2] == ("Guangxi", "river")],
    )
    result = solve(problem)
    assert result.feasible and result.binding.any()
    assert (result.cut[problem.controlled] >= 0).all() and result.cut.sum() > 0
    check = verify(model, result)
    assert check["passed"] and check["max_relative_excess"] <= VERIFY_RTOL
