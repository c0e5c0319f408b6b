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
