"""Transport on moving volumes: how `bbw_bay.core.solver.Solver` steps a flow whose cell
volumes change in time (`bbw_bay.core.flow.Flow.from_hydrodynamics`)."""

from __future__ import annotations

import numpy as np

from bbw_bay.core.flow import Flow, outflow_sum


class MovingVolumes:
    """Sub-stepping of a `bbw_bay.core.solver.Solver` on a flow whose volumes change in time.

    Each interval k of the stored flow has constant transports and volumes linear in time,
    V(t) = V_k + (t − t_k) S_k, S_k = (V_k+1 − V_k)/Δt_k. A step never straddles two intervals
    (the volume identity then holds stage by stage), and each interval is split into equal
    forward-Euler sub-steps (first order in time; an SSP-RK stage would reach past the interval,
    where an emptying cell's volume runs out) within the positivity bound
    safety / max_cells[(λ Σ_out F + Σ D)/V_min],
    V_min = min(V_k, V_k+1): shrinking volumes are accounted for. Cells whose volume falls below
    `FLOOR_DEPTH` × area hold (almost) no mass and do not set the bound. Diffusion acts only
    through faces that carry water in the interval. Past the end of a periodic flow the stored
    period repeats; at each wrap the concentrations are scaled by V_end/V_0 so every cell keeps
    its mass (a cell empty at the period's start but not at its end would lose it: store a
    period that ends where it starts, e.g. after a spin-up).

    Exactness: a cell that empties keeps its outflow within the water it holds when the
    hydrodynamics are stored at every engine step (the engine's outflow limiter), so mass and a
    uniform tracer are kept to round-off; with coarser interval means a cell that floods and
    passes water on within one interval can need more than it holds, and the clipped stage mass
    shows in the run's mass budget.
    """

    #: Depth [m] below which a cell is treated as empty for the time-step bound.
    FLOOR_DEPTH = 1e-3

    def __init__(self, flow: Flow, solver, *, stages: int, safety: float, error: type) -> None:
        if flow.volumes is None:
            raise ValueError("MovingVolumes needs a flow with volumes (Flow.from_hydrodynamics)")
        self.flow, self.solver = flow, solver
        self.volumes: np.ndarray = flow.volumes  # (nt, ny, nx) [m³]
        self.stages, self.safety, self.error = stages, safety, error
        grid = flow.grid
        both_u = np.zeros((grid.ny, grid.nx + 1), dtype=bool)
        both_u[:, 1:-1] = grid.wet[:, :-1] & grid.wet[:, 1:]
        both_v = np.zeros((grid.ny + 1, grid.nx), dtype=bool)
        both_v[1:-1] = grid.wet[:-1] & grid.wet[1:]
        solver.interior_u, solver.interior_v = both_u.astype(float), both_v.astype(float)
        self.cycle = 0
        self._cache: dict[int, tuple] = {}

    def interval(self, k: int) -> tuple:
        """(V_k, S_k, conductances, interior-face weights, largest sub-step [s]) of interval k."""
        if k not in self._cache:
            f, s = self.flow, self.solver
            storage = np.ascontiguousarray(f.storage_rate(k))
            tu, tv = f.transport_u[k], f.transport_v[k]
            lam = 2.0 if s.limiter != 0 else 1.0
            v_min = np.minimum(self.volumes[k], self.volumes[k + 1])
            full = f.grid.wet & (v_min > self.FLOOR_DEPTH * f.grid.area)
            # a (nearly) emptying cell is upwind (zero slope): its outflow never exceeds the
            # water it holds within the interval, so it stays positive without a bound
            thin = np.pad(f.grid.wet & ~full, 1)
            interior_u = s.interior_u * ~(thin[1:-1, :-1] | thin[1:-1, 1:])
            interior_v = s.interior_v * ~(thin[:-1, 1:-1] | thin[1:, 1:-1])
            # diffusion only through faces that carry water, never into thin cells
            cond_u = np.ascontiguousarray(s.conductance_u * ((tu != 0) & (interior_u > 0)))
            cond_v = np.ascontiguousarray(s.conductance_v * ((tv != 0) & (interior_v > 0)))
            cond = cond_u[:, :-1] + cond_u[:, 1:] + cond_v[:-1] + cond_v[1:]
            rate = np.zeros(f.grid.shape)
            rate[full] = (lam * outflow_sum(tu, tv)[full] + cond[full]) / v_min[full]
            top = float(rate.max()) + (float(np.max(s.decay)) if s.decay.size else 0.0)
            h_max = self.safety / top if top > 0 else np.inf
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[k] = (np.ascontiguousarray(self.volumes[k]), storage, cond_u, cond_v,
                              np.ascontiguousarray(interior_u), np.ascontiguousarray(interior_v),
                              h_max)  # fmt: skip
        return self._cache[k]

    def stage(self, interval: tuple[int, float], offset: float) -> tuple:
        """Kernel arguments of a stage ``offset`` [s] after the step start in ``interval``."""
        k, start = interval
        base, storage, cond_u, cond_v, interior_u, interior_v, _ = self.interval(k)
        return base, storage, start, start + offset, cond_u, cond_v, interior_u, interior_v

    def advance(self, c, time: float, dt: float, budget, out) -> np.ndarray:
        """c(time + dt): interval pieces, each in equal sub-steps within its bound."""
        f, now, end = self.flow, time, time + dt
        current = c
        while now < end - 1e-9 * max(1.0, abs(end)):
            tol = 1e-9 * max(1.0, abs(end))  # an interval end met by round-off starts the next
            k, offset, cycle = f.interval(now + tol)
            offset -= tol
            if cycle != self.cycle:
                current = self._wrap(current, cycle)
            piece = min(end - now, f.times[k + 1] - f.times[k] - offset)
            if piece <= tol:
                raise self.error(
                    f"t = {now:g} s is past the end ({f.times[-1]:g} s) of the stored "
                    "hydrodynamics; run within them or build the flow with periodic=True"
                )
            h_max = self.interval(k)[-1]
            n = max(1, int(np.ceil(piece / h_max - 1e-9)))
            h = piece / n
            spare = np.empty_like(out)
            for m in range(n):
                target = out if current is not out else spare
                self._euler(current, now + m * h, h, budget, target, (k, offset + m * h))
                spare = current if current is not c else spare
                current = target
            now += piece
        cycle = f.interval(end + 1e-9 * max(1.0, abs(end)))[2]
        if cycle != self.cycle:  # the step ends on a wrap: its state belongs to the new cycle
            current = self._wrap(current, cycle)
        if current is not out:
            out[:] = current
        self.solver.volume = np.ascontiguousarray(f.volume_at(end))
        return out

    def _wrap(self, c: np.ndarray, cycle: int) -> np.ndarray:
        """c scaled by V_end/V_0 at the start of a new cycle: each cell keeps its mass."""
        volumes = self.volumes
        ratio = np.divide(volumes[-1], volumes[0], out=np.ones(volumes.shape[1:]),
                          where=volumes[0] > 0)  # fmt: skip
        self.cycle = cycle
        return c * ratio[None]

    def _euler(self, c, time: float, h: float, budget, out, interval: tuple[int, float]) -> None:
        """One forward-Euler stage of ``h`` [s] (positive within the interval's bound)."""
        s = self.solver
        loads = s.loads_at(time)
        k = interval[0]
        u, v = self.flow.transport_u[k], self.flow.transport_v[k]
        s.boundary.update(c, u, v, s.background(time), h)
        if s.age_pairs:  # age sources c × V need this stage's volumes
            base, storage = self.interval(k)[:2]
            s.volume = base + interval[1] * storage
        stage_loads = s.stage_loads(loads, c)
        decay, boundary, section, region_decay = s._stage(
            c, c, u, v, stage_loads, h, 0.0, 1.0, out, self.stage(interval, 0.0)
        )
        if budget is not None:
            load_sum, region_load_sum = s._load_sums(loads)
            ages = np.zeros(c.shape[0])
            region_ages = np.zeros(c.shape[0])
            for age, _ in s.age_pairs:
                ages[age] = h * stage_loads[age].sum()
                region_ages[age] = h * float(np.sum(stage_loads[age] * s.region_weight))
            budget.loads_in += h * load_sum + ages
            budget.decayed += decay
            budget.boundary_in += boundary
            if s.has_region:
                budget.region_loads_in += h * region_load_sum + region_ages
                budget.region_decayed += region_decay
                budget.section_in += section
