"""Throughput of the fused Numba transport stage vs the NumPy reference and the bandwidth bound.

Usage::

    python benchmarks/bench_transport.py [--quick] [--json PATH] [--no-steady]

Measures, in one run, on a realistic masked C-grid (about 25 % land in smooth blobs, open south
and east boundaries, a smooth divergence-free transport field from a streamfunction with a
maximum outflow Courant number of 0.3, 4 tracers DIN/PO4/COD/oil, MC limiter):

* cell-updates per second per tracer of `core.kernels.transport.transport_stage` (1 and 2 Numba
  threads) and of `core.reference.transport_stage` (NumPy, single-threaded), per stage and per
  full SSPRK(4,2) step (`Solver.advance`, four stages + boundary bookkeeping);
* the memory bandwidth by a STREAM triad (`kernels.stream_triad`, 1 and 2 threads; NumPy triad
  for reference);
* the bandwidth bound = bandwidth / (bytes moved per cell-update, see `BYTES_PER_TRACER_CELL`
  and `BYTES_SHARED_PER_CELL`), and the fraction of it that the kernel reaches;
* (full run only) the wall time of `Model.steady_state()` vs time marching with `Model.run` to
  the same steady state (max relative change per step < 1e-6).

Timings: compilation excluded (warm-up calls), `time.perf_counter`, median of >= 3 repetitions,
each repetition long enough (>= 0.2 s, or 0.05 s with --quick) to swamp timer resolution.
Prints a table and writes every number (with machine metadata) to a JSON file.
"""

from __future__ import annotations

import argparse
import datetime as dt_module
import inspect
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
from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.kernels import transport as kernels
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource
from bbw_bay.core.steady import SteadyStateError

#: Bytes moved per tracer-cell by one stage: arrays indexed (tracer, y, x) in the kernel.
BYTES_PER_TRACER_CELL = {"c": 8, "c_start": 8, "loads": 8, "out": 8}
#: Bytes moved per cell by one stage, shared by all tracers: (y, x)-indexed float64 arrays.
BYTES_SHARED_PER_CELL = {
    "transport_u": 8,
    "transport_v": 8,
    "conductance_u": 8,
    "conductance_v": 8,
    "interior_u": 8,
    "interior_v": 8,
    "inv_volume": 8,
    "volume": 8,
    "region": 8,
}
#: Extra bytes per tracer-cell when the stage runs as two passes through (ntr, ny, nx+1) and
#: (ntr, ny+1, nx) face-flux scratch arrays (`kernels.face_fluxes` then `kernels.apply_fluxes`).
BYTES_TWO_PASS_EXTRA_PER_TRACER_CELL = {
    "flux_u write": 8,
    "flux_v write": 8,
    "flux_u read": 8,
    "flux_v read": 8,
    "c re-read": 8,
}
#: Tracers like the real model's (decay rates of configs/beibu_gulf.toml; backgrounds in mg/L).
TRACERS = {
    "DIN": Tracer(decay_per_day=0.01, background=0.20),
    "PO4": Tracer(decay_per_day=0.01, background=0.015),
    "COD": Tracer(decay_per_day=0.05, background=1.0),
    "oil": Tracer(decay_per_day=0.1, background=0.02),
}
#: Physical size of the benchmark domain [m] (all resolutions cover the same "gulf").
DOMAIN_X = 420e3
DOMAIN_Y = 330e3
COURANT = 0.3
DIFFUSIVITY = 10.0  # m²/s
TRIAD_SCALAR = 3.0


def bytes_per_update(ntracers: int) -> float:
    """Bytes moved per tracer-cell-update of one stage, the shared arrays amortised over tracers.

    Assumes every array element crosses the DRAM interface once per stage: the neighbouring rows
    of c (j±1, j±2 for the y-slopes) and of the (ny+1, nx) face arrays (row j+1, j+2) are still in
    cache when the next row needs them, and the write of ``out`` is counted once (8 B, no
    write-allocate read), the same convention as the STREAM triad's 24 B per element.
    """
    return sum(BYTES_PER_TRACER_CELL.values()) + sum(BYTES_SHARED_PER_CELL.values()) / ntracers


