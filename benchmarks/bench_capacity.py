"""Allowable-load (capacity) computation time, and the steady solve vs time marching.

Usage::

    python benchmarks/bench_capacity.py [--quick] [--json PATH]

Measures, in one run:

* **capacity** on ``configs/beibu_gulf.toml`` (1/30 degree, every source controlled, the shipped
  control points and zones as receptors, every tracer with a GB 3097 limit, modes "max" and
  "min-reduction"): wall time of each stage — ``build`` (grid, tidal dispersion, circulation,
  sources, model: `gulf.assemble.build(steady=True)`), ``operator`` (sparse upwind operator),
  ``factorisation`` (one LU per distinct decay rate), ``receptors`` (control points + zone
  masks), ``adjoint`` (response coefficients of every source at every receptor, all tracers),
  ``lp`` (HiGHS, all tracers and modes) — and their sum; plus, outside the sum, the forward
  (one solve per source) coefficients and the forward-run verification of every LP answer.
  ``--quick`` uses ``configs/channel.toml`` with four generated control points instead.
* **steady vs marching**: `Model.steady_state()` (upwind, zero-boundary excess) against
  `Model.run` (same upwind scheme, the model's stable time step) marching from zero excess until
  the excess mass of every tracer reaches 99 % of its steady mass (the excess grows monotonically
  to the steady state, so this is well defined); if a cap on marching time is reached first,
  the time to 99 % is extrapolated from the exponential approach of the mass gap. Run on the
  channel (both modes) and on the gulf (full run only).

Timings: `time.perf_counter`; the first capacity computation in the process is reported
separately ("cold": imports, Numba compilation and the tidal-dispersion cache filled), then the
median of the repetitions ("warm": `bbw_bay.gulf.tides` reuses its tidal solution within a process).
Machine metadata and the load average go into the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt_module
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bbw_bay.control.capacity import build_problem, solve
from bbw_bay.control.capacity_report import verify
from bbw_bay.control.response import Factorisations, response_coefficients
from bbw_bay.core.config import load_config
from bbw_bay.gulf.assemble import build
from bbw_bay.quality.receptors import ControlPoint, default_receptors, point_receptors
from bbw_bay.quality.standards import TRACER_PARAMETERS

REPO = Path(__file__).resolve().parents[1]
GULF = REPO / "configs" / "beibu_gulf.toml"
CHANNEL = REPO / "configs" / "channel.toml"
STAGES = ("build", "operator", "factorisation", "receptors", "adjoint", "lp")
#: Channel receptors for --quick: four points along the bay's axis [m].
CHANNEL_POINTS = [
    ControlPoint(f"bay_{x // 1000:.0f}km", x, 10_000.0, target_class=2)
    for x in (25_000.0, 35_000.0, 45_000.0, 55_000.0)
]


def _receptors(model):
    if model.grid.geographic:
        return default_receptors(model.grid)
    return point_receptors(model.grid, CHANNEL_POINTS)


def capacity_once(config_path: Path) -> dict:
    """One capacity computation, timed stage by stage."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    model = build(load_config(config_path, []), steady=True).model
    times["build"] = time.perf_counter() - t
    t = time.perf_counter()
    factors = Factorisations(model)
    times["operator"] = time.perf_counter() - t
    tracers = [name for name in model.names if name in TRACER_PARAMETERS]
    t = time.perf_counter()
    for name in tracers:
        factors(name)
    times["factorisation"] = time.perf_counter() - t
    t = time.perf_counter()
    receptors = _receptors(model)
    times["receptors"] = time.perf_counter() - t
    t = time.perf_counter()
    matrix = response_coefficients(model, receptors=receptors, tracers=tracers, factors=factors)
    times["adjoint"] = time.perf_counter() - t
    t = time.perf_counter()
    forward = response_coefficients(
        model, receptors=receptors, tracers=tracers, factors=factors, method="forward"
    )
    forward_s = time.perf_counter() - t
    scale = np.abs(matrix.coefficients).max()
    t = time.perf_counter()
    results = [
        solve(build_problem(matrix, tracer=name, mode=mode), skip_unattainable=True)
        for name in tracers
        for mode in ("max", "min-reduction")
    ]
    times["lp"] = time.perf_counter() - t
    t = time.perf_counter()
    checks = [verify(model, r) for r in results if r.feasible]
    verify_s = time.perf_counter() - t
    return {
        "stages_s": times,
        "total_s": sum(times.values()),
        "total_without_build_s": sum(v for k, v in times.items() if k != "build"),
        "forward_coefficients_s": forward_s,
        "verification_s": verify_s,
        "forward_vs_adjoint_max_rel_diff": float(
            np.abs(forward.coefficients - matrix.coefficients).max() / scale
        ),
        "wet_cells": int(model.grid.n_wet),
        "sources": len(model.sources),
        "receptors": len(receptors),
        "tracers": tracers,
        "factorisations": factors.count,
        "linear_programmes": len(results),
        "lp_iterations": [r.lp.get("iterations") for r in results],
        "unattainable_rows": [int(r.unattainable.sum()) for r in results],
        "verifications_passed": [c["passed"] for c in checks],
    }


