"""Throughput of the shallow-water step vs its NumPy reference and the bandwidth bound.

Usage::

    python benchmarks/bench_shallow_water.py [--quick] [--json PATH] [--days D]

Measures, in one run, on a synthetic tidal bay (about 100,000 sea cells at 200 m, a quarter of
them land in smooth blobs, intertidal flats up to 2 m above the datum at the head, an open
south edge forced by a 1.0 m M2 + 0.8 m K1 tide; ``--quick``: a 100×80 version):

* wet cell-steps per second of the explicit parts of a step (`momentum_faces`, `assemble`,
  `face_fluxes`, `outflow_ratios`, `apply_fluxes`), 1 and 2 Numba threads, against their NumPy
  twins in `bbw_bay.core.reference` (single-threaded) and against the bandwidth bound of their
  bytes per cell (`BYTES_PER_CELL`, STREAM triad measured in the same run);
* the free-surface solve timed separately: Numba matrix-free Jacobi-PCG (iterations, per
  iteration against its bytes, `BYTES_PER_PCG_ITERATION`) and SciPy ``splu`` / ``cg``
  (Jacobi-scaled) and pyamg (if installed) on the same system;
* the wall time of whole steps (`ShallowWater.step`, 2 threads) over ``--days`` of model time
  after a spin-up, extrapolated to one spring-neap cycle (14.77 d).

Timings: compilation excluded (warm-up), `time.perf_counter`, median of repetitions. Prints a
table and writes every number with machine metadata to benchmarks/results/shallow_water.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
from scipy import ndimage

from bbw_bay.core import reference
from bbw_bay.core.grid import Grid
from bbw_bay.core.kernels import shallow_water as kernels
from bbw_bay.core.kernels import transport as transport_kernels
from bbw_bay.core.shallow_water import BoundaryElevation, ShallowWater
from bbw_bay.units import DAY

SPRING_NEAP_DAYS = 14.77
#: Bytes per cell of the explicit kernels of one step (float64 = 8, int8/bool = 1), each
#: (y, x) or face array counted once per kernel that reads or writes it (faces ≈ one per cell
#: and direction): momentum_faces reads D, h, u, v, kind×2, bed×2, length×2, spacing×2,
#: coriolis×2, drag×2, manning×2, wind×2 and writes H, K, B on both face sets; assemble reads
#: D, h, sea, area, river, u, v, length×2, H×2, K×2, B×2 and writes diag, rhs; face_fluxes reads
#: η, length×2, H×2, K×2, B×2 and reads/writes u, v and writes q×2; outflow_ratios reads D, area,
#: river, q×2 and writes ratio; apply_fluxes reads q×2, ratio, D, area, river and reads/writes
#: u, v, the interval sums×2 and D.
BYTES_PER_CELL = {
    "momentum_faces": 8 * 4 + 2 + 8 * 12 + 8 * 6,
    "assemble": 8 * 2 + 1 + 8 * 12 + 8 * 2,
    "face_fluxes": 8 * 9 + 8 * 4 + 8 * 2,
    "outflow_ratios": 8 * 5 + 8,
    "apply_fluxes": 8 * 6 + 8 * 4 + 8 * 4 + 8 * 2,
}
#: Bytes per cell of one PCG iteration: q = M p (reads p, diag, K×2; writes q), the update
#: (reads x, p, r, q, diag; writes x, r, z) and p = z + βp (reads z, p; writes p).
BYTES_PER_PCG_ITERATION = 8 * 5 + 8 * 8 + 8 * 3


def make_bay(nx: int, ny: int, dx: float, seed: int = 7) -> Grid:
    """A tidal bay: open south edge, 20 m deep there, flats 2 m above the datum at the head."""
    rng = np.random.default_rng(seed)
    y = (np.arange(ny) + 0.5) / ny
    x = (np.arange(nx) + 0.5) / nx
    xx, yy = np.meshgrid(x, y)
    noise = ndimage.gaussian_filter(rng.normal(size=(ny, nx)), sigma=max(nx, ny) / 25)
    noise /= np.abs(noise).max()
    land = (noise > 0.45) | (np.abs(xx - 0.5) > 0.47 - 0.1 * yy)
    land[:3] = False  # an open mouth
    land[:3, :2] = land[:3, -2:] = True
    bed = 20.0 * (1.0 - yy) ** 1.5 - 2.0 + 3.0 * noise * (yy > 0.2)
    wet = ~land
    labels, _ = ndimage.label(wet)
    wet &= labels == labels[0, nx // 2]
    return Grid.cartesian(
        nx, ny, dx=dx, dy=dx, depth=np.where(wet, bed, 0.0), wet=wet, open_boundaries=("south",)
    )


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def triad_bandwidth(threads: int, n: int) -> float:
    """STREAM triad bandwidth [B/s] (24 B per element) with ``threads`` Numba threads."""
    transport_kernels.set_threads(threads)
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    t = min(_median_time(lambda: transport_kernels.stream_triad(a, b, c, 3.0), 1) for _ in range(3))
    return 24.0 * n / t


def explicit_kernels(sw: ShallowWater, state, dt: float) -> dict:
    """Closures running each explicit kernel once on ``state`` (Numba) and the NumPy twins."""
    g, f, w = sw.grid, sw.faces, sw._work(state)
    gu, gv = sw.boundary(0.0)
    tau_u, tau_v = sw.wind_stress(0.0)
    params = np.array([9.81, sw.theta, dt, sw.dry_depth, 0.0, 0.0, 1025.0, 0.0])
    mom = (state.depth, sw.bed, state.u, state.v, f.kind_u, f.kind_v, f.bed_u, f.bed_v,
           g.length_u, g.length_v, g.spacing_u, g.spacing_v, f.coriolis_u, f.coriolis_v,
           f.cd_u, f.cd_v, f.manning_u, f.manning_v, tau_u, tau_v, gu, gv, params)  # fmt: skip
    faces = (w["h_u"], w["k_u"], w["b_u"], w["h_v"], w["k_v"], w["b_v"])
    asm = (state.depth, sw.bed, sw.sea, g.area, sw.river, state.u, state.v, g.length_u,
           g.length_v, *faces, gu, gv, sw.theta, dt)  # fmt: skip
    eta = state.depth - sw.bed
    u, v, depth = state.u.copy(), state.v.copy(), state.depth.copy()
    sums = (np.zeros_like(u), np.zeros_like(v))
    numba_fns = {
        "momentum_faces": lambda: kernels.momentum_faces(*mom, *faces),
        "assemble": lambda: kernels.assemble(*asm, w["diag"], w["rhs"]),
        "face_fluxes": lambda: kernels.face_fluxes(
            eta, u, v, g.length_u, g.length_v, *faces, gu, gv, sw.theta, dt, w["q_u"], w["q_v"]
        ),
        "outflow_ratios": lambda: kernels.outflow_ratios(
            depth, g.area, sw.river, w["q_u"], w["q_v"], dt, w["ratio"]
        ),
        "apply_fluxes": lambda: kernels.apply_fluxes(
            depth, g.area, sw.river, u, v, w["q_u"], w["q_v"], w["ratio"], 0.0, *sums
        ),
    }
    numpy_fns = {
        "momentum_faces": lambda: reference.shallow_water_momentum(*mom),
        "assemble": lambda: reference.shallow_water_assemble(*asm),
        "update (face_fluxes + outflow_ratios + apply_fluxes)": lambda: (
            reference.shallow_water_update(
                depth,
                eta,
                g.area,
                sw.river,
                u,
                v,
                g.length_u,
                g.length_v,
                *faces,
                gu,
                gv,
                sw.theta,
                dt,
            )
        ),  # fmt: skip
    }
    return {"numba": numba_fns, "numpy": numpy_fns}


def solve_timings(sw: ShallowWater, state, repeats: int) -> dict:
    """Seconds and iterations of one free-surface solve by each available solver."""
    w = sw._work(state)
    guess = state.depth - sw.bed
    out = {}
    x = guess.copy()

    def pcg():
        x[:] = guess
        return kernels.pcg(w["diag"], w["k_u"], w["k_v"], w["rhs"], x, sw.tolerance,
                           sw.max_iterations, w["r"], w["z"], w["p"], w["q"])  # fmt: skip

    iterations = int(pcg())
    out["pcg"] = {"seconds": _median_time(pcg, repeats), "iterations": iterations}
    matrix = reference.free_surface_matrix(w["diag"], w["k_u"], w["k_v"])
    methods = ["splu", "cg"]
    try:
        import pyamg  # noqa: F401

        methods.append("pyamg")
    except ImportError:
        out["pyamg"] = {"seconds": None, "iterations": None, "note": "pyamg not installed"}
    for method in methods:
        result = {}

        def run(method=method, result=result):
            sol, it = reference.scipy_solve(matrix, w["rhs"], guess, method, sw.tolerance,
                                            w["diag"])  # fmt: skip
            result["iterations"] = it
            result["max_diff_vs_pcg_m"] = float(np.abs(sol - x).max())

        out[method] = {"seconds": _median_time(run, max(1, repeats // 3)), **result}
    return out


def transport_on_stored_hydrodynamics(sw: ShallowWater, hours: int) -> dict:
    """Wall time of 4 tracers (MC, K = 5 m²/s) on ``hours`` of hourly-mean hydrodynamics."""
    from bbw_bay.core.flow import Flow
    from bbw_bay.core.model import Model, Tracer

    hd = sw.run(duration=(hours + 1) * 3600.0, output_interval=3600.0, dt=120.0)
    flow = Flow.from_hydrodynamics(hd)
    rates = {"DIN": 0.01, "PO4": 0.01, "COD": 0.1, "oil": 0.3}  # decay [1/day]
    tracers = {name: Tracer(decay_per_day=rate, background=1.0) for name, rate in rates.items()}
    model = Model(sw.grid, flow, tracers=tracers, diffusivity=5.0)
    model.run(3600.0)  # compilation and a first hour
    t0 = time.perf_counter()
    model.run(hours * 3600.0)
    wall = time.perf_counter() - t0
    return {
        "model_hours": hours,
        "wall_seconds": wall,
        "transport_steps": model.statistics.steps,
        "seconds_per_model_hour": wall / hours,
        "year_seconds_extrapolated": wall / hours * 8766.0,
        "relative_mass_imbalance": model.statistics.max_relative_imbalance,
    }


def machine_metadata() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threading_layer": transport_kernels.threading_layer(),
        "load_average_1_5_15": list(os.getloadavg()),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 100×80 bay, short timings")
    parser.add_argument("--json", default=None, help="where to write the results")
    parser.add_argument("--days", type=float, default=None, help="model days of whole steps")
    parser.add_argument("--threads", default="1,2", help="thread counts of the kernel timings")
    parser.add_argument(
        "--step-threads", type=int, default=2, help="threads of the spin-up and whole steps"
    )
    args = parser.parse_args(argv)
    nx, ny, dx = (100, 80, 800.0) if args.quick else (400, 330, 200.0)
    days = args.days if args.days is not None else (0.05 if args.quick else 1.0)
    repeats = 3 if args.quick else 7
    grid = make_bay(nx, ny, dx)
    tide = BoundaryElevation({"M2": (1.0, 0.0), "K1": (0.8, 40.0)}, mean_level=0.0)
    sw = ShallowWater(grid, boundary_elevation=tide)  # default settings (tolerance 1e-7 m)
    state = sw.initial_state(0.0)
    dt = 120.0 if not args.quick else 240.0
    transport_kernels.set_threads(args.step_threads)
    for k in range(int(3 * 3600 / dt)):  # spin-up: a flooding tide, flows and wet/dry fronts
        sw.step(state, k * dt, dt)
    n_wet = int((state.depth > sw.dry_depth).sum())
    result = {"grid": {"nx": nx, "ny": ny, "dx_m": dx, "sea_cells": int(grid.wet.sum()),
                       "wet_cells_after_spinup": n_wet, "dt_s": dt},
              "bytes_per_cell": BYTES_PER_CELL, "bytes_per_pcg_iteration": BYTES_PER_PCG_ITERATION,
              "machine": machine_metadata(), "threads": {}}  # fmt: skip
    bytes_total = sum(BYTES_PER_CELL.values())
    n_cells = nx * ny
    triad_n = 2_000_000 if args.quick else 20_000_000
    for threads in (int(t) for t in args.threads.split(",")):
        bandwidth = triad_bandwidth(threads, triad_n)
        transport_kernels.set_threads(threads)
        fns = explicit_kernels(sw, state, dt)
        seconds = {name: _median_time(fn, repeats) for name, fn in fns["numba"].items()}
        explicit = sum(seconds.values())
        solves = solve_timings(sw, state, repeats)
        pcg = solves["pcg"]
        per_iteration = pcg["seconds"] / max(pcg["iterations"], 1)
        row = {
            "triad_GB_per_s": bandwidth / 1e9,
            "kernel_seconds": seconds,
            "explicit_seconds": explicit,
            "explicit_wet_cell_steps_per_s": n_wet / explicit,
            "bound_wet_cell_steps_per_s": bandwidth / bytes_total * n_wet / n_cells,
            "pcg_seconds_per_iteration": per_iteration,
            "pcg_fraction_of_bound": (BYTES_PER_PCG_ITERATION * n_cells / per_iteration)
            / bandwidth,
            "solves": solves,
        }
        row["explicit_fraction_of_bound"] = (
            row["explicit_wet_cell_steps_per_s"] / row["bound_wet_cell_steps_per_s"]
        )
        if "numpy_seconds" not in result:
            transport_kernels.set_threads(1)
            numpy_seconds = {n: _median_time(fn, max(1, repeats // 2))
                             for n, fn in fns["numpy"].items()}  # fmt: skip
            result["numpy_seconds"] = numpy_seconds
            result["numpy_explicit_wet_cell_steps_per_s"] = n_wet / sum(numpy_seconds.values())
        row["numba_over_numpy"] = (
            row["explicit_wet_cell_steps_per_s"] / result["numpy_explicit_wet_cell_steps_per_s"]
        )
        result["threads"][str(threads)] = row
    transport_kernels.set_threads(args.step_threads)
    steps = max(1, int(round(days * DAY / dt)))
    iterations = []
    t0 = time.perf_counter()
    start = state.time
    for k in range(steps):
        iterations.append(sw.step(state, start + k * dt, dt))
    wall = time.perf_counter() - t0
    per_step = wall / steps
    result["whole_steps"] = {
        "threads": args.step_threads,
        "model_days": steps * dt / DAY,
        "steps": steps,
        "wall_seconds": wall,
        "seconds_per_step": per_step,
        "pcg_iterations_mean": float(np.mean(iterations)),
        "wet_cells_mean_end": int((state.depth > sw.dry_depth).sum()),
        "spring_neap_cycle_seconds": per_step * SPRING_NEAP_DAYS * DAY / dt,
    }
    result["transport"] = transport_on_stored_hydrodynamics(sw, hours=2 if args.quick else 4)
    _print(result)
    path = (
        Path(args.json)
        if args.json
        else Path(__file__).with_name("results")
        / ("shallow_water_quick.json" if args.quick else "shallow_water.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict) -> None:
    g = result["grid"]
    print(f"bay {g['nx']}×{g['ny']} at {g['dx_m']:g} m: {g['sea_cells']} sea cells, "
          f"{g['wet_cells_after_spinup']} wet, Δt {g['dt_s']:g} s")  # fmt: skip
    for threads, row in result["threads"].items():
        s = row["solves"]
        print(
            f"{threads} thread(s): explicit {row['explicit_wet_cell_steps_per_s'] / 1e6:.1f} M "
            f"wet cell-steps/s = {row['numba_over_numpy']:.1f}× NumPy, "
            f"{100 * row['explicit_fraction_of_bound']:.0f} % of the bound "
            f"({row['triad_GB_per_s']:.1f} GB/s); PCG {s['pcg']['iterations']} it, "
            f"{1e3 * s['pcg']['seconds']:.1f} ms ({100 * row['pcg_fraction_of_bound']:.0f} % of "
            f"its bound); splu {1e3 * s['splu']['seconds']:.0f} ms, cg "
            f"{1e3 * s['cg']['seconds']:.0f} ms, pyamg "
            + (f"{1e3 * s['pyamg']['seconds']:.0f} ms" if s["pyamg"]["seconds"] else "n/a")
        )
    w = result["whole_steps"]
    print(f"whole steps: {1e3 * w['seconds_per_step']:.1f} ms/step ({w['pcg_iterations_mean']:.1f} "
          f"PCG it) -> spring-neap cycle {w['spring_neap_cycle_seconds']:.0f} s")  # fmt: skip
    t = result["transport"]
    print(f"4 tracers on hourly hydrodynamics: {t['seconds_per_model_hour']:.2f} s per model hour "
          f"-> a year {t['year_seconds_extrapolated']:.0f} s (mass imbalance "
          f"{t['relative_mass_imbalance']:.1e})")  # fmt: skip


if __name__ == "__main__":
    main()
