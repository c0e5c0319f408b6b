"""Work estimates: what a run, a steady solve or an ensemble costs, known before it starts.

`estimate_work` counts a time-marching run's cell-steps (time steps × wet cells × tracers), with
the time step it uses and what sets it, and the memory it holds (the state and its stage copies,
the flow fields, and the output records a run keeps until it writes them); a steady solve's cost
(sparse LU factorisations, one per distinct decay rate, plus the defect-correction solves of a
limited scheme) in the same cell-steps at the measured rates below; ensembles and scenario sets
multiply by their members. `check_work` refuses an estimate beyond `MAX_CELL_STEPS` or
`MAX_MEMORY_BYTES` with a `WorkError` that names the estimate and says ``--force``
(``force=True``) lifts the bound.

The rates are this project's measurements (../shared/PERFORMANCE.md, 2-core machines); an
estimate is right to a factor of a few, which is all a bound against unit slips needs: the
cases it exists for (a 1e-4 m cell, currents of 1e4 m/s, a million members) are 1e3–1e9 times
over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bbw_bay.errors import BadInputError

#: Explicit transport throughput [tracer-cell updates per second]: PERFORMANCE.md measures
#: 311–361 Mcell/s for one fused step of one tracer on 2 threads (the Numba kernels; several
#: tracers in one pass go faster per tracer), so ~3e8 cell-steps/s.
CELL_STEP_RATE = 3.0e8
#: Bound on a command's work: 2e11 cell-steps at CELL_STEP_RATE is ~670 s, about 10 minutes of
#: this machine. A year of the shipped 1/30-degree gulf (25,779 wet cells, 4 tracers, dt =
#: 3,515 s: `bbw-bay check configs/beibu_gulf.toml`) is 9.3e8 cell-steps, and a year at 1/60
#: degree (103,024 cells, dt = 1,397 s) 9.3e9, so shipped cases fit 20 times over, spin-up
#: included; beyond it a run is far more often a unit slip than a plan, and ``--force`` runs it.
MAX_CELL_STEPS = 2.0e11
#: Bound on memory [bytes]: 16 GB, two thirds of this machine's 23 GB, leaving the rest to the
#: operating system and the netCDF writer's copy.
MAX_MEMORY_BYTES = 16.0e9
#: Copies of the (tracers, ny, nx) float64 state a run holds: the state, the stage and scratch
#: buffers of the SSP Runge–Kutta step, the time-mean accumulator, the record being built.
STATE_COPIES = 6
#: Output records are held as a list, then stacked into the Dataset that is written: 2 copies.
RECORD_COPIES = 2
#: Sparse LU (scipy ``splu``, nested-dissection-like fill) of the steady operator: PERFORMANCE.md
#: measures 1.3–2.7 GB of factors for the 1680 × 1320 grid (~1.46e6 wet cells), i.e. up to
#: ~90 bytes × n log2 n, and 0.35–0.42 s to factorise 91k wet cells, scaling as n^1.5 (20–26 s
#: at 1.46e6 = 0.42 s × 16^1.5 × 0.95); one solve takes 11–18 ms at 91k cells.
FACTOR_BYTES_PER_NLOGN = 90.0
FACTOR_SECONDS_91K = 0.42
SOLVE_SECONDS_91K = 0.018
REFERENCE_CELLS = 91_000
#: Defect-correction iterations of a limited (MC) steady state: 24–28 measured (PERFORMANCE.md).
LIMITED_ITERATIONS = 30


class WorkError(BadInputError):
    """The estimated work or memory of a command exceeds the bound (``--force`` lifts it)."""


@dataclass(frozen=True)
class WorkEstimate:
    """What a command will cost.

    Attributes
    ----------
    kind : "run", "steady" or "ensemble" (steady solves of members)
    members : independent solves or runs (ensemble members, scenario cases; 1 otherwise)
    wet_cells, tracers : problem size
    steps : time steps of one run (0 for steady solves)
    dt : time step [s] of a run (None for steady solves)
    dt_source : what sets the time step ("given", "0.9 × positivity bound", ...)
    cell_steps : steps × wet cells × tracers × members; for steady solves the equivalent at
        `CELL_STEP_RATE` of their estimated time
    seconds : estimated wall time on this project's 2-core machines [s]
    memory_bytes : peak memory [bytes] (state, flow, output records or LU factors)
    """

    kind: str
    members: int
    wet_cells: int
    tracers: int
    steps: float
    dt: float | None
    dt_source: str
    cell_steps: float
    seconds: float
    memory_bytes: float

    def describe(self) -> str:
        """One line for ``bbw-bay check`` and for error messages."""
        size = f"{self.wet_cells:,} wet cells × {self.tracers} tracer(s)"
        if self.members > 1:
            size += f" × {self.members:,} members"
        if self.kind == "run":
            step = f"{_g(self.steps)} steps of dt = {self.dt:.3g} s ({self.dt_source})"
            what = f"{step}, {size} = {_g(self.cell_steps)} cell-steps"
        else:
            what = f"{self.kind} solve of {size} ≈ {_g(self.cell_steps)} cell-step equivalents"
        return (
            f"{what}; ~{_duration(self.seconds)} at {CELL_STEP_RATE:.0e} cell-steps/s; memory "
            f"~{_bytes(self.memory_bytes)}"
        )


def estimate_work(
    model: Any,
    *,
    kind: str = "run",
    duration: float | None = None,
    output_interval: float | None = None,
    dt: float | None = None,
    members: int = 1,
    fields_kept: int | None = None,
) -> WorkEstimate:
    """Estimate the work and memory of running ``model``.

    Parameters
    ----------
    model : a `bbw_bay.core.model.Model` (what is read: ``grid``, ``tracers``, ``flow``,
        ``advection``, ``stable_dt()``)
    kind : "run" (time marching), "steady" (sparse steady state) or "ensemble" (steady solves
        of ``members`` members)
    duration : run length [s] (run; required)
    output_interval : spacing of output records [s] (run; default ``duration``)
    dt : the given time step [s]; None or 0 takes ``model.stable_dt()``
    members : independent solves (ensemble members, scenario cases), run one after another
    fields_kept : (tracers, ny, nx) fields held in memory until written; default the run's
        records, 1 for a steady solve or an ensemble (whose members keep zone statistics
        only); a scenario set keeps one per case

    Returns
    -------
    WorkEstimate
    """
    if kind not in ("run", "steady", "ensemble"):
        raise ValueError(f"kind must be run, steady or ensemble, found {kind!r}")
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise WorkError(f"members must be an integer >= 1, found {members!r}")
    grid = model.grid
    wet, cells, tracers = int(grid.n_wet), int(grid.nx * grid.ny), len(model.tracers)
    field_bytes = 8.0 * tracers * cells
    flow_bytes = float(sum(getattr(model.flow, name).nbytes for name in _flow_arrays(model.flow)))
    if kind == "run":
        if duration is None or not duration > 0:
            raise WorkError(f"a run needs a duration > 0 s, found {duration!r}")
        interval = output_interval if output_interval and output_interval > 0 else duration
        if dt:
            step, source = float(dt), "given"
            if not step > 0:
                raise WorkError(f"a run needs a time step > 0 s, found {dt!r}")
        else:
            step, source = float(model.stable_dt()), "0.9 × positivity bound"
        step = min(step, interval)  # an output interval is never stepped over
        records = math.ceil(duration / interval)
        per_record = interval / step  # an integer count unless absurdly many (or infinite)
        steps = records * (math.ceil(per_record - 1e-9) if per_record < 1e15 else per_record)
        cell_steps = steps * wet * tracers * members
        kept = records + 1 if fields_kept is None else fields_kept
        memory = (STATE_COPIES + RECORD_COPIES * kept) * field_bytes + flow_bytes
        return WorkEstimate(
            kind,
            members,
            wet,
            tracers,
            steps,
            step,
            source,
            cell_steps,
            cell_steps / CELL_STEP_RATE,
            memory,
        )
    scale = wet / REFERENCE_CELLS
    nlogn = wet * math.log2(max(wet, 2))
    rates = {getattr(t, "decay_per_day", k) for k, t in enumerate(model.tracers.values())}
    factor_seconds = FACTOR_SECONDS_91K * scale**1.5
    solve_seconds = SOLVE_SECONDS_91K * nlogn / (REFERENCE_CELLS * math.log2(REFERENCE_CELLS))
    iterations = 1 if getattr(model, "advection", "mc") == "upwind" else LIMITED_ITERATIONS
    seconds = members * (len(rates) * factor_seconds + tracers * iterations * solve_seconds)
    kept = 1 if fields_kept is None else fields_kept
    memory = (
        len(rates) * FACTOR_BYTES_PER_NLOGN * nlogn
        + (STATE_COPIES + RECORD_COPIES * kept) * field_bytes
        + flow_bytes
    )
    return WorkEstimate(
        kind,
        members,
        wet,
        tracers,
        0.0,
        None,
        "steady",
        seconds * CELL_STEP_RATE,
        seconds,
        memory,
    )


def check_work(estimate: WorkEstimate, *, force: bool = False) -> WorkEstimate:
    """Return ``estimate`` if it is within `MAX_CELL_STEPS` and `MAX_MEMORY_BYTES` (or ``force``);
    otherwise raise `WorkError` naming the estimate, the bound and how to lift it."""
    if force:
        return estimate
    over = []
    if estimate.cell_steps > MAX_CELL_STEPS:
        over.append(
            f"{_g(estimate.cell_steps)} cell-steps exceed the bound of {_g(MAX_CELL_STEPS)} "
            f"(~{_duration(MAX_CELL_STEPS / CELL_STEP_RATE)} here)"
        )
    if estimate.memory_bytes > MAX_MEMORY_BYTES:
        over.append(
            f"~{_bytes(estimate.memory_bytes)} of memory exceeds the bound of "
            f"{_bytes(MAX_MEMORY_BYTES)}"
        )
    if not over:
        return estimate
    hint = (
        "; a time step this short usually means a unit slip in the cell size (grid.dx_m, "
        "grid.dy_m are metres) or the currents (m/s)"
        if estimate.kind == "run" and estimate.dt is not None and estimate.dt < 1.0
        else ""
    )
    raise WorkError(
        f"estimated work: {estimate.describe()}: {' and '.join(over)}{hint}; check the config, "
        "or add --force (force=True) to run it anyway"
    )


def _flow_arrays(flow: Any) -> tuple[str, ...]:
    return tuple(
        name
        for name in ("transport_u", "transport_v", "volumes", "times")
        if hasattr(getattr(flow, name, None), "nbytes")
    )


def _g(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.3g}"


def _bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def _duration(seconds: float) -> str:
    for unit, size in (("years", 3.156e7), ("days", 86_400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


__all__ = [
    "CELL_STEP_RATE",
    "MAX_CELL_STEPS",
    "MAX_MEMORY_BYTES",
    "WorkError",
    "WorkEstimate",
    "check_work",
    "estimate_work",
]
