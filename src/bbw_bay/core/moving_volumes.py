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

    Cells that (nearly) empty in an interval carry through-flow they may not hold at any one
    moment of the interval-mean flow, and cells whose own bound is far below the typical one
    (`IMPLICIT_FRACTION`) would set a tiny sub-step for all: both are excluded from the bound,
    upwind, closed to diffusion, and their outflow leaves at their end-of-stage value
    (implicit in the cell, `_implicit_thin`), which keeps them positive and bounded however
    small their volume; the kernel's mass update then gives them exactly that value. Mass and a
    uniform tracer are kept to round-off with hourly means as with every engine step stored.
    """

    #: Depth [m] below which a cell is treated as empty for the time-step bound.
    FLOOR_DEPTH = 1e-3
    #: A cell whose own positivity bound is below this fraction of the median cell's is
    #: treated implicitly rather than setting every cell's sub-step.
    IMPLICIT_FRACTION = 0.2
    #: Most Jacobi sweeps for chains of implicit cells (they stop when values settle).
    MAX_SWEEPS = 200

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
        """(V_k, S_k, conductances ×2, interior-face weights ×2, thin-cell inflows, largest
        sub-step [s]) of interval k."""
        if k not in self._cache:
            f, s = self.flow, self.solver
            storage = np.ascontiguousarray(f.storage_rate(k))
            tu, tv = f.transport_u[k], f.transport_v[k]
            lam = 2.0 if s.limiter != 0 else 1.0
            wet = f.grid.wet
            v_min = np.minimum(self.volumes[k], self.volumes[k + 1])
            outflow = outflow_sum(tu, tv)
            cond_all = s.conductance_u * (tu != 0), s.conductance_v * (tv != 0)
            cond = cond_all[0][:, :-1] + cond_all[0][:, 1:] + cond_all[1][:-1] + cond_all[1][1:]
            rate = np.zeros(f.grid.shape)
            ok = wet & (v_min > self.FLOOR_DEPTH * f.grid.area)
            rate[ok] = (lam * outflow[ok] + cond[ok]) / v_min[ok]
            # cells that (nearly) empty, or whose own bound is far below the typical one
            # (IMPLICIT_FRACTION × the median), are treated implicitly: upwind, no
            # diffusion, outflow at their end-of-stage value (positive for any step)
            flowing = rate > 0
            typical = float(np.median(rate[flowing])) if flowing.any() else 0.0
            thin = wet & (~ok | (rate > typical / self.IMPLICIT_FRACTION))
            pad = np.pad(thin, 1)
            interior_u = s.interior_u * ~(pad[1:-1, :-1] | pad[1:-1, 1:])
            interior_v = s.interior_v * ~(pad[:-1, 1:-1] | pad[1:, 1:-1])
            # diffusion only through faces that carry water, never into thin cells
            cond_u = np.ascontiguousarray(cond_all[0] * (interior_u > 0))
            cond_v = np.ascontiguousarray(cond_all[1] * (interior_v > 0))
            cond = cond_u[:, :-1] + cond_u[:, 1:] + cond_v[:-1] + cond_v[1:]
            explicit = ok & ~thin
            rate = np.zeros(f.grid.shape)
            rate[explicit] = (lam * outflow[explicit] + cond[explicit]) / v_min[explicit]
            top = float(rate.max()) + (float(np.max(s.decay)) if s.decay.size else 0.0)
            h_max = self.safety / top if top > 0 else np.inf
            # only thin cells that exchange water need their implicit value
            moving = thin & ((outflow > 0) | (self.volumes[k] != self.volumes[k + 1]))
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[k] = (np.ascontiguousarray(self.volumes[k]), storage, cond_u, cond_v,
                              np.ascontiguousarray(interior_u), np.ascontiguousarray(interior_v),
                              _thin_inflows(moving, tu, tv), h_max)  # fmt: skip
        return self._cache[k]

    def stage(self, interval: tuple[int, float], offset: float) -> tuple:
        """Kernel arguments of a stage ``offset`` [s] after the step start in ``interval``."""
        k, start = interval
        base, storage, cond_u, cond_v, interior_u, interior_v = self.interval(k)[:6]
        return base, storage, start + offset, cond_u, cond_v, interior_u, interior_v

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
            h_max = self.interval(k)[7]
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

    def _implicit_thin(self, c, loads, k: int, offset: float, h: float) -> np.ndarray:
        """Face values: ``c`` with each thin cell's new value c' (outflow taken implicitly).

        A thin cell (excluded from the bound, upwind, no diffusion) sends its water out at its
        end-of-stage value: c' (V + h Q_in) = V c (1 − h k) + h W + h Σ_in Q c_in, a convex
        combination however small V is, and exactly what the kernel's mass update then gives it.
        Chains of thin cells are resolved by sweeps in no particular order (they are short).
        """
        table = self.interval(k)[6]
        if table is None:
            return c
        cells, q_in, sources = table
        jj, ii = cells
        base, storage = self.interval(k)[:2]
        volume = base[jj, ii] + offset * storage[jj, ii]
        ghost = self.solver.boundary.ghost
        decay = self.solver.decay[:, None]
        faces = c.copy()
        own = volume * c[:, jj, ii] * (1.0 - h * decay) + h * loads[:, jj, ii]
        denominator = volume + h * q_in
        safe = np.where(denominator > 0, denominator, 1.0)
        fixed = own + 0.0
        for q, (kind, a, _) in sources:  # ghost inflows do not change between sweeps
            if kind != "cell":
                fixed += h * q * ghost[kind][:, a]
        cells = [(q, a, b) for q, (kind, a, b) in sources if kind == "cell" and q.any()]
        for _ in range(self.MAX_SWEEPS):
            inflow = fixed.copy()
            for q, a, b in cells:
                inflow += h * q * faces[:, a, b]
            new = np.where(denominator > 0, inflow / safe, c[:, jj, ii])
            change = float(np.abs(new - faces[:, jj, ii]).max())
            faces[:, jj, ii] = new
            if change <= 1e-15 * max(float(np.abs(new).max()), 1e-300):
                break
        return faces

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
        faces = self._implicit_thin(c, stage_loads, k, interval[1], h)
        decay, boundary, section, region_decay = s._stage(
            faces, c, u, v, stage_loads, h, 0.0, 1.0, out, self.stage(interval, 0.0)
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


def _thin_inflows(thin: np.ndarray, tu: np.ndarray, tv: np.ndarray):
    """(cells (jj, ii), Q_in (n,), [(Q (n,), source)]) of the thin cells, or None.

    Each source is ("cell", j_up (n,), i_up (n,)) or (edge, index (n,), None) for a ghost;
    Q is the inflow [m³/s] through that face (0 where the face does not flow in).
    """
    jj, ii = np.nonzero(thin)
    if jj.size == 0:
        return None
    ny, nx = thin.shape
    west, east = tu[jj, ii], -tu[jj, ii + 1]
    south, north = tv[jj, ii], -tv[jj + 1, ii]
    sources: list[tuple[np.ndarray, tuple]] = []
    for q, edge_here, j_up, i_up, edge, index in (
        (west, ii == 0, jj, ii - 1, "west", jj),
        (east, ii == nx - 1, jj, ii + 1, "east", jj),
        (south, jj == 0, jj - 1, ii, "south", ii),
        (north, jj == ny - 1, jj + 1, ii, "north", ii),
    ):
        q = np.maximum(q, 0.0)
        inner = np.where(edge_here, 0.0, q)
        sources.append((inner, ("cell", np.clip(j_up, 0, ny - 1), np.clip(i_up, 0, nx - 1))))
        sources.append((np.where(edge_here, q, 0.0), (edge, index, None)))
    q_in = sum(q for q, _ in sources)
    return (jj, ii), q_in, sources