def bench_capacity(config_path: Path, *, repeats: int) -> dict:
    """Median stage times over ``repeats`` capacity computations (after one warm-up)."""
    cold = capacity_once(config_path)  # first in the process: imports, compilation, caches
    runs = [capacity_once(config_path) for _ in range(repeats)]
    median = {stage: statistics.median(r["stages_s"][stage] for r in runs) for stage in STAGES}
    last = runs[-1]
    return {
        "config": str(config_path.relative_to(REPO)),
        "repeats": repeats,
        "median_stages_s": median,
        "median_total_s": statistics.median(r["total_s"] for r in runs),
        "median_total_without_build_s": statistics.median(r["total_without_build_s"] for r in runs),
        "median_forward_coefficients_s": statistics.median(
            r["forward_coefficients_s"] for r in runs
        ),
        "median_verification_s": statistics.median(r["verification_s"] for r in runs),
        "cold_stages_s": cold["stages_s"],
        "cold_total_s": cold["total_s"],
        "runs": runs,
        **{
            k: last[k]
            for k in (
                "wet_cells",
                "sources",
                "receptors",
                "tracers",
                "factorisations",
                "linear_programmes",
                "unattainable_rows",
                "verifications_passed",
                "forward_vs_adjoint_max_rel_diff",
            )
        },
    }


def _masses(model, fields: np.ndarray) -> np.ndarray:
    return np.einsum("tyx,yx->t", np.nan_to_num(fields), model.grid.volume)


