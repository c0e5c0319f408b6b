"""Time-step choice, scheme registry and one SSP-RK2 step; the only caller of the kernels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bbw_bay import kernels
from bbw_bay.flow import Flow, outflow_sum
from bbw_bay.grid import Grid
from bbw_bay.sources import SourceLayout
from bbw_bay.units import YEAR

#: Advection schemes by name (slope limiters of the MUSCL reconstruction; "upwind" = first order).
ADVECTION_SCHEMES = tuple(kernels.LIMITERS)
#: Fraction of the positivity bound used when the solver picks the time step itself.
DEFAULT_SAFETY = 0.9


class StabilityError(ValueError):
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
    wet = grid.wet
    rate[wet] = (lam * outflow[wet] + cond[wet]) / volume[wet]
    return rate + (float(np.max(decay)) if np.size(decay) else 0.0)


@dataclass
class MassBudget:
    """Running mass budget per tracer [g]: storage change = loads + boundary inflow − decay."""

    tracers: tuple[str, ...]
    initial: np.ndarray
    loads_in: np.ndarray = field(init=False)
    boundary_in: np.ndarray = field(init=False)
    decayed: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.tracers)
        self.loads_in = np.zeros(n)
        self.boundary_in = np.zeros(n)
        self.decayed = np.zeros(n)

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


class BoundaryState:
    """Inflow concentrations on open-boundary faces, with Thatcher–Harleman return.

    On outflow the exiting concentration is remembered; after the flow turns inward the ghost
    value relaxes from it to the background as c_b = c_exit + ½(c_bg − c_exit)(1 − cos(π τ / T))
    for τ < T (T = return time; T = 0 gives the background at once). Thatcher & Harleman (1972),
    MIT Ralph M. Parsons Lab. Rep. 144.
    """

    def __init__(self, grid: Grid, ntr: int, return_time: float) -> None:
        self.return_time = float(return_time)
        shapes = {
            "west": (ntr, grid.ny),
            "east": (ntr, grid.ny),
            "south": (ntr, grid.nx),
            "north": (ntr, grid.nx),
        }
        self.ghost = {edge: np.zeros(shape) for edge, shape in shapes.items()}
        self.exit = {edge: np.zeros(shape) for edge, shape in shapes.items()}
        self.since = {edge: np.full(shape[1], np.inf) for edge, shape in shapes.items()}

    def reset(self, background: np.ndarray) -> None:
        """Start with every face at the background (no memory of earlier outflow)."""
        for edge in self.ghost:
            self.ghost[edge][:] = background[:, None]
            self.exit[edge][:] = background[:, None]
            self.since[edge][:] = np.inf

    def update(
        self,
        c: np.ndarray,
        transport_u: np.ndarray,
        transport_v: np.ndarray,
        background: np.ndarray,
        dt: float,
    ) -> None:
        """Set the ghosts for the coming step from the state ``c`` at its start."""
        outward = {
            "west": transport_u[:, 0] < 0,
            "east": transport_u[:, -1] > 0,
            "south": transport_v[0, :] < 0,
            "north": transport_v[-1, :] > 0,
        }
        interior = {
            "west": c[:, :, 0],
            "east": c[:, :, -1],
            "south": c[:, 0, :],
            "north": c[:, -1, :],
        }
        bg = background[:, None]
        for edge, out_mask in outward.items():
            self.exit[edge][:, out_mask] = interior[edge][:, out_mask]
            self.since[edge][out_mask] = 0.0
            tau = self.since[edge]
            if self.return_time > 0:
                phase = np.clip(tau / self.return_time, 0.0, 1.0)
                weight = 0.5 * (1.0 - np.cos(np.pi * phase))
            else:
                weight = np.ones_like(tau)
            exit_c = self.exit[edge]
            self.ghost[edge][:] = exit_c + weight[None, :] * (bg - exit_c)
            self.since[edge][~out_mask] += dt

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to checkpoint."""
        out = {}
        for edge in self.ghost:
            out[f"exit_{edge}"] = self.exit[edge].copy()
            out[f"since_{edge}"] = self.since[edge].copy()
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of `state`."""
        for edge in self.ghost:
            self.exit[edge][:] = state[f"exit_{edge}"]
            self.since[edge][:] = state[f"since_{edge}"]


class Solver:
    """Advances tracer concentrations with Heun's SSP-RK2 and the fused Numba stage kernel.

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
        self.volume = np.ascontiguousarray(grid.volume)
        self.inv_volume = np.divide(
            1.0, self.volume, out=np.zeros(grid.shape), where=self.volume > 0
        )
        ntr = len(self.tracers)
        self.area_loads = np.zeros((ntr, *grid.shape))
        if area_loads is not None:
            self.area_loads = np.asarray(area_loads, dtype=float) * grid.area[None]
        self.boundary = BoundaryState(grid, ntr, return_time)
        self._scratch = np.empty((ntr, *grid.shape))
        self._row_decay = np.zeros((ntr, grid.ny))
        self._row_boundary = np.zeros((ntr, grid.ny))
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
        """Largest time step [s] keeping every stage positive and free of new extrema, × safety."""
        rate = float(self.positivity_rate().max())
        return safety / rate if rate > 0 else np.inf

    def check_dt(self, dt: float) -> None:
        """Raise StabilityError naming the limiting cell if ``dt`` exceeds the positivity bound."""
        rate = self.positivity_rate()
        limit = 1.0 / rate.max() if rate.max() > 0 else np.inf
        if not dt > 0:
            raise StabilityError(f"time step must be > 0 s, got {dt}")
        if dt > limit:
            j, i = np.unravel_index(int(np.argmax(rate)), rate.shape)
            raise StabilityError(
                f"time step {dt:g} s exceeds the stability (positivity) limit {limit:.4g} s of the "
                f"{self.advection} scheme, set by cell (j={j}, i={i}) at "
                f"({self.grid.x_centre[i]:.4g}, {self.grid.y_centre[j]:.4g}); use dt <= "
                f"{limit:.4g} s or leave dt unset to choose it automatically"
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
        """c(time + dt) by Heun's SSP-RK2 (two fused Euler stages); updates ``budget``."""
        out = np.empty_like(c) if out is None else out
        loads = self.loads_at(time)
        u0, v0 = self.flow.at(time)
        self.boundary.update(c, u0, v0, self.background(time), dt)
        stage1 = self._scratch
        decay1, bnd1 = self._stage(c, c, u0, v0, loads, dt, 0.0, 1.0, stage1)
        u1, v1 = self.flow.at(time + dt)
        decay2, bnd2 = self._stage(stage1, c, u1, v1, loads, dt, 0.5, 0.5, out)
        if budget is not None:
            budget.loads_in += dt * loads.sum(axis=(1, 2))
            budget.decayed += 0.5 * (decay1 + decay2)
            budget.boundary_in += 0.5 * (bnd1 + bnd2)
        return out

    def _stage(self, c, c_start, tu, tv, loads, dt, w_start, w_stage, out):
        b = self.boundary.ghost
        args = (
            c,
            c_start,
            tu,
            tv,
            self.conductance_u,
            self.conductance_v,
            self.interior_u,
            self.interior_v,
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
        )
        if self.engine == "numpy":
            from bbw_bay import reference

            result, decayed, boundary_in = reference.transport_stage(*args)
            out[:] = result
            return decayed, boundary_in
        kernels.transport_stage(*args, out, self._row_decay, self._row_boundary)
        return self._row_decay.sum(axis=1), self._row_boundary.sum(axis=1)

    def steady_rates(self, c: np.ndarray, time: float = 0.0):
        """Rates of the steady problem at ``c`` (ghosts at the background, flow at ``time``).

        Returns (residual dc/dt (ntr, ny, nx) [mg/L/s], decay (ntr,) [g/s], net boundary
        inflow (ntr,) [g/s]).
        """
        u, v = self.flow.at(time)
        self.boundary.reset(self.background(time))
        out = np.empty_like(c)
        decayed, boundary_in = self._stage(c, c, u, v, self.loads_at(time), 1.0, 0.0, 1.0, out)
        return out - c, decayed, boundary_in

    def residual(self, c: np.ndarray, time: float = 0.0) -> np.ndarray:
        """(ntr, ny, nx) steady-state residual dc/dt [mg/L/s] of the discrete operator at ``c``."""
        return self.steady_rates(c, time)[0]


__all__ = [
    "ADVECTION_SCHEMES",
    "BoundaryState",
    "MassBudget",
    "Solver",
    "StabilityError",
    "face_conductances",
    "interior_faces",
    "outflow_sum",
    "positivity_rate",
    "scheme_id",
]
