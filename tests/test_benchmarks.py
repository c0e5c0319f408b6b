"""The benchmark script runs (quick mode) and reports its ratios; no timing is asserted."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import REPO


def test_quick_benchmark_reports_ratios_and_bandwidth_fraction(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench", REPO / "benchmarks" / "bench_transport.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    bench.main(["--quick", "--json", str(out), "--no-steady"])
    result = json.loads(out.read_text())
    for row in result["summary"]:
        # ratios are measured, not asserted against a target: they must exist and be positive
        assert row["numba_over_numpy"] > 0 and 0 < row["fraction_of_bound"]
        assert row["bytes_per_update"] > 0


def test_quick_capacity_benchmark_reports_stages_and_the_marching_ratio(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_capacity", REPO / "benchmarks" / "bench_capacity.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "c.json"
    bench.main(["--quick", "--json", str(out)])
    result = json.loads(out.read_text())
    capacity = result["capacity"]
    # stage times are measured, not asserted against the target: they must exist and add up
    stages = capacity["median_stages_s"]
    assert all(stages[name] >= 0 for name in bench.STAGES)
    assert capacity["median_total_s"] > 0
    # the LP answers of the run passed their forward-run verification; forward and adjoint
    # coefficients agree to round-off (LU solves of one matrix and its transpose)
    assert all(capacity["verifications_passed"]) and capacity["verifications_passed"]
    assert capacity["forward_vs_adjoint_max_rel_diff"] < 1e-10
    march = result["march"][0]
    assert march["steady_state_s"] > 0 and march["march_steps"] > 0
    # at least three marching chunks are run, so the time to 99 % is measured or extrapolated
    assert march["march_over_steady_ratio"] is not None and march["march_over_steady_ratio"] > 0
