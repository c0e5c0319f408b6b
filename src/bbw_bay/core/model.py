"""Model: tracers, sources and flow on a grid; ``run()`` marches in time, ``steady_state()`` solves.

The model owns the state and one time step (via `bbw_bay.core.solver.Solver`); the run loop
(`bbw_bay.core.simulation.Simulation`) owns the spin-up, the output schedule, the NaN/negativity
guard, progress reporting and checkpoints. `Model.run` is a short-hand for a snapshot run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.output import add_provenance, concentration_dataset
from bbw_bay.core.simulation import InstabilityError, RunStatistics, Simulation
from bbw_bay.core.solver import Sections, Solver, StabilityError
from bbw_bay.core.sources import PointSource, SourceLayout
from bbw_bay.core.steady import UpwindOperator, defect_correction, efolding_times, solve_upwind
from bbw_bay.errors import BadInputError, unknown_name
from bbw_bay.units import DAY, YEAR

log = logging.getLogger(__name__)


#: How a tracer's background enters (see `Model`).
BACKGROUND_MODES = ("boundary", "ambient")


class ModelError(BadInputError):
    """The model set-up is inconsistent (flow vs rivers, tracers, initial state...)."""


@dataclass(frozen=True)
class Tracer:
    """A transported substance.

    Parameters
    ----------
    decay_per_day : first-order decay rate [1/day]
    background : open-boundary (and default initial) concentration [mg/L]; a number, or 12
        monthly values (Jan..Dec) for a seasonal boundary
    age_of : name of another tracer c; this tracer is then its age concentration α
        [mg/L·s] with source c (Deleersnijder et al. 2001, CART), ∂α/∂t = L(α) + c − kα, the
        decay and zero background of c; the mean age since release is α / c
    """

    decay_per_day: float = 0.0
    background: float | Sequence[float] = 0.0
    age_of: str | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.decay_per_day) or self.decay_per_day < 0:
            raise ModelError(f"decay_per_day must be >= 0, got {self.decay_per_day}")
        bg = np.atleast_1d(np.asarray(self.background, dtype=float))
        if bg.size not in (1, 12) or np.any(bg < 0) or not np.all(np.isfinite(bg)):
            raise ModelError(
                f"background must be a number >= 0 mg/L or 12 monthly values, got {self.background}"
            )

    @property
    def decay_per_second(self) -> float:
        """Decay rate [1/s]."""
        return self.decay_per_day / DAY

    def background_at(self, time: float) -> float:
        """Background [mg/L] at ``time`` [s from 1 January]."""
        bg = np.atleast_1d(np.asarray(self.background, dtype=float))
        if bg.size == 1:
            return float(bg[0])
        return float(bg[int((time % YEAR) // (YEAR / 12.0)) % 12])


class Model:
    """Advection–diffusion–decay of several tracers on a C-grid.

    Parameters
    ----------
    grid : `Grid`
    flow : `Flow` (face transports; must carry the river discharges of ``sources``)
    tracers : {name: Tracer}
    sources : point sources (loads [g/s], discharges [m³/s])
    diffusivity : horizontal diffusivity [m²/s], scalar or (ny, nx)
    advection : "mc" (default), "upwind", "minmod", "vanleer" or "superbee"
    area_loads : {tracer: (ny, nx) diffuse load [g/m²/s]}
    return_time_days : Thatcher–Harleman return time at open boundaries [days]
    sections : a monitored region and its named boundary sections (`solver.Sections`); runs then
        report the region's own mass budget with the inflow through each section
    background_mode : "boundary": each tracer's background is its open-boundary inflow value and
        decays inside like the rest; "ambient": the background is the ambient level everywhere,
        the model carries the land-based excess (zero at the open boundaries, decaying) and
        reports background + excess (the mass budget is the excess's)
    divergence_tolerance : allowed mismatch between the flow's divergence and the river
        discharges, relative to the largest face transport
    """

    def __init__(
        self,
        grid: Grid,
        flow: Flow,
        *,
        tracers: Mapping[str, Tracer],
        sources: Sequence[PointSource] = (),
        diffusivity: float | np.ndarray = 0.0,
        advection: str = "mc",
        area_loads: Mapping[str, np.ndarray] | None = None,
        return_time_days: float = 0.0,
        background_mode: str = "boundary",
        sections: Sections | None = None,
        divergence_tolerance: float = 1e-8,
        engine: str = "numba",
    ) -> None:
        self._inputs = {
            "grid": grid,
            "flow": flow,
            "tracers": dict(tracers),
            "sources": tuple(sources),
            "diffusivity": diffusivity,
            "advection": advection,
            "area_loads": None if area_loads is None else dict(area_loads),
            "return_time_days": return_time_days,
            "background_mode": background_mode,
            "sections": sections,
            "divergence_tolerance": divergence_tolerance,
            "engine": engine,
        }
        if flow.grid is not grid:
            raise ModelError("the flow was built on a different grid than the model's")
        if not tracers:
            raise ModelError("a model needs at least one tracer")
        self.grid = grid
        self.flow = flow
        self.tracers = dict(tracers)
        self.names = tuple(self.tracers)
        self.sources = tuple(sources)
        self.age_parent = self._age_parents()
        self.layout = SourceLayout.build(grid, self.sources, self.names)
        self.diffusivity = diffusivity
        self.advection = advection
        self.return_time_days = float(return_time_days)
        if background_mode not in BACKGROUND_MODES:
            raise ModelError(
                f"background_mode must be one of {', '.join(BACKGROUND_MODES)}; "
                f"got {background_mode!r}"
            )
        self.background_mode = background_mode
        self._check_flow_against_rivers(divergence_tolerance)
        fields = None
        if area_loads:
            unknown = set(area_loads) - set(self.names)
            if unknown:
                raise ModelError(f"area_loads for unknown tracers {sorted(unknown)}")
            fields = np.zeros((len(self.names), *grid.shape))
            for k, name in enumerate(self.names):
                if name in area_loads:
                    fields[k] = np.where(grid.wet, area_loads[name], 0.0)
        self.solver = Solver(
            grid,
            flow,
            tracers=self.names,
            decay=np.array([t.decay_per_second for t in self.tracers.values()]),
            background=self.boundary_values_at,
            layout=self.layout,
            diffusivity=diffusivity,
            advection=advection,
            area_loads=fields,
            age_parent=self.age_parent,
            return_time=self.return_time_days * DAY,
            sections=sections,
            engine=engine,
        )
        self.statistics = RunStatistics()

    def replace(self, **changes: Any) -> Model:
        """A new model with the same inputs as this one except ``changes``.

        Parameters
        ----------
        **changes
            Any of the constructor's arguments (``grid``, ``flow``, ``tracers``, ``sources``,
            ``diffusivity``, ``advection``, ``area_loads``, ``return_time_days``,
            ``background_mode``, ``sections``, ``divergence_tolerance``, ``engine``); what is
            not named is kept, the monitored ``sections`` included.

        Returns
        -------
        Model

        Examples
        --------
        >>> upwind = model.replace(advection="upwind")  # doctest: +SKIP
        """
        unknown = set(changes) - set(self._inputs)
        if unknown:
            raise ModelError(
                unknown_name("Model.replace argument", sorted(unknown)[0], self._inputs)
            )
        inputs = {**self._inputs, **changes}
        if "grid" in changes and "flow" not in changes:
            raise ModelError("Model.replace(grid=...) needs a flow on that grid too (flow=...)")
        return Model(inputs.pop("grid"), inputs.pop("flow"), **inputs)

    # ------------------------------------------------------------------ helpers
    def _age_parents(self) -> np.ndarray:
        """(ntr,) index of the tracer whose age each tracer carries (−1 for ordinary ones)."""
        parents = np.full(len(self.names), -1, dtype=np.int64)
        for k, (name, tracer) in enumerate(self.tracers.items()):
            if tracer.age_of is None:
                continue
            parent = self.tracers.get(tracer.age_of)
            if parent is None or parent.age_of is not None:
                raise ModelError(
                    f"tracer {name!r}: age_of = {tracer.age_of!r} must name an ordinary tracer "
                    f"of this model ({', '.join(self.names)})"
                )
            if parent.decay_per_day != tracer.decay_per_day or np.any(
                np.asarray(tracer.background) != 0
            ):
                raise ModelError(
                    f"tracer {name!r}: an age tracer needs the decay of {tracer.age_of!r} "
                    f"({parent.decay_per_day} /day) and background 0"
                )
            parents[k] = self.names.index(tracer.age_of)
        return parents

    def with_mean_ages(self, ds: xr.Dataset, states) -> xr.Dataset:
        """Add "<age tracer>_mean_days" (mean age since release [days]) for each age tracer."""
        if not np.any(self.age_parent >= 0):
            return ds
        ages = [self.mean_age_days(state) for state in states]
        for name in ages[0]:
            var = ds[name]
            values = np.stack([a[name] for a in ages])
            ds[f"{name}_mean_days"] = (var.dims, values.reshape(var.shape))
            ds[f"{name}_mean_days"].attrs = {
                "long_name": f"mean age since release of {self.tracers[name].age_of}",
                "units": "days",
            }
        return ds

    def mean_age_days(self, state: np.ndarray) -> dict[str, np.ndarray]:
        """{age tracer: (ny, nx) mean age α / c [days]} of a model state (NaN where c ≈ 0)."""
        out = {}
        for k, parent in enumerate(self.age_parent):
            if parent < 0:
                continue
            c = state[parent]
            floor = 1e-9 * max(float(np.abs(c).max()), 1e-300)
            ok = self.grid.wet & (c > floor)
            out[self.names[k]] = np.where(ok, state[k] / np.where(ok, c, 1.0) / DAY, np.nan)
        return out

    def background_at(self, time: float) -> np.ndarray:
        """(ntr,) background concentrations [mg/L] at ``time``."""
        return np.array([t.background_at(time) for t in self.tracers.values()])

    @property
    def ambient(self) -> bool:
        """True when the model state is the excess over an ambient background."""
        return self.background_mode == "ambient"

    def boundary_values_at(self, time: float) -> np.ndarray:
        """(ntr,) inflow concentrations of the model state at the open boundaries [mg/L]."""
        background = self.background_at(time)
        return np.zeros_like(background) if self.ambient else background

    def reported(self, state: np.ndarray, time: float) -> np.ndarray:
        """Concentrations [mg/L] users see for a model state (ntr, ny, nx) at ``time``."""
        if not self.ambient:
            return state
        return np.where(self.grid.wet, state + self.background_at(time)[:, None, None], 0.0)

    def _check_flow_against_rivers(self, tolerance: float) -> None:
        """The flow's discrete divergence must equal the river discharge in every cell."""
        flow, grid = self.flow, self.grid
        scale = max(
            float(np.abs(flow.transport_u).max()),
            float(np.abs(flow.transport_v).max()),
            float(self.layout.discharge.max(initial=0.0)),
            1e-30,
        )
        for time in flow.times:
            mismatch = flow.divergence(time) - self.layout.discharge_field(
                grid.shape, None if flow.is_steady else time
            )
            mismatch[~grid.wet] = 0.0
            worst = float(np.abs(mismatch).max())
            if worst > tolerance * scale:
                j, i = np.unravel_index(int(np.argmax(np.abs(mismatch))), mismatch.shape)
                near = [
                    s.name
                    for s, cell in zip(self.sources, self.layout.cells, strict=True)
                    if tuple(cell) == (j, i)
                ]
                where = f"source {near[0]!r}" if near else "no source"
                n_bad = int((np.abs(mismatch) > tolerance * scale).sum())
                raise ModelError(
                    f"the flow's divergence does not match the river discharges at {n_bad} cells "
                    f"(t = {time:g} s); worst at cell (j={j}, i={i}) "
                    f"({grid.x_centre[i]:.4g}, {grid.y_centre[j]:.4g}) with {where}: net outflow "
                    f"{flow.divergence(time)[j, i]:.4g} m³/s vs river discharge "
                    f"{self.layout.discharge_field(grid.shape)[j, i]:.4g} m³/s. "
                    "Build the flow with "
                    "the rivers' discharges (e.g. Flow.from_rivers) or set their discharge to 0."
                )

    def stable_dt(self) -> float:
        """The time step [s] the solver picks: 0.9 × the positivity bound."""
        return self.solver.stable_dt()

    def initial_state(
        self, initial: Mapping[str, np.ndarray | float] | None = None, *, start: float = 0.0
    ) -> np.ndarray:
        """(ntr, ny, nx) initial model state; tracers not given start at their background.

        ``initial`` holds concentrations [mg/L] as reported (background included in ambient
        mode); ``start`` [s from 1 January] picks a seasonal background.
        """
        initial = dict(initial or {})
        unknown = set(initial) - set(self.names)
        if unknown:
            raise ModelError(f"initial values for unknown tracers {sorted(unknown)}")
        c = np.zeros((len(self.names), *self.grid.shape))
        for k, name in enumerate(self.names):
            background = self.tracers[name].background_at(start)
            value = initial.get(name, background)
            arr = np.broadcast_to(np.asarray(value, dtype=float), self.grid.shape)
            if not np.all(np.isfinite(arr[self.grid.wet])) or np.any(arr[self.grid.wet] < 0):
                raise ModelError(f"initial {name} must be finite and >= 0 on wet cells")
            if self.ambient:
                arr = arr - background
                if np.any(arr[self.grid.wet] < -1e-12 * max(background, 1e-300)):
                    raise ModelError(
                        f"initial {name} falls below its ambient background {background:g} mg/L "
                        '(background_mode = "ambient" models the excess above it)'
                    )
                arr = np.maximum(arr, 0.0)
            c[k] = np.where(self.grid.wet, arr, 0.0)
        return c

    def total_mass(self, c: np.ndarray) -> np.ndarray:
        """(ntr,) tracer mass in the domain [g]."""
        return np.einsum("tyx,yx->t", c, self.solver.volume)

    def region_mass(self, c: np.ndarray) -> np.ndarray:
        """(ntr,) tracer mass [g] in the monitored region (zeros without one)."""
        region = self.solver.sections.region
        if region is None:
            return np.zeros(c.shape[0])
        return np.einsum("tyx,yx->t", c, np.where(region, self.solver.volume, 0.0))

    # ------------------------------------------------------------------ time marching
    def run(
        self,
        duration: float,
        *,
        initial: Mapping[str, np.ndarray | float] | None = None,
        output_interval: float | None = None,
        dt: float | None = None,
        start: float = 0.0,
        progress: Callable[[float, float], None] | None = None,
        guard_every: int = 50,
    ) -> xr.Dataset:
        """March ``duration`` seconds from ``initial``; snapshots as an xr.Dataset (time, y, x).

        A short-hand for `bbw_bay.core.simulation.Simulation` with ``output="snapshot"`` and no
        spin-up: records at ``start`` and every ``output_interval`` seconds (default: only the
        end), the last step before each shortened to land on it. ``dt=None`` picks 0.9 × the
        positivity bound; a given ``dt`` above the bound raises StabilityError. ``start`` is the
        time of year [s from 1 January] (it sets monthly loads and boundaries). For time-mean
        records, a spin-up, checkpoints or input checksums, use a `Simulation`.
        """
        simulation = Simulation.in_seconds(
            self,
            duration=duration,
            output_interval=output_interval,
            start=start,
            output="snapshot",
            initial=initial,
            dt=dt,
            progress=progress,
            guard_every=guard_every,
        )
        return simulation.run()

    # ------------------------------------------------------------------ steady state
    def upwind_operator(self, time: float = 0.0) -> UpwindOperator:
        """The sparse first-order upwind + diffusion operator at ``time`` (steady flows)."""
        u, v = self.flow.at(time)
        return UpwindOperator.build(
            self.grid, u, v, self.solver.conductance_u, self.solver.conductance_v
        )

    def efolding_time(
        self,
        region: np.ndarray,
        *,
        time: float = 0.0,
        dt_days: float = 1.0,
        max_days: float = 1000.0,
    ) -> float:
        """E-folding residence time [days] of the water in a (ny, nx) bool ``region``.

        A conservative tracer starts at 1 inside and 0 elsewhere (zero at the open boundaries) in
        the flow at ``time`` (held steady) with the model's diffusivity; see
        `bbw_bay.core.steady.efolding_times` (upwind, implicit Euler). ``inf`` beyond ``max_days``.
        """
        return self.efolding_times(
            {"region": region}, time=time, dt_days=dt_days, max_days=max_days
        )["region"]

    def efolding_times(
        self,
        regions: Mapping[str, np.ndarray],
        *,
        time: float = 0.0,
        dt_days: float = 1.0,
        max_days: float = 1000.0,
    ) -> dict[str, float]:
        """`efolding_time` [days] of several (ny, nx) bool regions from one factorisation."""
        masks = {k: np.asarray(m, dtype=bool) & self.grid.wet for k, m in regions.items()}
        seconds = efolding_times(
            self.upwind_operator(time), masks, dt=dt_days * DAY, max_time=max_days * DAY
        )
        return {k: v / DAY for k, v in seconds.items()}

    def steady_state(
        self, *, time: float = 0.0, tolerance: float = 1e-10, max_iterations: int = 300
    ) -> xr.Dataset:
        """Steady concentrations [mg/L] for the flow, loads and boundary at ``time``.

        Exact sparse LU solve for ``advection="upwind"``; defect correction on the upwind
        factorisation for limited schemes (converges to the time-marching scheme's steady state).
        Returns an xr.Dataset with dims (y, x); attrs give iterations and the mass-budget closure.
        """
        operator = self.upwind_operator(time)
        loads = self.solver.loads_at(time)
        background = self.boundary_values_at(time)
        factors = {}
        fields = np.zeros((len(self.names), *self.grid.shape))
        order = sorted(range(len(self.names)), key=lambda k: self.age_parent[k] >= 0)
        for k in order:  # parents before their age tracers (whose source is the parent's c)
            rate = self.tracers[self.names[k]].decay_per_second
            if rate not in factors:
                factors[rate] = operator.factorise(rate)
            source = loads[k]
            if self.age_parent[k] >= 0:
                source = np.nan_to_num(fields[self.age_parent[k]]) * self.solver.volume
            fields[k] = solve_upwind(operator, factors[rate], source, background[k])
        fields = np.nan_to_num(fields, nan=0.0)
        iterations = 0
        if self.solver.limiter != 0:
            decays = [t.decay_per_second for t in self.tracers.values()]

            def jacobian_solve(residual):
                # J ≈ A_upwind − k I (exact for upwind), so J⁻¹ r solves (A − kI) x = r; an age
                # tracer's row also holds +I on its parent: block forward substitution
                out = np.zeros_like(residual)
                wet = self.grid.wet
                for k in order:
                    rhs = residual[k][wet]
                    if self.age_parent[k] >= 0:
                        rhs = rhs - out[self.age_parent[k]][wet]
                    out[k][wet] = factors[decays[k]].solve(rhs)
                return out

            fields, iterations, _ = defect_correction(
                lambda c: self.solver.residual(c, time),
                fields,
                jacobian_solve,
                tolerance=tolerance,
                max_iterations=max_iterations,
            )
        budget = self._steady_budget(fields, time)
        ds = self.with_mean_ages(
            concentration_dataset(self.grid, self.names, self.reported(fields, time)), [fields]
        )
        ds.attrs.update(
            {
                "steady_iterations": iterations,
                "advection": self.advection,
                "background_mode": self.background_mode,
            }
        )
        return add_provenance(ds, settings=self.settings(), budget=budget)

    def _steady_budget(self, fields: np.ndarray, time: float) -> dict:
        """Loads in + net boundary inflow − decay per tracer [g/s] (≈0 at steady state)."""
        loads = self.solver.stage_loads(self.solver.loads_at(time), fields).sum(axis=(1, 2))
        _, decayed, boundary_in = self.solver.steady_rates(fields, time)
        budget = {}
        for k, name in enumerate(self.names):
            net = loads[k] + boundary_in[k] - decayed[k]
            scale = max(abs(loads[k]), abs(boundary_in[k]), abs(decayed[k]), 1e-300)
            budget[name] = {
                "loads_in_g_per_s": float(loads[k]),
                "boundary_in_g_per_s": float(boundary_in[k]),
                "decayed_g_per_s": float(decayed[k]),
                "imbalance_g_per_s": float(net),
                "relative_imbalance": net / scale,
            }
        return budget

    def settings(self) -> dict:
        """The model's resolved settings (for provenance)."""
        return {
            "grid": self.grid.describe(),
            "advection": self.advection,
            "diffusivity_m2_per_s": (
                float(self.diffusivity) if np.ndim(self.diffusivity) == 0 else "field"
            ),
            "return_time_days": self.return_time_days,
            "background_mode": self.background_mode,
            "tracers": {
                n: {"decay_per_day": t.decay_per_day, "background": t.background}
                for n, t in self.tracers.items()
            },
            "sources": [
                {
                    "name": s.name,
                    "x": s.x,
                    "y": s.y,
                    "loads_g_per_s": dict(s.loads),
                    "discharge_m3_per_s": s.discharge,
                }
                for s in self.sources
            ],
            "stable_dt_s": self.stable_dt(),
        }


__all__ = [
    "BACKGROUND_MODES",
    "InstabilityError",
    "Model",
    "ModelError",
    "StabilityError",
    "Tracer",
]
