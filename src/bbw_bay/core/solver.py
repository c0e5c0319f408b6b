"""Time-step choice, scheme registry and one SSP-RK step; the only caller of the kernels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bbw_bay.core.flow import Flow, outflow_sum
from bbw_bay.core.grid import Grid
from bbw_bay.core.kernels import transport as kernels
from bbw_bay.core.moving_volumes import MovingVolumes
from bbw_bay.core.open_boundary import BoundaryState
from bbw_bay.core.sources import SourceLayout
from bbw_bay.errors import BadInputError
from bbw_bay.units import YEAR

#: Advection schemes by name (slope limiters of the MUSCL reconstruction; "upwind" = first order).
ADVECTION_SCHEMES = tuple(kernels.LIMITERS)
#: Fraction of the positivity bound used when the solver picks the time step itself.
DEFAULT_SAFETY = 0.9
#: Stages s of the SSPRK(s,2) time step (Ketcheson 2008, SIAM J. Sci. Comput. 30:2113): s
#: forward-Euler stages of dt/(s−1), second order, positive for dt ≤ (s−1)/rate. Four stages
#: advance 3/rate per 4 stage evaluations, 1.5× Heun's SSP-RK2 (s = 2, 1/rate per 2 stages).
RK_STAGES = 4


class StabilityError(BadInputError):
    """A requested time step exceeds the scheme's positivity (stability) bound."""


def scheme_id(name: str) -> int:
    """Kernel id of an advection scheme; a ValueError listing valid names otherwise."""
    try:
        return kernels.LIMITERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown advection scheme {name!r}; valid schemes: {', '.join(ADVECTION_SCHEMES)}"
        ) from None


