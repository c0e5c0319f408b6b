"""Simulation: a model, a stop time, an output schedule, the guard, a checkpointer, provenance.

As in Oceananigans, the model owns its state and one time step (``model.solver.advance``); the
`Simulation` owns the run: an optional spin-up that is computed but not written, output records
(time means over each interval by default, or snapshots), the NaN/negativity guard, periodic
checkpoints that a later ``run(resume=True)`` continues bit for bit (`bbw_bay.core.checkpoint`),
and the checksums of every input the run depends on, so that a resume after any of them changed
is refused with the name of the input.

A `Simulation` runs any model with the interface of `bbw_bay.core.model.Model` (``names``,
``grid``, ``solver``, ``initial_state``, ``total_mass``, ``region_mass``, ``background_at``,
``boundary_values_at``, ``with_mean_ages``, ``settings``) and imports none: `Model.run`, a
convenience for short snapshot runs, is built on it.

Time means: a record is (1/T) ∫ c dt over its interval by the trapezoidal rule on the time
levels of the steps, Σ_n (h_n / 2)(c_n + c_{n+1}); second order like SSPRK(s,2) itself, so the
record of a smooth history is within O(h²) of the exact interval mean (tests/core/
test_simulation.py measures it on exponential decay).
"""

from __future__ import annotations

import json
import logging
import os
import time as wallclock
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.core.checkpoint import (
    Checkpointer,
    CheckpointError,
    Record,
    RunState,
    arrays_digest,
    input_digests,
    json_digest,
    model_digest,
)
from bbw_bay.core.output import add_provenance, records_dataset
from bbw_bay.core.solver import MassBudget
from bbw_bay.core.spinup import (
    auto_spinup_days,
    forcing_varies,
    steady_start,
    storage_change_of_load,
)
from bbw_bay.errors import BadInputError, RuntimeFailure, unknown_name
from bbw_bay.units import DAY, YEAR

log = logging.getLogger(__name__)

#: Output records: "mean" (time mean over each output interval, CF ``cell_methods = "time:
#: mean"`` with ``time_bnds``) or "snapshot" (the state at the start and at each output time).
OUTPUT_MODES = ("mean", "snapshot")
#: Relative slack below which a time counts as reached (round-off of summed steps).
_TIME_EPS = 1e-9


class SimulationError(BadInputError):
    """Bad simulation options (a checkpoint that cannot be resumed is a `CheckpointError`)."""


class InstabilityError(RuntimeFailure):
    """A run produced NaN, Inf or negative concentrations."""


@dataclass
class RunStatistics:
    """What a run did over its evaluated period: steps, time step, wall time, mass budget."""

    steps: int = 0
    dt_max: float = 0.0
    dt_min: float = np.inf
    wall_seconds: float = 0.0
    budget: dict = field(default_factory=dict)
    max_relative_imbalance: float = 0.0
    region_budget: dict = field(default_factory=dict)
    spinup_steps: int = 0
    spinup_budget: dict = field(default_factory=dict)
    spinup_region_budget: dict = field(default_factory=dict)
    #: {tracer: storage change / loads in} over the evaluated period (NaN without loads)
    storage_change_of_load: dict = field(default_factory=dict)