def bench_march(
    config_path: Path, *, fraction: float = 0.99, max_march_seconds: float, chunk_steps: int = 100
) -> dict:
    """Steady solve vs marching from zero excess to ``fraction`` of the steady excess mass.

    Marching stops at ``fraction``, or after ``max_march_seconds`` (at least three chunks of
    ``chunk_steps`` steps, enough to extrapolate)."""
    base = build(load_config(config_path, []), steady=True).model
    # the zero-boundary excess with upwind advection; no monitored region (as first measured)
    model = base.replace(
        advection="upwind",
        tracers={n: replace(t, background=0.0) for n, t in base.tracers.items()},
        sections=None,
    )
    model.run(model.stable_dt(), dt=model.stable_dt())  # warm-up (Numba compilation)
    t = time.perf_counter()
    steady_ds = model.steady_state()
    steady_s = time.perf_counter() - t
    steady = np.stack([steady_ds[n].values for n in model.names])
    target = _masses(model, steady)
    dt = model.stable_dt()
    state = {n: 0.0 for n in model.names}
    elapsed_model, steps, history = 0.0, 0, []
    t = time.perf_counter()
    reached = False
    while time.perf_counter() - t < max_march_seconds or len(history) < 3:
        ds = model.run(chunk_steps * dt, dt=dt, initial=state)
        fields = np.stack([ds[n].values[-1] for n in model.names])
        state = {n: np.nan_to_num(fields[k]) for k, n in enumerate(model.names)}
        steps += chunk_steps
        elapsed_model += chunk_steps * dt
        reached_fraction = _masses(model, fields) / target
        history.append((steps, float(reached_fraction.min())))
        if reached_fraction.min() >= fraction:
            reached = True
            break
    march_s = time.perf_counter() - t
    steps_needed = float(steps) if reached else _extrapolate(history, fraction)
    estimate_s = None if steps_needed is None else steps_needed * march_s / steps
    wet = model.grid.wet
    big = steady[:, wet] > 0.01 * steady[:, wet].max(axis=1, keepdims=True)
    cell_ratio = float((fields[:, wet][big] / steady[:, wet][big]).min())
    return {
        "config": str(config_path.relative_to(REPO)),
        "wet_cells": int(model.grid.n_wet),
        "tracers": list(model.names),
        "fraction": fraction,
        "steady_state_s": steady_s,
        "march_dt_s": dt,
        "march_steps": steps,
        "march_s": march_s,
        "march_model_days": elapsed_model / 86400.0,
        "march_reached": reached,
        "march_history_steps_min_mass_fraction": history,
        "march_min_cell_fraction_at_stop": cell_ratio,
        "march_steps_needed_estimate": steps_needed,
        "march_s_estimate": estimate_s,
        "march_over_steady_ratio": None if estimate_s is None else estimate_s / steady_s,
        "march_over_steady_ratio_is_estimate": not reached,
    }