def face_conductances(grid: Grid, diffusivity: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diffusive conductances D = K_f h_f L_f / Δs [m³/s] on x- and y-faces.

    ``diffusivity`` [m²/s] is a scalar or a (ny, nx) field at centres (face value = mean of the two
    cells). Open-boundary and land faces get 0 (no diffusive flux).
    """
    k = np.broadcast_to(np.asarray(diffusivity, dtype=float), grid.shape)
    if not np.all(np.isfinite(k[grid.wet])) or np.any(k[grid.wet] < 0):
        raise ValueError("diffusivity must be finite and >= 0 m²/s on every wet cell")
    k_u = np.zeros((grid.ny, grid.nx + 1))
    k_u[:, 1:-1] = 0.5 * (k[:, :-1] + k[:, 1:])
    k_v = np.zeros((grid.ny + 1, grid.nx))
    k_v[1:-1, :] = 0.5 * (k[:-1, :] + k[1:, :])
    interior_u, interior_v = interior_faces(grid)
    cond_u = interior_u * k_u * grid.depth_u * grid.length_u / grid.spacing_u
    cond_v = interior_v * k_v * grid.depth_v * grid.length_v / grid.spacing_v
    return np.ascontiguousarray(cond_u), np.ascontiguousarray(cond_v)


def interior_faces(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """1.0 on faces between two wet cells, else 0.0: (ny, nx+1), (ny+1, nx)."""
    interior_u = (grid.flux_u & ~grid.open_u).astype(float)
    interior_v = (grid.flux_v & ~grid.open_v).astype(float)
    return interior_u, interior_v


def positivity_rate(
    grid: Grid,
    flow: Flow,
    conductance_u: np.ndarray,
    conductance_v: np.ndarray,
    decay: np.ndarray,
    *,
    limited: bool,
) -> np.ndarray:
    """(ny, nx) rate [1/s] whose inverse bounds a positive, extremum-free Euler stage.

    ``(λ Σ_out F + Σ_faces D) / V + max k``, with λ = 2 for limited MUSCL (face values may move
    the upwind value by up to one neighbour difference) and λ = 1 for first-order upwind.
    """
    lam = 2.0 if limited else 1.0
    outflow = flow.max_outflow_rate()
    cond = (
        conductance_u[:, :-1] + conductance_u[:, 1:] + conductance_v[:-1, :] + conductance_v[1:, :]
    )
    volume = grid.volume
    rate = np.zeros(grid.shape)
    wet = grid.wet & (volume > 0)  # floodable ground (depth <= 0) carries no rigid-lid flux
    rate[wet] = (lam * outflow[wet] + cond[wet]) / volume[wet]
    return rate + (float(np.max(decay)) if np.size(decay) else 0.0)


@dataclass(frozen=True, eq=False)
class Sections:
    """Faces whose fluxes are summed per named section, sorted by the kernel row that owns them.

    Entries m of row j are [ptr[j], ptr[j+1]); kind 0 = x-face (j, i), 1 = y-face (j+1, i),
    2 = y-face (0, i); sign +1 counts flux in the face's positive direction (east/north) as
    inflow to the monitored region. ``region`` is the (ny, nx) bool region (or None).
    """

    names: tuple[str, ...]
    ptr: np.ndarray
    kind: np.ndarray
    i: np.ndarray
    id: np.ndarray
    sign: np.ndarray
    region: np.ndarray | None = None

    @classmethod
    def none(cls, ny: int) -> Sections:
        """No monitored faces."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(("none",), np.zeros(ny + 1, dtype=np.int64), empty, empty, empty, np.zeros(0))

    @classmethod
    def around(cls, grid: Grid, region: np.ndarray, name_of) -> Sections:
        """Every flux face on the edge of ``region`` (to other wet cells or open edges).

        ``name_of(x, y) -> str`` names the section of a face from its centre [degrees or m].
        """
        region = np.asarray(region, dtype=bool) & grid.wet
        ny, nx = grid.shape
        inside = np.zeros((ny + 2, nx + 2), dtype=bool)
        inside[1:-1, 1:-1] = region
        rows: list[int] = []
        kinds: list[int] = []
        cols: list[int] = []
        signs: list[float] = []
        where: list[tuple[float, float]] = []
        # x-faces (j, i) between cells (j, i-1) and (j, i): +1 when the east cell is inside
        ju, iu = np.nonzero(grid.flux_u & (inside[1:-1, :-1] != inside[1:-1, 1:]))
        for j, i in zip(ju, iu, strict=True):
            rows.append(int(j))
            kinds.append(0)
            cols.append(int(i))
            signs.append(1.0 if inside[j + 1, i + 1] else -1.0)
            where.append((grid.x_edge[i], grid.y_centre[j]))
        jv, iv = np.nonzero(grid.flux_v & (inside[:-1, 1:-1] != inside[1:, 1:-1]))
        for jf, i in zip(jv, iv, strict=True):
            rows.append(max(int(jf) - 1, 0))
            kinds.append(1 if jf > 0 else 2)
            cols.append(int(i))
            signs.append(1.0 if inside[jf + 1, i + 1] else -1.0)
            where.append((grid.x_centre[i], grid.y_edge[jf]))
        labels = [name_of(x, y) for x, y in where]
        names = tuple(dict.fromkeys(labels)) or ("none",)
        order = np.argsort(rows, kind="stable")
        row_of_face = np.asarray(rows, dtype=np.int64)[order]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(row_of_face, minlength=ny))]).astype(
            np.int64
        )
        return cls(
            names,
            ptr,
            np.asarray(kinds, dtype=np.int64)[order],
            np.asarray(cols, dtype=np.int64)[order],
            np.asarray([names.index(n) for n in labels], dtype=np.int64)[order],
            np.asarray(signs, dtype=float)[order],
            region,
        )

    def arrays(self) -> tuple:
        """(ptr, kind, i, id, sign) for the kernel."""
        return self.ptr, self.kind, self.i, self.id, self.sign