def two_pass_kernel() -> bool:
    """True when `kernels.transport_stage` takes face-flux scratch arrays (two-pass form)."""
    return "flux_u" in inspect.signature(kernels.transport_stage).parameters


def implementation_bytes_per_update(ntracers: int) -> float:
    """Bytes per tracer-cell-update moved by the current kernel (fused or two-pass)."""
    extra = sum(BYTES_TWO_PASS_EXTRA_PER_TRACER_CELL.values()) if two_pass_kernel() else 0
    return bytes_per_update(ntracers) + extra


def stage_kernel(c_shape: tuple[int, int, int]):
    """`kernels.transport_stage` as f(*stage_args, out, row_decay, row_boundary, row_section,
    row_region_decay)."""
    if not two_pass_kernel():
        return kernels.transport_stage
    ntr, ny, nx = c_shape
    flux_u = np.zeros((ntr, ny, nx + 1))
    flux_v = np.zeros((ntr, ny + 1, nx))
    return lambda *args: kernels.transport_stage(*args, flux_u, flux_v)


# ---------------------------------------------------------------------------------- problem
def smooth_field(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    modes: int = 24,
    max_wavenumber: float = 5.0,
) -> np.ndarray:
    """Random smooth field of unit standard deviation from Fourier modes (resolution independent).

    ``x``, ``y`` are coordinates normalised to [0, 1]; the same seed gives the same field on any
    grid, so the fine grid is the coarse problem refined.
    """
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape))
    for _ in range(modes):
        kx, ky = rng.uniform(-max_wavenumber, max_wavenumber, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        amplitude = 1.0 / (1.0 + np.hypot(kx, ky))
        out += amplitude * np.cos(2 * np.pi * (kx * x + ky * y) + phase)
    return (out - out.mean()) / out.std()


def _depth(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth depth [m] between about 10 and 60 m."""
    return 35.0 + 25.0 * np.tanh(smooth_field(x, y, rng))


def make_problem(
    nx: int, ny: int, *, seed: int = 2024, land_fraction: float = 0.25, advection: str = "mc"
):
    """(model, initial state (ntr, ny, nx), dt [s], description) of the benchmark problem."""
    dx, dy = DOMAIN_X / nx, DOMAIN_Y / ny
    xc = (np.arange(nx) + 0.5)[None, :] / nx
    yc = (np.arange(ny) + 0.5)[:, None] / ny
    rng = np.random.default_rng(seed)
    land_field = smooth_field(xc, yc, rng, max_wavenumber=4.0)
    # keep a band along the open south and east edges mostly wet, like a gulf's mouth
    land_field -= 2.0 * (np.exp(-yc / 0.08) + np.exp(-(1 - xc) / 0.08))
    wet = land_field < np.quantile(land_field, 1.0 - land_fraction)
    depth_state = rng.bit_generator.state
    depth = np.where(wet, _depth(xc, yc, rng), 0.0)
    grid = Grid.cartesian(
        nx, ny, dx=dx, dy=dy, depth=depth, wet=wet, open_boundaries=("south", "east")
    )

    # streamfunction at corners: through-flow (in at the south, out at the east) + eddies,
    # tapered to 0 within 15 km of land and of the closed west and north edges
    xe = np.arange(nx + 1)[None, :] / nx
    ye = np.arange(ny + 1)[:, None] / ny
    land_corner = np.zeros((ny + 1, nx + 1), dtype=bool)
    land = ~wet
    for dj in (0, 1):
        for di in (0, 1):
            land_corner[dj : dj + ny, di : di + nx] |= land
    land_corner[:, 0] = True
    land_corner[-1, :] = True
    distance = ndimage.distance_transform_edt(~land_corner, sampling=(dy, dx))
    s = np.clip(distance / 15e3, 0.0, 1.0)
    taper = s * s * (3.0 - 2.0 * s)
    rng_depth = np.random.default_rng()
    rng_depth.bit_generator.state = depth_state
    depth_corner = _depth(xe, ye, rng_depth)  # same smooth depth, at corners: speeds ~ psi / h
    psi = (
        taper
        * depth_corner
        * (xe * (1.0 - ye) + 0.15 * smooth_field(xe, ye, rng, max_wavenumber=6.0))
    )
    flow = Flow.from_streamfunction(grid, psi * 3.0e4)  # ~1 Sv through-flow, ~0.1–0.5 m/s

    wet_cells = np.argwhere(wet)
    picks = wet_cells[rng.choice(len(wet_cells), size=12, replace=False)]
    sources = [
        PointSource(
            f"S{k}",
            x=float(grid.x_centre[i]),
            y=float(grid.y_centre[j]),
            loads={"DIN": 50.0, "PO4": 5.0, "COD": 300.0, "oil": 2.0},
        )
        for k, (j, i) in enumerate(picks)
    ]
    model = Model(
        grid, flow, tracers=TRACERS, sources=sources, diffusivity=DIFFUSIVITY, advection=advection
    )
    outflow = flow.max_outflow_rate()
    rate = np.zeros(grid.shape)
    rate[wet] = outflow[wet] / grid.volume[wet]
    dt = COURANT / rate.max()
    model.solver.check_dt(dt)  # below the positivity bound
    initial = {
        name: tracer.background * (1.0 + 0.5 * np.tanh(smooth_field(xc, yc, rng)))
        for name, tracer in TRACERS.items()
    }
    c0 = model.initial_state(initial)
    speed = np.abs(flow.transport_u[0][:, 1:-1]) / np.maximum(
        grid.depth_u[:, 1:-1] * grid.length_u[:, 1:-1], 1e-30
    )
    info = {
        "nx": nx,
        "ny": ny,
        "cells": nx * ny,
        "wet_cells": int(wet.sum()),
        "land_fraction": float(1.0 - wet.mean()),
        "dx_m": dx,
        "dy_m": dy,
        "open_boundaries": ["south", "east"],
        "tracers": list(TRACERS),
        "limiter": advection,
        "dt_s": dt,
        "max_outflow_courant": COURANT,
        "median_outflow_courant_wet": float(np.median(rate[wet]) * dt),
        "stable_dt_s": model.stable_dt(),
        "max_u_m_per_s": float(speed.max()),
        "max_abs_divergence_m3_per_s": float(np.abs(flow.divergence()[wet]).max()),
        "diffusivity_m2_per_s": DIFFUSIVITY,
        "point_sources": len(sources),
    }
    return model, c0, dt, info


def stage_args(
    model: Model,
    c: np.ndarray,
    c_start: np.ndarray,
    dt: float,
    weight_start: float,
    weight_stage: float,
) -> tuple:
    """Arguments of `kernels.transport_stage` (and its NumPy twin), as `Solver` builds them."""
    s = model.solver
    u, v = model.flow.at(0.0)
    s.boundary.reset(model.background_at(0.0))
    g = s.boundary.ghost
    return (
        c,
        c_start,
        u,
        v,
        s.conductance_u,
        s.conductance_v,
        s.interior_u,
        s.interior_v,
        s.inv_volume,
        s.volume,
        s.decay,
        s.loads_at(0.0),
        g["west"],
        g["east"],
        g["south"],
        g["north"],
        dt,
        weight_start,
        weight_stage,
        s.limiter,
        *s.sections.arrays(),
        s.region_weight,
    )


# ---------------------------------------------------------------------------------- timing
def time_call(fn, *, repeats: int, min_seconds: float) -> dict:
    """Seconds per call of ``fn``: median (and min, all) over ``repeats`` repetitions.

    One warm-up call; each repetition runs ``fn`` enough times to last ``min_seconds``.
    """
    fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    inner = max(1, int(np.ceil(min_seconds / max(once, 1e-9))))
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - t0) / inner)
    return {
        "median_s": statistics.median(runs),
        "min_s": min(runs),
        "runs_s": runs,
        "calls_per_run": inner,
    }


def triad(n: int, *, threads_list, repeats: int) -> dict:
    """STREAM triad a = b + s·c on ``n`` doubles: best GB/s (24 B per element), Numba and NumPy."""
    a = np.zeros(n)
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    tmp = np.zeros(n)
    result = {"elements": n, "bytes_per_element": 24, "numba": {}}
    for threads in threads_list:
        kernels.set_threads(threads)
        kernels.stream_triad(a, b, c, TRIAD_SCALAR)
        best = min(
            _timed(lambda: kernels.stream_triad(a, b, c, TRIAD_SCALAR)) for _ in range(repeats)
        )
        result["numba"][str(threads)] = {
            "best_s": best,
            "GB_per_s": 24 * n / best / 1e9,
            "load_average_1min": os.getloadavg()[0],
        }

    def numpy_triad():
        np.multiply(c, TRIAD_SCALAR, out=tmp)
        np.add(b, tmp, out=a)

    numpy_triad()
    best = min(_timed(numpy_triad) for _ in range(repeats))
    result["numpy"] = {
        "best_s": best,
        "GB_per_s": 24 * n / best / 1e9,
        "note": "np.multiply(c, s, out=tmp); np.add(b, tmp, out=a): two passes, "
        "40 B really moved per element; GB/s counts STREAM's 24 B",
    }
    if not np.allclose(a[:10], 1.0 + TRIAD_SCALAR * 2.0):
        raise RuntimeError("triad produced a wrong result")
    return result


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------- benchmarks
def bench_grid(
    nx: int, ny: int, *, threads_list, repeats: int, min_seconds: float, numpy_repeats: int
) -> dict:
    """Stage and step throughput of Numba (per thread count) and NumPy on one grid."""
    model, c0, dt, info = make_problem(nx, ny)
    ntr = c0.shape[0]
    updates = ntr * nx * ny  # tracer-cell updates per stage
    # a stage as the step's last, blended stage: c (previous stage), c_start (step start)
    stage1 = np.empty_like(c0)
    kernel = stage_kernel(c0.shape)
    row_decay = np.zeros((ntr, ny))
    row_boundary = np.zeros((ntr, ny))
    row_section = np.zeros((ntr, ny, len(model.solver.sections.names)))
    row_region = np.zeros((ntr, ny))
    kernel(
        *stage_args(model, c0, c0, dt, 0.0, 1.0),
        stage1,
        row_decay,
        row_boundary,
        row_section,
        row_region,
    )
    args = stage_args(model, stage1, c0, dt, 0.25, 0.75)
    out = np.empty_like(c0)

    result = {
        "problem": info,
        "updates_per_stage": updates,
        "numba": {},
        "implementation": "two-pass" if two_pass_kernel() else "fused",
        "implementation_bytes_per_update": implementation_bytes_per_update(ntr),
    }
    work = np.empty_like(c0)
    rows = (row_decay, row_boundary, row_section, row_region)
    for threads in threads_list:
        kernels.set_threads(threads)
        stage = time_call(
            lambda: kernel(*args, out, *rows), repeats=repeats, min_seconds=min_seconds
        )
        model.solver.boundary.reset(model.background_at(0.0))
        step = time_call(
            lambda: model.solver.advance(c0, 0.0, dt, out=work),
            repeats=repeats,
            min_seconds=min_seconds,
        )
        result["numba"][str(threads)] = {
            "stage": stage,
            "step": step,
            "stage_Mcell_per_s": updates / stage["median_s"] / 1e6,
            "stage_best_Mcell_per_s": updates / stage["min_s"] / 1e6,
            "step_Mcell_per_s": updates / step["median_s"] / 1e6,
            "load_average_1min": os.getloadavg()[0],
        }
    nsec = len(model.solver.sections.names)
    numpy_stage = time_call(
        lambda: reference.transport_stage(*args, nsec), repeats=numpy_repeats, min_seconds=0.0
    )
    ref_out = reference.transport_stage(*args, nsec)[0]
    numpy_model = Model(
        model.grid,
        model.flow,
        tracers=TRACERS,
        sources=model.sources,
        diffusivity=DIFFUSIVITY,
        advection="mc",
        engine="numpy",
    )
    numpy_model.solver.boundary.reset(model.background_at(0.0))
    numpy_step = time_call(
        lambda: numpy_model.solver.advance(c0, 0.0, dt, out=work),
        repeats=numpy_repeats,
        min_seconds=0.0,
    )
    result["numpy"] = {
        "stage": numpy_stage,
        "step": numpy_step,
        "stage_Mcell_per_s": updates / numpy_stage["median_s"] / 1e6,
        "step_Mcell_per_s": updates / numpy_step["median_s"] / 1e6,
    }
    scale = float(np.abs(ref_out).max())
    result["numba_vs_numpy_max_relative_difference"] = float(np.abs(out - ref_out).max() / scale)
    return result


def bench_steady(
    nx: int,
    ny: int,
    *,
    max_march_seconds: float,
    tolerance: float = 1e-6,
    chunk_steps: int = 200,
    advection: str = "upwind",
) -> dict:
    """Wall time of `Model.steady_state()` vs `Model.run` marching to the same steady state.

    Marching starts from the backgrounds and runs chunks of ``chunk_steps`` steps (dt = the
    model's own stable dt) until one step changes no value by more than ``tolerance`` times the
    tracer's maximum, or ``max_march_seconds`` pass.
    """
    model, _, _, info = make_problem(nx, ny, advection=advection)
    t0 = time.perf_counter()
    try:
        steady = model.steady_state()
        failure = None
    except SteadyStateError as err:
        steady, failure = None, str(err)
    steady_s = time.perf_counter() - t0
    dt = model.stable_dt()
    c = {name: 0.0 + tracer.background for name, tracer in TRACERS.items()}
    c = model.initial_state(c)
    steps = 0
    change = np.inf
    t0 = time.perf_counter()
    history = []
    while time.perf_counter() - t0 < max_march_seconds:
        ds = model.run(chunk_steps * dt, dt=dt, initial=_as_initial(c), output_interval=None)
        c = np.stack([ds[name].values[-1] for name in TRACERS])
        ds = model.run(dt, dt=dt, initial=_as_initial(c), output_interval=None)
        new = np.stack([ds[name].values[-1] for name in TRACERS])
        steps += chunk_steps + 1
        wet = model.grid.wet
        change = max(
            float(np.abs(new[k][wet] - c[k][wet]).max() / np.abs(new[k][wet]).max())
            for k in range(len(TRACERS))
        )
        history.append((steps, change))
        c = new
        if change < tolerance:
            break
    march_s = time.perf_counter() - t0
    wet = model.grid.wet
    gap = None
    if steady is not None:
        ss = np.stack([steady[name].values for name in TRACERS])
        gap = max(
            float(np.abs(c[k][wet] - ss[k][wet]).max() / np.abs(ss[k][wet]).max())
            for k in range(len(TRACERS))
        )
    # where marching stopped early: extrapolate the geometric decay of the per-step change
    steps_needed = float(steps) if change < tolerance else None
    if change >= tolerance and len(history) >= 4:
        tail = np.array(history[len(history) // 2 :])
        slope = np.polyfit(tail[:, 0], np.log(tail[:, 1]), 1)[0]
        if slope < 0:
            steps_needed = steps + np.log(tolerance / change) / slope
    march_estimate_s = None if steps_needed is None else steps_needed * march_s / steps
    return {
        "march_steps_needed_estimate": steps_needed,
        "march_s_estimate": march_estimate_s,
        "march_estimate_over_steady_time_ratio": None
        if steady is None or march_estimate_s is None
        else march_estimate_s / steady_s,
        "grid": f"{nx}x{ny}",
        "advection": advection,
        "wet_cells": info["wet_cells"],
        "tracers": list(TRACERS),
        "steady_state_s": steady_s,
        "steady_state_error": failure,
        "steady_iterations": None if steady is None else int(steady.attrs["steady_iterations"]),
        "march_dt_s": dt,
        "march_steps": steps,
        "march_s": march_s,
        "march_reached_tolerance": bool(change < tolerance),
        "march_last_max_relative_change_per_step": change,
        "tolerance": tolerance,
        "march_history": history,
        "march_vs_steady_max_relative_difference": gap,
        "march_over_steady_time_ratio": march_s / steady_s if steady is not None else None,
    }


def _as_initial(c: np.ndarray) -> dict:
    return {name: np.nan_to_num(np.maximum(c[k], 0.0)) for k, name in enumerate(TRACERS)}


# ---------------------------------------------------------------------------------- report
def machine_metadata() -> dict:
    """CPU model, cores, library versions, threading layer, load."""
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
        "numba": numba.__version__,
        "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": kernels.threading_layer(),
        "load_average_1_5_15": list(os.getloadavg()),
    }


def summarise(results: dict) -> list[dict]:
    """One row per (grid, threads): throughputs, ratio, bytes, bound, fraction of the bound."""
    rows = []
    for grid in results["grids"]:
        ntr = len(grid["problem"]["tracers"])
        nbytes = bytes_per_update(ntr)
        impl_bytes = grid["implementation_bytes_per_update"]
        numpy_rate = grid["numpy"]["stage_Mcell_per_s"]
        for threads, entry in grid["numba"].items():
            bandwidth = results["triad"]["numba"][threads]["GB_per_s"]
            bound = bandwidth * 1e9 / nbytes / 1e6
            rate = entry["stage_Mcell_per_s"]
            rows.append(
                {
                    "grid": f"{grid['problem']['nx']}x{grid['problem']['ny']}",
                    "threads": int(threads),
                    "numba_Mcell_per_s": rate,
                    "numpy_Mcell_per_s": numpy_rate,
                    "numba_over_numpy": rate / numpy_rate,
                    "numba_step_Mcell_per_s": entry["step_Mcell_per_s"],
                    "numpy_step_Mcell_per_s": grid["numpy"]["step_Mcell_per_s"],
                    "step_numba_over_numpy": entry["step_Mcell_per_s"]
                    / grid["numpy"]["step_Mcell_per_s"],
                    "bytes_per_update": nbytes,
                    "bytes_per_update_1_tracer": bytes_per_update(1),
                    "triad_GB_per_s": bandwidth,
                    "bound_Mcell_per_s": bound,
                    "fraction_of_bound": rate / bound,
                    "implementation": grid["implementation"],
                    "implementation_bytes_per_update": impl_bytes,
                    "implementation_achieved_GB_per_s": rate * impl_bytes / 1e3,
                }
            )
    return rows


def print_report(results: dict) -> None:
    meta = results["machine"]
    print(f"# bbw_bay transport benchmark, {meta['date']}")
    print(
        f"CPU {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs), numba {meta['numba']} "
        f"({meta['threading_layer']}), numpy {meta['numpy']}, python {meta['python']}, "
        f"load {meta['load_average_1_5_15']}"
    )
    tri = results["triad"]
    parts = [f"{t} thr {v['GB_per_s']:.1f} GB/s" for t, v in tri["numba"].items()]
    print(
        f"STREAM triad ({tri['elements']:.1e} doubles): numba "
        + ", ".join(parts)
        + f"; numpy {tri['numpy']['GB_per_s']:.1f} GB/s"
    )
    ntr = len(TRACERS)
    print(
        f"bytes per tracer-cell-update: {sum(BYTES_PER_TRACER_CELL.values())} per tracer "
        f"+ {sum(BYTES_SHARED_PER_CELL.values())} shared / {ntr} tracers = "
        f"{bytes_per_update(ntr):.0f} B (1 tracer: {bytes_per_update(1):.0f} B); the "
        f"current {'two-pass' if two_pass_kernel() else 'fused'} kernel moves "
        f"{implementation_bytes_per_update(ntr):.0f} B"
    )
    print(
        "| grid | threads | Numba Mcell/s | NumPy Mcell/s | ratio | step Numba / NumPy "
        "Mcell/s | B/update | bound Mcell/s | fraction of bound |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["summary"]:
        print(
            f"| {r['grid']} | {r['threads']} | {r['numba_Mcell_per_s']:.1f} | "
            f"{r['numpy_Mcell_per_s']:.2f} | {r['numba_over_numpy']:.1f} | "
            f"{r['numba_step_Mcell_per_s']:.1f} / {r['numpy_step_Mcell_per_s']:.2f} | "
            f"{r['bytes_per_update']:.0f} | {r['bound_Mcell_per_s']:.0f} | "
            f"{100 * r['fraction_of_bound']:.0f} % |"
        )
    for grid in results["grids"]:
        print(
            f"{grid['problem']['nx']}x{grid['problem']['ny']}: Numba vs NumPy max relative "
            f"difference {grid['numba_vs_numpy_max_relative_difference']:.1e}"
        )
    for s in results.get("steady", []):
        print(
            f"steady state {s['grid']} {s['advection']}: steady_state() "
            f"{s['steady_state_s']:.2f} s (iterations {s['steady_iterations']}, error "
            f"{s['steady_state_error']}); marching {s['march_steps']} steps in "
            f"{s['march_s']:.1f} s, reached {s['tolerance']:g}: {s['march_reached_tolerance']} "
            f"(last change {s['march_last_max_relative_change_per_step']:.1e}); estimated steps "
            f"to {s['tolerance']:g}: {s['march_steps_needed_estimate']}, estimated time "
            f"{s['march_s_estimate']} s; gap to steady "
            f"{s['march_vs_steady_max_relative_difference']}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small grid and short repetitions only (< 60 s; smoke test)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the results (default benchmarks/results/transport[_quick].json)",
    )
    parser.add_argument(
        "--no-steady", action="store_true", help="skip the steady-state vs time-marching comparison"
    )
    args = parser.parse_args(argv)
    threads_list = [t for t in (1, 2) if t <= numba.config.NUMBA_NUM_THREADS]
    if args.quick:
        grids = [(420, 330)]
        repeats, min_seconds, numpy_repeats, triad_n, triad_repeats = 3, 0.05, 3, 20_000_000, 3
    else:
        grids = [(420, 330), (1680, 1320)]
        repeats, min_seconds, numpy_repeats, triad_n, triad_repeats = 5, 0.2, 3, 80_000_000, 5
    t_start = time.perf_counter()
    results = {
        "command": " ".join(
            [
                "python",
                "benchmarks/bench_transport.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "quick": args.quick,
    }
    results["triad"] = triad(triad_n, threads_list=threads_list, repeats=triad_repeats)
    results["grids"] = [
        bench_grid(
            nx,
            ny,
            threads_list=threads_list,
            repeats=repeats,
            min_seconds=min_seconds,
            numpy_repeats=numpy_repeats,
        )
        for nx, ny in grids
    ]
    results["bytes_model"] = {
        "per_tracer_cell": BYTES_PER_TRACER_CELL,
        "shared_per_cell": BYTES_SHARED_PER_CELL,
        "per_update_4_tracers": bytes_per_update(4),
        "per_update_1_tracer": bytes_per_update(1),
        "assumption": bytes_per_update.__doc__.split("\n\n", 1)[1].strip(),
        "two_pass_extra_per_tracer_cell": BYTES_TWO_PASS_EXTRA_PER_TRACER_CELL,
        "implementation": "two-pass" if two_pass_kernel() else "fused",
        "implementation_per_update_4_tracers": implementation_bytes_per_update(4),
    }
    kernels.set_threads(max(threads_list))
    if not args.quick and not args.no_steady:
        results["steady"] = [
            bench_steady(420, 330, max_march_seconds=90.0, advection=adv) for adv in ("upwind",)
        ]
    results["machine"] = machine_metadata()
    results["summary"] = summarise(results)
    results["wall_seconds"] = time.perf_counter() - t_start
    print_report(results)
    path = args.json or Path(__file__).parent / "results" / (
        "transport_quick.json" if args.quick else "transport.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"results written to {path}")
    return results


if __name__ == "__main__":
    main()