class Simulation:
    """Run a model: spin-up, output schedule, guard, checkpoints, provenance.

    Parameters
    ----------
    model : `bbw_bay.core.model.Model` (or a model with its interface)
    stop_days : length of the evaluated period [days], from ``start_day_of_year`` on
    output_interval_days : output spacing [days] (default: one record for the whole period)
    start_day_of_year : start of the evaluated period [days after 1 January]; sets monthly
        loads, backgrounds and the seasonal flow
    spinup_days : days computed before the start and not written (the state settles into the
        forcing cycle first); the mass budget of the spin-up is reported separately
    output : "mean" (default): each record is the time mean over its interval (trapezoidal rule
        over the time steps), stamped at the interval's midpoint with ``time_bnds``; "snapshot":
        the state at the start of the evaluated period and at each output time
    initial : {tracer: concentration [mg/L] as reported} at the beginning of the run (the
        spin-up's start when there is one); tracers not given start at their background
    dt : time step [s]; None picks 0.9 × the positivity bound, a larger one is refused
    checkpoint : file for checkpoints (``.npz``; records go to ``checkpoint + ".records"``);
        None: no checkpoints
    checkpoint_interval_days : model time between checkpoints [days]; None or 0: none
    inputs : {name: input} the run depends on, for provenance and for refusing a resume after
        one changed: a `os.PathLike` is recorded by its file's SHA-256, any other value (a
        season, a list of overrides) by its JSON text
    progress : called as ``progress(done, total)`` [s of model time, spin-up included]
    guard_every : steps between NaN/negativity checks (also at every record and checkpoint)

    Examples
    --------
    >>> sim = bb.Simulation(model, stop_days=365, output_interval_days=30.4375,
    ...                     spinup_days=365, checkpoint="run.ckpt.npz",
    ...                     checkpoint_interval_days=60, inputs={"config": Path("a.toml")})
    >>> ds = sim.run()  # doctest: +SKIP
    >>> ds = sim.run(resume=True)  # after a crash: continues from run.ckpt.npz  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        *,
        stop_days: float,
        output_interval_days: float | None = None,
        start_day_of_year: float = 0.0,
        spinup_days: float = 0.0,
        output: str = "mean",
        initial: Mapping[str, np.ndarray | float] | None = None,
        dt: float | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_interval_days: float | None = None,
        inputs: Mapping[str, Any] | None = None,
        progress: Callable[[float, float], None] | None = None,
        guard_every: int = 50,
    ) -> None:
        for name, value in (
            ("stop_days", stop_days),
            ("output_interval_days", output_interval_days),
            ("checkpoint_interval_days", checkpoint_interval_days),
        ):
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise SimulationError(f"{name} must be a finite number >= 0, got {value!r}")
        if not np.isfinite(spinup_days) or spinup_days < 0:
            raise SimulationError(f"spinup_days must be a number >= 0, got {spinup_days!r}")
        self._configure(
            model,
            duration=float(stop_days) * DAY,
            output_interval=None if output_interval_days is None else output_interval_days * DAY,
            start=float(start_day_of_year) * DAY,
            spinup=float(spinup_days) * DAY,
            output=output,
            initial=initial,
            dt=dt,
            checkpoint=checkpoint,
            checkpoint_interval=(checkpoint_interval_days or 0.0) * DAY,
            inputs=inputs,
            progress=progress,
            guard_every=guard_every,
        )

    @classmethod
    def from_config(
        cls, model: Any, config: Any, *, steady_model: Any = None, **options: Any
    ) -> Simulation:
        """The Simulation a config describes: its [run] section (duration, output interval and
        kind, start, spin-up, initial state, checkpoint interval) and ``transport.dt_s``.

        ``run.spinup_days = "auto"`` resolves by `bbw_bay.core.spinup.auto_spinup_days`.
        ``run.initial = "steady"`` starts from the steady state of ``steady_model`` (a model, or
        a function returning one, of the annual-mean forcing; default ``model`` when its forcing
        is steady). ``options``: the constructor's others (``checkpoint``, ``inputs``, ...).
        """
        r = config["run"]
        spinup = auto_spinup_days(model) if r["spinup_days"] == "auto" else float(r["spinup_days"])
        if r["initial"] == "steady" and "initial" not in options:
            source = steady_model() if callable(steady_model) else steady_model
            if source is None and forcing_varies(model):
                raise SimulationError(
                    'run.initial = "steady" for a forcing that varies in time needs the model '
                    "of its annual mean (steady_model=...)"
                )
            start = (float(r["start_day_of_year"]) - spinup) * DAY
            options["initial"] = steady_start(model, source or model, start=start)
        return cls(
            model,
            stop_days=float(r["duration_days"]),
            output_interval_days=float(r["output_interval_days"]),
            start_day_of_year=float(r["start_day_of_year"]),
            spinup_days=spinup,
            output=r["output"],
            dt=float(config["transport"]["dt_s"]) or None,
            checkpoint_interval_days=float(r["checkpoint_interval_days"]),
            **options,
        )

    @classmethod
    def in_seconds(
        cls,
        model: Any,
        *,
        duration: float,
        output_interval: float | None = None,
        start: float = 0.0,
        spinup: float = 0.0,
        output: str = "mean",
        **options: Any,
    ) -> Simulation:
        """A Simulation with its times in seconds (``duration``, ``output_interval``,
        ``start``, ``spinup`` [s]); other options as the constructor's."""
        sim = cls.__new__(cls)
        sim._configure(
            model,
            duration=float(duration),
            output_interval=output_interval,
            start=float(start),
            spinup=float(spinup),
            output=output,
            **options,
        )
        return sim

    def _configure(
        self,
        model,
        *,
        duration: float,
        output_interval: float | None,
        start: float,
        spinup: float,
        output: str,
        initial=None,
        dt: float | None = None,
        checkpoint=None,
        checkpoint_interval: float = 0.0,
        inputs=None,
        progress=None,
        guard_every: int = 50,
    ) -> None:
        if not duration > 0:
            raise SimulationError(f"the run must last > 0 s, got {duration}")
        interval = duration if output_interval is None else float(output_interval)
        if not interval > 0:
            raise SimulationError(f"output interval must be > 0 s, got {output_interval}")
        if output not in OUTPUT_MODES:
            raise SimulationError(unknown_name("output", output, OUTPUT_MODES))
        if dt is None:
            dt = model.stable_dt()
        else:
            model.solver.check_dt(dt)
        self.model = model
        self.duration, self.interval, self.start, self.spinup = duration, interval, start, spinup
        self.output, self.initial, self.dt = output, initial, float(dt)
        self.checkpointer = (
            None
            if checkpoint is None
            else Checkpointer(checkpoint, interval=float(checkpoint_interval))
        )
        self.progress, self.guard_every = progress, int(guard_every)
        #: {name: checksum} of the inputs given (files by SHA-256, choices by their JSON)
        try:
            self.inputs = input_digests(inputs or {})
        except BadInputError as err:
            raise SimulationError(str(err)) from None
        self.statistics = RunStatistics()
        end = start + duration
        n_out = int(np.floor(duration / interval + 1e-9))
        times = start + interval * np.arange(1, n_out + 1)
        if times.size == 0 or times[-1] < end - 1e-9 * max(1.0, end):
            times = np.append(times, end)
        #: the times the run must land on: the end of the spin-up (if any), then each output
        self.events = np.concatenate([[start] if spinup > 0 else [], times])
        self.output_times = times

    # ------------------------------------------------------------------ public
    def run(self, *, resume: bool = False) -> xr.Dataset:
        """March to the end; returns the output records as an xr.Dataset (time, Y, X).

        ``resume=True`` continues from the checkpoint (CheckpointError if it is missing,
        unreadable, of another run or made with other inputs). The checkpoint files stay after
        the run (a crash while the result is saved can still resume); `remove_checkpoint`
        deletes them.
        """
        if resume:
            state, records = self._resume()
        else:
            state, records = self._fresh(), []
            if not self.spinup:
                self._begin_evaluation(state, records)
        t0 = wallclock.perf_counter()
        self._march(state, records)
        self.statistics.wall_seconds = wallclock.perf_counter() - t0
        return self._dataset(state, records)

    def remove_checkpoint(self) -> None:
        """Delete the checkpoint, its records file and any temporaries a killed run left."""
        if self.checkpointer is not None:
            self.checkpointer.remove()

    # ------------------------------------------------------------------ the loop
    def _fresh(self) -> RunState:
        model = self.model
        begin = self.start - self.spinup
        c = model.initial_state(self.initial, start=begin)
        _seek(model, begin)
        model.solver.boundary.reset(model.boundary_values_at(begin))
        state = RunState(
            c=c,
            time=begin,
            event=0,
            budget=self._budget(c),
            acc=np.zeros_like(c),
            pending=0.0,
            interval_start=self.start,
            last_checkpoint=begin,
        )
        if self.checkpointer is not None:
            self.checkpointer.start()  # a fresh run: an older checkpoint is of no use
        return state

    def _budget(self, c: np.ndarray) -> MassBudget:
        model = self.model
        return MassBudget(
            model.names,
            model.total_mass(c),
            sections=model.solver.sections.names,
            region_initial=model.region_mass(c),
        )

    def _march(self, s: RunState, records: list[Record]) -> None:
        solver, dt = self.model.solver, self.dt
        work = np.empty_like(s.c)
        scratch = np.empty_like(s.c)
        means = self.output == "mean"
        since_guard = 0
        while s.event < self.events.size:
            target = float(self.events[s.event])
            eps = _TIME_EPS * max(1.0, abs(target))
            while s.time < target - eps:
                step = min(dt, target - s.time)
                evaluating = s.time >= self.start - _TIME_EPS * max(1.0, abs(self.start))
                if means and evaluating:  # trapezoid: c_n gets (h_{n-1} + h_n) / 2
                    np.multiply(s.c, s.pending + 0.5 * step, out=scratch)
                    s.acc += scratch
                solver.advance(s.c, s.time, step, s.budget, out=work)
                s.c, work = work, s.c
                s.pending = 0.5 * step
                if evaluating:
                    s.steps += 1
                    s.dt_max, s.dt_min = max(s.dt_max, step), min(s.dt_min, step)
                else:
                    s.spinup_steps += 1
                s.time = s.time + step if target - (s.time + step) > eps else target
                since_guard += 1
                if since_guard >= self.guard_every:
                    self._guard(s.c, s.time, s.steps + s.spinup_steps)
                    since_guard = 0
                    self._report(s.time)
                if s.time < target and self._checkpoint_due(s):
                    self._save(s, records)
            s.time = target
            self._guard(s.c, s.time, s.steps + s.spinup_steps)
            if s.event == 0 and self.spinup > 0:
                self._end_spinup(s)
                self._begin_evaluation(s, records)
            else:
                self._record(s, records)
            s.event += 1
            self._report(s.time)
            if s.event < self.events.size and self._checkpoint_due(s):
                self._save(s, records)

    def _end_spinup(self, s: RunState) -> None:
        """Close the spin-up's budget and start the evaluated period's at the current state."""
        model = self.model
        s.spinup_budget = s.budget.as_dict(model.total_mass(s.c))
        if model.solver.sections.region is not None:
            s.spinup_region_budget = s.budget.region_budget(model.region_mass(s.c))
        s.budget = self._budget(s.c)

    def _begin_evaluation(self, s: RunState, records: list[Record]) -> None:
        s.acc[:] = 0.0
        s.pending = 0.0
        s.interval_start = self.start
        if self.output == "snapshot":
            self._append(records, self.start, self.start, s.c, s)

    def _record(self, s: RunState, records: list[Record]) -> None:
        if self.output == "snapshot":
            self._append(records, s.time, s.time, s.c, s)
            return
        s.acc += s.pending * s.c
        mean = s.acc / (s.time - s.interval_start)
        self._append(records, s.interval_start, s.time, mean, s)
        s.acc[:] = 0.0
        s.pending = 0.0
        s.interval_start = s.time

    def _append(self, records: list, t0: float, t1: float, state: np.ndarray, s: RunState) -> None:
        """Keep a finished record; append it to the records file while checkpointing."""
        background = self._mean_background(t0, t1)
        record = (t0, t1, background, state.copy())
        records.append(record)
        s.n_records = len(records)
        if self.checkpointer is not None:
            self.checkpointer.append(record)

    def _mean_background(self, t0: float, t1: float) -> np.ndarray:
        """(ntr,) time mean [mg/L] over [t0, t1] of the monthly background (exact: it is
        piecewise constant in months of YEAR/12); its value at t0 when t1 = t0."""
        model = self.model
        if t1 <= t0:
            return model.background_at(t0)
        month = YEAR / 12.0
        total = np.zeros(len(model.names))
        a = t0
        while a < t1:
            b = min(t1, (np.floor(a / month + 1e-12) + 1.0) * month)
            if b <= a:  # a sits on a month boundary within round-off
                b = min(t1, a + month)
            total += (b - a) * model.background_at(0.5 * (a + b))
            a = b
        return total / (t1 - t0)

    def _report(self, now: float) -> None:
        if self.progress is not None:
            self.progress(now - (self.start - self.spinup), self.spinup + self.duration)

    def _guard(self, c: np.ndarray, now: float, step: int) -> None:
        """Stop with the step, time and location of the first NaN/Inf or negative value."""
        bad = ~np.isfinite(c)
        negative = c < -1e-12 * max(1.0, float(np.abs(c[~bad]).max(initial=0.0)))
        if bad.any() or negative.any():
            model = self.model
            what = "NaN/Inf" if bad.any() else "negative"
            t, j, i = np.argwhere(bad if bad.any() else negative)[0]
            raise InstabilityError(
                f"{what} {model.names[t]} concentration {c[t, j, i]:.4g} at step {step}, "
                f"t = {now:.6g} s ({now / DAY:.3f} d), cell (j={j}, i={i}) at "
                f"({model.grid.x_centre[i]:.4g}, {model.grid.y_centre[j]:.4g})"
            )

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint_due(self, s: RunState) -> bool:
        return self.checkpointer is not None and self.checkpointer.due(s)

    def _all_inputs(self) -> dict[str, str]:
        """The inputs given, the run's own options and the model, as checksums."""
        options = {
            "duration_s": self.duration,
            "output_interval_s": self.interval,
            "start_s": self.start,
            "spinup_s": self.spinup,
            "output": self.output,
            "dt_s": self.dt,
            "initial": arrays_digest(self.initial),
        }
        return {
            **self.inputs,
            "model": model_digest(self.model),
            "run options": json_digest(options),
        }

    def _save(self, s: RunState, records: list[Record]) -> None:
        """Write a checkpoint (atomically: a kill leaves the previous one or the new one)."""
        assert self.checkpointer is not None  # _checkpoint_due said so
        self._guard(s.c, s.time, s.steps + s.spinup_steps)
        s.last_checkpoint = s.time
        self.checkpointer.save(
            s, records, inputs=self._all_inputs(), boundary=self.model.solver.boundary.state()
        )
        log.info("checkpoint at day %.4f: %s", s.time / DAY, self.checkpointer.path)

    def _resume(self) -> tuple[RunState, list[Record]]:
        if self.checkpointer is None:
            raise SimulationError("resume=True needs a checkpoint file (checkpoint=PATH)")
        model = self.model
        state, records, memory = self.checkpointer.load(
            inputs=self._all_inputs(),
            names=model.names,
            shape=model.grid.shape,
            sections=model.solver.sections.names,
            boundary=model.solver.boundary.state(),
        )
        begin, end = self.start - self.spinup, self.start + self.duration
        spun = 1 if self.spinup > 0 else 0
        expected_records = max(state.event - spun + (self.output == "snapshot"), 0)
        if (
            not begin - 1e-6 <= state.time <= end + 1e-6
            or not state.event < self.events.size
            or state.n_records != expected_records
        ):
            raise CheckpointError(
                f"checkpoint {self.checkpointer.path}: time {state.time:.6g} s, event "
                f"{state.event} and {state.n_records} records do not fit this run's schedule "
                f"({begin:.6g}–{end:.6g} s, {self.events.size} events); delete it and start "
                "afresh (without --resume / resume=False)"
            )
        _seek(model, state.time)
        model.solver.boundary.restore(memory)
        return state, records

    # ------------------------------------------------------------------ the result
    def _dataset(self, s: RunState, records: list[Record]) -> xr.Dataset:
        model = self.model
        final = model.total_mass(s.c)
        stats = self.statistics
        stats.steps, stats.dt_max, stats.dt_min = s.steps, s.dt_max, s.dt_min
        stats.spinup_steps = s.spinup_steps
        stats.budget = s.budget.as_dict(final)
        stats.max_relative_imbalance = float(np.abs(s.budget.relative_imbalance(final)).max())
        stats.region_budget = (
            s.budget.region_budget(model.region_mass(s.c))
            if model.solver.sections.region is not None
            else {}
        )
        stats.spinup_budget, stats.spinup_region_budget = s.spinup_budget, s.spinup_region_budget
        stats.storage_change_of_load = storage_change_of_load(stats.budget)
        model.statistics, model.budget = stats, s.budget
        ds = model.with_mean_ages(
            records_dataset(
                model.grid, model.names, records, output=self.output, ambient=model.ambient
            ),
            [r[3] for r in records],
        )
        for name, ratio in stats.storage_change_of_load.items():
            ds[name].attrs["storage_change_of_load"] = ratio
        ds.attrs.update(
            {
                "steps": stats.steps,
                "dt_max_s": stats.dt_max,
                "advection": model.advection,
                "background_mode": model.background_mode,
                "output": self.output,
                "run_start_s": self.start,
                "run_end_s": self.start + self.duration,
                "spinup_days": self.spinup / DAY,
                "spinup_steps": stats.spinup_steps,
                "storage_change_of_load": json.dumps(stats.storage_change_of_load),
            }
        )
        if self.spinup:
            ds.attrs["spinup_mass_budget"] = json.dumps(stats.spinup_budget, sort_keys=True)
        settings = {
            **model.settings(),
            "run": {
                "stop_days": self.duration / DAY,
                "output_interval_days": self.interval / DAY,
                "start_day_of_year": self.start / DAY,
                "spinup_days": self.spinup / DAY,
                "output": self.output,
                "dt_s": self.dt,
            },
        }
        return add_provenance(ds, settings=settings, budget=stats.budget, inputs=self.inputs)


# ---------------------------------------------------------------------- helpers
def _seek(model: Any, time: float) -> None:
    """Put a solver on moving volumes at ``time`` (its volumes and flow cycle); a no-op else."""
    seek = getattr(model.solver, "seek", None)
    if seek is not None:
        seek(time)


__all__ = [
    "OUTPUT_MODES",
    "InstabilityError",
    "RunStatistics",
    "Simulation",
    "SimulationError",
]