@dataclass
class MassBudget:
    """Running mass budget per tracer [g]: storage change = loads + boundary inflow − decay."""

    tracers: tuple[str, ...]
    initial: np.ndarray
    sections: tuple[str, ...] = ()
    region_initial: np.ndarray | None = None
    loads_in: np.ndarray = field(init=False)
    boundary_in: np.ndarray = field(init=False)
    decayed: np.ndarray = field(init=False)
    region_loads_in: np.ndarray = field(init=False)
    region_decayed: np.ndarray = field(init=False)
    section_in: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.tracers)
        self.loads_in = np.zeros(n)
        self.boundary_in = np.zeros(n)
        self.decayed = np.zeros(n)
        self.region_loads_in = np.zeros(n)
        self.region_decayed = np.zeros(n)
        self.section_in = np.zeros((n, len(self.sections)))

    def region_budget(self, region_final: np.ndarray) -> dict[str, dict[str, float]]:
        """{tracer: {term: grams}} of the monitored region: loads, decay, inflow per section."""
        out = {}
        assert self.region_initial is not None  # set at the start of every run (__post_init__)
        for k, name in enumerate(self.tracers):
            terms = {
                "initial_g": float(self.region_initial[k]),
                "final_g": float(region_final[k]),
                "loads_in_g": float(self.region_loads_in[k]),
                "decayed_g": float(self.region_decayed[k]),
            }
            for q, section in enumerate(self.sections):
                terms[f"inflow_{section}_g"] = float(self.section_in[k, q])
            change = region_final[k] - self.region_initial[k]
            net = self.region_loads_in[k] + self.section_in[k].sum() - self.region_decayed[k]
            terms["imbalance_g"] = float(change - net)
            out[name] = terms
        return out

    def imbalance(self, final: np.ndarray) -> np.ndarray:
        """(ntr,) storage change minus net sources [g]; round-off for a conservative scheme."""
        return (final - self.initial) - (self.loads_in + self.boundary_in - self.decayed)

    def relative_imbalance(self, final: np.ndarray) -> np.ndarray:
        """(ntr,) imbalance over the largest budget term (0 when nothing moved)."""
        scale = np.maximum.reduce(
            [
                np.abs(self.initial),
                np.abs(final),
                np.abs(self.loads_in),
                np.abs(self.boundary_in),
                np.abs(self.decayed),
            ]
        )
        return np.divide(self.imbalance(final), scale, out=np.zeros_like(scale), where=scale > 0)

    def as_dict(self, final: np.ndarray) -> dict[str, dict[str, float]]:
        """{tracer: {term: grams}} for reports and file attributes."""
        out = {}
        for k, name in enumerate(self.tracers):
            out[name] = {
                "initial_g": float(self.initial[k]),
                "final_g": float(final[k]),
                "loads_in_g": float(self.loads_in[k]),
                "boundary_in_g": float(self.boundary_in[k]),
                "decayed_g": float(self.decayed[k]),
                "imbalance_g": float(self.imbalance(final)[k]),
            }
        return out