def _extrapolate(history, fraction: float) -> float | None:
    """Steps at which the mass gap 1 − M/M_ss falls to 1 − fraction (exponential fit)."""
    tail = np.array(history[min(len(history) // 2, max(len(history) - 3, 0)) :], dtype=float)
    if tail.shape[0] < 3 or np.any(tail[:, 1] >= 1.0):
        return None
    slope, intercept = np.polyfit(tail[:, 0], np.log(1.0 - tail[:, 1]), 1)
    if slope >= 0:
        return None
    return float((np.log(1.0 - fraction) - intercept) / slope)


def bench_evaluation(config_path: Path, *, sources: str | None, overrides=()) -> dict:
    """Capacity on the evaluation basis (issue 13): the tagged-tracer response of the time mean
    of the config's own run (one fused Simulation), then, with the response cached, the
    every-cell LP and the area-share MILP of the same receptors (no forward verification: that
    is one more run per answer)."""
    import tempfile

    from bbw_bay.control.capacity_milp import build_cell_problem, solve_cells
    from bbw_bay.control.evaluation_response import evaluation_response
    from bbw_bay.control.response import select_sources
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build

    config = load_config(config_path, list(overrides))
    t0 = time.perf_counter()
    model = build(config).model
    built = time.perf_counter()
    receptors = _receptors(model)
    controlled = select_sources(model, sources)
    with tempfile.TemporaryDirectory() as cache:
        response = evaluation_response(
            model, config, tracer="DIN", controlled=controlled, cache=cache
        )
        made = time.perf_counter()
        again = evaluation_response(model, config, tracer="DIN", controlled=controlled, cache=cache)
        read = time.perf_counter()
    zones = [r.key for r in receptors if r.kind == "zone"]
    solves = {}
    for label, shares in (("every cell", None), ("share 0.9", dict.fromkeys(zones[:1], 0.9))):
        t = time.perf_counter()
        problem = build_cell_problem(
            again, receptors, model.grid, mode="min-reduction", shares=shares
        )
        result = solve_cells(problem)
        solves[label] = {"seconds": time.perf_counter() - t, "status": result.status}
    return {
        "config": config_path.name,
        "controlled": len(controlled),
        "build_seconds": built - t0,
        "response_seconds": made - built,
        "cached_read_seconds": read - made,
        "linearity": response.linearity.__dict__,
        "solves": solves,
    }


def machine_metadata() -> dict:
    """CPU model, cores, library versions, load."""
    import numba
    import scipy

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt_module.datetime.now(dt_module.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "load_average_1_5_15": list(os.getloadavg()),
    }


def print_report(results: dict) -> None:
    meta = results["machine"]
    print(f"# bbw_bay capacity benchmark, {meta['date']}")
    print(
        f"CPU {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs), scipy {meta['scipy']},"
        f" numba threads {meta['numba_threads']}, load {meta['load_average_1_5_15']}"
    )
    c = results["capacity"]
    print(
        f"capacity, {c['config']}: {c['wet_cells']} wet cells, {c['sources']} sources (all "
        f"controlled), {c['receptors']} receptors, {len(c['tracers'])} tracers, "
        f"{c['factorisations']} factorisations, {c['linear_programmes']} LPs; median of "
        f"{c['repeats']}:"
    )
    print("| " + " | ".join(STAGES) + " | total | total without build |")
    print("|" + "---|" * (len(STAGES) + 2))
    print(
        "| "
        + " | ".join(f"{c['median_stages_s'][s]:.3f}" for s in STAGES)
        + f" | {c['median_total_s']:.2f} | {c['median_total_without_build_s']:.3f} |"
    )
    print(
        "| "
        + " | ".join(f"{c['cold_stages_s'][s]:.3f}" for s in STAGES)
        + f" | {c['cold_total_s']:.2f} | (first run in the process) |"
    )
    print(
        f"  forward coefficients (one solve per source) {c['median_forward_coefficients_s']:.3f}"
        f" s; forward vs adjoint max relative difference "
        f"{c['forward_vs_adjoint_max_rel_diff']:.1e}; verification runs "
        f"{c['median_verification_s']:.2f} s, all passed: {all(c['verifications_passed'])}"
    )
    for m in results["march"]:
        est = "estimated " if m["march_over_steady_ratio_is_estimate"] else ""
        ratio, needed = m["march_over_steady_ratio"], m["march_s_estimate"]
        percent = f"{100 * m['fraction']:.0f} %"
        print(
            f"steady vs marching, {m['config']} ({m['wet_cells']} wet cells): steady_state() "
            f"{m['steady_state_s']:.3f} s; marching {m['march_steps']} steps "
            f"({m['march_model_days']:.0f} days) in {m['march_s']:.1f} s, reached {percent} "
            f"of the steady mass: {m['march_reached']}; {est}time to {percent} "
            f"{'n/a' if needed is None else f'{needed:.1f} s'}; ratio "
            f"{est}{'n/a' if ratio is None else f'{ratio:.0f}x'}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="channel config only, one repetition, short marching cap (smoke test)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the results (default benchmarks/results/capacity[_quick].json)",
    )
    parser.add_argument(
        "--evaluation",
        action="store_true",
        help="also time capacity on the evaluation basis (tagged run + cached LP/MILP)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = {
        "command": " ".join(
            [
                "python",
                "benchmarks/bench_capacity.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "quick": args.quick,
    }
    if args.quick:
        results["capacity"] = bench_capacity(CHANNEL, repeats=1)
        results["march"] = [bench_march(CHANNEL, max_march_seconds=4.0, chunk_steps=50)]
    else:
        results["capacity"] = bench_capacity(GULF, repeats=3)
        results["march"] = [
            bench_march(CHANNEL, max_march_seconds=120.0),
            bench_march(GULF, max_march_seconds=300.0),
        ]
    if args.evaluation:
        results["evaluation"] = (
            bench_evaluation(CHANNEL, sources=None, overrides=["run.spinup_days=1"])
            if args.quick
            else bench_evaluation(GULF, sources=None)
        )
        print(json.dumps(results["evaluation"], indent=1))
    results["machine"] = machine_metadata()
    results["wall_seconds"] = time.perf_counter() - t0
    print_report(results)
    path = args.json or Path(__file__).parent / "results" / (
        "capacity_quick.json" if args.quick else "capacity.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"results written to {path}")
    return results


if __name__ == "__main__":
    main()