class Solver:
    """Advances tracer concentrations with SSPRK(s,2) and the fused Numba stage kernel.

    Parameters
    ----------
    grid, flow : geometry and face transports [m³/s]
    tracers : tracer names, in array order
    decay : (ntr,) first-order decay rates [1/s]
    background : callable time [s] -> (ntr,) open-boundary background [mg/L]
    layout : point sources placed on the grid
    diffusivity : horizontal diffusivity [m²/s], scalar or (ny, nx)
    advection : scheme name (see ADVECTION_SCHEMES)
    area_loads : optional (ntr, ny, nx) diffuse loads [g/m²/s]
    return_time : Thatcher–Harleman return time [s]
    """

    def __init__(
        self,
        grid: Grid,
        flow: Flow,
        *,
        tracers,
        decay,
        background,
        layout: SourceLayout,
        diffusivity,
        advection: str = "mc",
        area_loads=None,
        return_time: float = 0.0,
        age_parent: np.ndarray | None = None,
        sections: Sections | None = None,
        engine: str = "numba",
    ) -> None:
        self.grid = grid
        self.flow = flow
        self.tracers = tuple(tracers)
        self.decay = np.ascontiguousarray(decay, dtype=float)
        self.background = background
        self.layout = layout
        self.limiter = scheme_id(advection)
        self.advection = advection.lower()
        self.engine = engine
        self.conductance_u, self.conductance_v = face_conductances(grid, diffusivity)
        self.interior_u, self.interior_v = interior_faces(grid)
        self.moving = (
            MovingVolumes(flow, self, stages=RK_STAGES, safety=DEFAULT_SAFETY, error=StabilityError)
            if flow.moving
            else None
        )
        self.volume = np.ascontiguousarray(flow.volume_at(float(flow.times[0])))
        self.inv_volume = np.divide(
            1.0, self.volume, out=np.zeros(grid.shape), where=self.volume > 0
        )
        ntr = len(self.tracers)
        self.area_loads = np.zeros((ntr, *grid.shape))
        if area_loads is not None:
            self.area_loads = np.asarray(area_loads, dtype=float) * grid.area[None]
        self.boundary = BoundaryState(grid, ntr, return_time)
        parents = np.full(ntr, -1) if age_parent is None else np.asarray(age_parent)
        self.age_pairs = [(k, int(p)) for k, p in enumerate(parents) if p >= 0]
        self._scratch = np.empty((2, ntr, *grid.shape))  # stage buffers
        self._row_decay = np.zeros((ntr, grid.ny))
        self._row_boundary = np.zeros((ntr, grid.ny))
        self.sections = Sections.none(grid.ny) if sections is None else sections
        self._row_section = np.zeros((ntr, grid.ny, len(self.sections.names)))
        self._row_region_decay = np.zeros((ntr, grid.ny))
        region = self.sections.region
        self.has_region = region is not None
        #: (ny, nx) 1.0 inside the monitored region, 0.0 elsewhere (the kernel weights decay by it)
        self.region_weight = np.zeros(grid.shape) if region is None else region.astype(float)
        self._load_totals: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None] = (
            None,
            None,
            None,
        )
        self._flow_cache: tuple[float, tuple[np.ndarray, np.ndarray]] | None = None
        self._loads_cache: tuple[float, np.ndarray] | None = None

    # ------------------------------------------------------------------ time step
    def positivity_rate(self) -> np.ndarray:
        """(ny, nx) positivity rate [1/s] of this solver's scheme (see module function)."""
        return positivity_rate(
            self.grid,
            self.flow,
            self.conductance_u,
            self.conductance_v,
            self.decay,
            limited=self.limiter != 0,
        )

    def stable_dt(self, safety: float = DEFAULT_SAFETY) -> float:
        """Largest time step [s] keeping every stage positive and free of new extrema, × safety.

        On moving volumes: the shortest interval of the stored flow (`advance` sub-steps each
        interval within its own bound).
        """
        if self.moving is not None:
            return float(np.diff(self.flow.times).min())
        rate = float(self.positivity_rate().max())
        return safety * (RK_STAGES - 1) / rate if rate > 0 else np.inf

    def check_dt(self, dt: float) -> None:
        """Raise StabilityError naming the limiting cell if ``dt`` exceeds the positivity bound."""
        if not dt > 0:
            raise StabilityError(f"time step must be > 0 s, got {dt}")
        if self.moving is not None:
            return  # sub-stepped within each interval's own bound
        rate = self.positivity_rate()
        limit = (RK_STAGES - 1) / rate.max() if rate.max() > 0 else np.inf
        if dt > limit:
            j, i = np.unravel_index(int(np.argmax(rate)), rate.shape)
            raise StabilityError(
                f"time step {dt:g} s exceeds the stability (positivity) limit {limit:.4g} s of the "
                f"{self.advection} scheme, set by cell (j={j}, i={i}) at "
                f"({self.grid.x_centre[i]:.4g}, {self.grid.y_centre[j]:.4g}); set "
                f"transport.dt_s <= {limit:.4g} s, or 0 to choose it automatically"
            )

    # ------------------------------------------------------------------ source terms
    def loads_at(self, time: float) -> np.ndarray:
        """(ntr, ny, nx) total loads [g/s] at ``time`` (point sources + area loads)."""
        if not self.layout.time_varying and self._loads_cache is not None:
            return self._loads_cache[1]
        key = self._month_key(time)
        if self._loads_cache is not None and self._loads_cache[0] == key:
            return self._loads_cache[1]
        loads = np.ascontiguousarray(
            self.layout.load_field(self.grid.shape, time) + self.area_loads
        )
        self._loads_cache = (key, loads)
        return loads

    def stage_loads(self, loads: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Loads [g/s] of a stage at state c: age tracers get their parent's c × V [mg/L·m³]."""
        if not self.age_pairs:
            return loads
        loads = loads.copy()
        for age, parent in self.age_pairs:
            loads[age] = c[parent] * self.volume
        return loads

    def _month_key(self, time: float) -> float:
        return float((time % YEAR) // (YEAR / 12.0)) if self.layout.time_varying else 0.0

    # ------------------------------------------------------------------ the step
    def advance(
        self,
        c: np.ndarray,
        time: float,
        dt: float,
        budget: MassBudget | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """c(time + dt) by SSPRK(s,2), s = `RK_STAGES` fused Euler stages; updates ``budget``.

        Stages k = 0..s−1 take Euler steps of h = dt/(s−1) from c_k at time + k h; the last one is
        blended with the start, c(t + dt) = c/s + (s−1)/s (c_{s−1} + h L(c_{s−1})), so the step is
        c + (dt/s) Σ_k L(c_k) and each stage's budget counts with weight (s−1)/s.
        """
        out = np.empty_like(c) if out is None else out
        if self.moving is not None:
            return self.moving.advance(c, time, dt, budget, out)
        return self._ssp_step(c, time, dt, budget, out, None)

    def seek(self, time: float) -> None:
        """Set the volumes (and a moving flow's cycle) to those at ``time`` [s] (run start)."""
        self.volume = np.ascontiguousarray(self.flow.volume_at(time))
        if self.moving is not None:
            self.moving.cycle = self.flow.interval(time)[2]

    def _ssp_step(self, c, time, dt, budget, out, interval):
        """One SSPRK(s,2) step; ``interval`` = (k, offset [s]) of a moving flow, else None."""
        loads = self.loads_at(time)
        if interval is None:
            u, v = self._flow_at(time)
        else:  # constant over the interval, also at its end
            u, v = self.flow.transport_u[interval[0]], self.flow.transport_v[interval[0]]
        self.boundary.update(c, u, v, self.background(time), dt)
        h = dt / (RK_STAGES - 1)
        ntr = c.shape[0]
        totals = np.zeros((4, ntr))  # decayed, boundary inflow, region decayed, age loads
        section_in = np.zeros((ntr, len(self.sections.names)))
        region_age_loads = np.zeros(ntr)
        current = c
        for k in range(RK_STAGES):
            if k and interval is None:
                u, v = self._flow_at(time + k * h)
            last = k == RK_STAGES - 1
            target = out if last else self._scratch[k % 2]
            w_start = 1.0 / RK_STAGES if last else 0.0
            stage_loads = self.stage_loads(loads, current)
            moving = None if interval is None else self.moving.stage(interval, k * h)
            decay_k, boundary_k, section_k, region_decay_k = self._stage(
                current, c, u, v, stage_loads, h, w_start, 1.0 - w_start, target, moving
            )
            totals[0] += decay_k
            totals[1] += boundary_k
            totals[2] += region_decay_k
            section_in += section_k
            if budget is not None:
                for age, _ in self.age_pairs:  # age sources change from stage to stage
                    totals[3, age] += (dt / RK_STAGES) * stage_loads[age].sum()
                    region_age_loads[age] += (dt / RK_STAGES) * float(
                        np.sum(stage_loads[age] * self.region_weight)
                    )
            current = target
        if budget is not None:
            weight = (RK_STAGES - 1) / RK_STAGES
            load_sum, region_load_sum = self._load_sums(loads)
            budget.loads_in += dt * load_sum + totals[3]
            budget.decayed += weight * totals[0]
            budget.boundary_in += weight * totals[1]
            if self.has_region:
                budget.region_loads_in += dt * region_load_sum + region_age_loads
                budget.region_decayed += weight * totals[2]
                budget.section_in += weight * section_in
        return out

    def _flow_at(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Face transports at ``time``, the last one kept (a step ends where the next begins)."""
        if self._flow_cache is None or self._flow_cache[0] != time:
            self._flow_cache = (time, self.flow.at(time))
        return self._flow_cache[1]

    def _load_sums(self, loads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ntr,) loads [g/s] summed over the domain and over the region (age tracers: 0)."""
        cached, total, region = self._load_totals
        if cached is not loads:
            ordinary = np.ones(loads.shape[0])
            for age, _ in self.age_pairs:
                ordinary[age] = 0.0
            total = loads.sum(axis=(1, 2)) * ordinary
            region = np.einsum("tyx,yx->t", loads, self.region_weight) * ordinary
            self._load_totals = (loads, total, region)
        assert total is not None and region is not None  # both set with the cached loads
        return total, region

    def _stage(self, c, c_start, tu, tv, loads, dt, w_start, w_stage, out, moving=None):
        b = self.boundary.ghost
        cond_u, cond_v, interior_u, interior_v = (
            (self.conductance_u, self.conductance_v, self.interior_u, self.interior_v)
            if moving is None
            else moving[3:]
        )
        moving = None if moving is None else moving[:3]
        args = (
            c,
            c_start,
            tu,
            tv,
            cond_u,
            cond_v,
            interior_u,
            interior_v,
            self.inv_volume,
            self.volume,
            self.decay,
            loads,
            b["west"],
            b["east"],
            b["south"],
            b["north"],
            dt,
            w_start,
            w_stage,
            self.limiter,
            *self.sections.arrays(),
            self.region_weight,
        )
        if self.engine == "numpy":
            from bbw_bay.core import reference

            result, decayed, boundary_in, section_in, region_decayed = reference.transport_stage(
                *args, len(self.sections.names), moving
            )
            out[:] = result
            return decayed, boundary_in, section_in, region_decayed
        kernels.transport_stage(
            *args,
            out,
            self._row_decay,
            self._row_boundary,
            self._row_section,
            self._row_region_decay,
            moving=moving,
        )
        return (
            self._row_decay.sum(axis=1),
            self._row_boundary.sum(axis=1),
            self._row_section.sum(axis=1),
            self._row_region_decay.sum(axis=1),
        )

    def steady_rates(self, c: np.ndarray, time: float = 0.0):
        """Rates of the steady problem at ``c`` (ghosts at the background, flow at ``time``).

        Returns (residual dc/dt (ntr, ny, nx) [mg/L/s], decay (ntr,) [g/s], net boundary
        inflow (ntr,) [g/s]).
        """
        u, v = self.flow.at(time)
        self.boundary.reset(self.background(time))
        out = np.empty_like(c)
        loads = self.stage_loads(self.loads_at(time), c)
        decayed, boundary_in, _, _ = self._stage(c, c, u, v, loads, 1.0, 0.0, 1.0, out)
        return out - c, decayed, boundary_in

    def residual(self, c: np.ndarray, time: float = 0.0) -> np.ndarray:
        """(ntr, ny, nx) steady-state residual dc/dt [mg/L/s] of the discrete operator at ``c``."""
        return self.steady_rates(c, time)[0]


__all__ = [
    "ADVECTION_SCHEMES",
    "BoundaryState",
    "MassBudget",
    "MovingVolumes",
    "Sections",
    "Solver",
    "StabilityError",
    "face_conductances",
    "interior_faces",
    "outflow_sum",
    "positivity_rate",
    "scheme_id",
]
