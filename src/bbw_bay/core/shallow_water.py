"""2-D depth-averaged nonlinear shallow-water equations with wetting and drying on the C-grid.

    ∂η/∂t + ∇·(H u) = R / A
    ∂u/∂t + [u·∇u] + f k×u = −g ∇η − (C_d |u| + r) u / H + τ/(ρ H) + ν ∇²u

η [m] at cell centres (H = η + h, h the bed depth below the datum, negative where the bed lies
above it), depth-integrated transports on the faces. Semi-implicit θ-method in time with one
sparse symmetric positive-definite solve for η per step (Casulli 1990); upwinded face depths and
faces closed below ``dry_depth`` (Stelling & Duinmeijer 2003) for wetting and drying; the new
depth comes from the face fluxes, so water is conserved to round-off and never negative (see
`bbw_bay.core.kernels.shallow_water` for the discrete equations). Spherical metric terms of the
momentum equation (u tan φ / R) are neglected: grids here are bay-sized.

States are SI: elevations and depths [m], velocities [m/s], transports [m³/s], times [s].
"""

from __future__ import annotations

import logging
import math
import time as wallclock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.core.flow import register_hydrodynamics_grid
from bbw_bay.core.grid import Grid
from bbw_bay.core.kernels import shallow_water as kernels
from bbw_bay.core.sources import PointSource
from bbw_bay.errors import BadInputError, RuntimeFailure, unknown_name
from bbw_bay.units import EARTH_ROTATION, GRAVITY, HOUR, RHO_WATER

log = logging.getLogger(__name__)

#: Angular speeds of tidal constituents [rad/s] (Doodson speeds in °/h; Pugh 1987, table 4.2).
TIDAL_SPEEDS = {
    name: math.radians(deg_per_hour) / HOUR
    for name, deg_per_hour in {
        "K1": 15.0410686,
        "O1": 13.9430356,
        "P1": 14.9589314,
        "Q1": 13.3986609,
        "M2": 28.9841042,
        "S2": 30.0,
        "N2": 28.4397295,
        "K2": 30.0821373,
    }.items()
}
#: Linear solvers of the free-surface system: "pcg" (Numba, matrix-free Jacobi-PCG; default,
#: fastest here, see benchmarks/README.md), "splu" (SciPy sparse LU), "cg" (SciPy CG + Jacobi),
#: "pyamg" (smoothed-aggregation AMG-preconditioned CG, if pyamg is installed).
SOLVERS = ("pcg", "splu", "cg", "pyamg")
#: Gravity-wave Courant number √(g H_max) Δt / Δs_min of the default time step (the θ-method is
#: unconditionally stable; this keeps tides and seiches accurate, see `ShallowWater.default_dt`).
DEFAULT_COURANT = 6.0


class ShallowWaterError(BadInputError):
    """A shallow-water set-up is invalid (boundary values, rivers, wind, parameters)."""


class HydrodynamicsFailure(RuntimeFailure):
    """A shallow-water run produced NaN/Inf or its linear solve did not converge."""


@dataclass(frozen=True)
class BoundaryElevation:
    """Open-boundary elevation η_b(t) = mean_level + Σ_k A_k cos(ω_k t − G_k) [m].

    Parameters
    ----------
    constituents : {name: (amplitude [m], phase [degrees])}; amplitude and phase are numbers, a
        callable (x, y) -> array of face-centre coordinates, or {edge: 1-D array along the
        edge (ny values for west/east, nx for south/north)}
    mean_level : mean sea level at the boundary [m above the datum]
    radiation : False: the elevation is imposed (clamped) at the ghost centre outside each open
        face; True: Flather (1976) radiation, Q_out = L √(gH) (η − η_b)
    speeds : angular speeds [rad/s] of constituents not in `TIDAL_SPEEDS`
    """

    constituents: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    mean_level: float = 0.0
    radiation: bool = False
    speeds: Mapping[str, float] = field(default_factory=dict)

    def omega(self, name: str) -> float:
        """Angular speed [rad/s] of constituent ``name``."""
        table = {**TIDAL_SPEEDS, **self.speeds}
        if name not in table:
            raise ShallowWaterError(unknown_name("tidal constituent", name, table))
        return float(table[name])

    def edge_arrays(self, grid: Grid) -> dict[str, list[tuple[float, np.ndarray, np.ndarray]]]:
        """{edge: [(ω, amplitude (n,), phase [rad] (n,))]} along each edge of the grid."""
        faces = {
            "west": (np.full(grid.ny, grid.x_edge[0]), grid.y_centre),
            "east": (np.full(grid.ny, grid.x_edge[-1]), grid.y_centre),
            "south": (grid.x_centre, np.full(grid.nx, grid.y_edge[0])),
            "north": (grid.x_centre, np.full(grid.nx, grid.y_edge[-1])),
        }
        out: dict[str, list] = {edge: [] for edge in faces}
        for name, pair in self.constituents.items():
            if len(pair) != 2:
                raise ShallowWaterError(
                    f"boundary constituent {name!r}: expected (amplitude, phase_deg), got {pair!r}"
                )
            omega = self.omega(name)
            for edge, (x, y) in faces.items():
                amp = _along_edge(pair[0], edge, x, y, f"{name} amplitude")
                phase = np.deg2rad(_along_edge(pair[1], edge, x, y, f"{name} phase"))
                out[edge].append((omega, amp, phase))
        return out


def _along_edge(value, edge: str, x: np.ndarray, y: np.ndarray, what: str) -> np.ndarray:
    if callable(value):
        arr = np.asarray(value(x, y), dtype=float)
    elif isinstance(value, Mapping):
        arr = np.asarray(value.get(edge, 0.0), dtype=float)
    else:
        arr = np.asarray(value, dtype=float)
    try:
        arr = np.broadcast_to(arr, x.shape).astype(float)
    except ValueError:
        raise ShallowWaterError(
            f"boundary {what} on the {edge} edge has shape {arr.shape}, expected {x.shape}"
        ) from None
    if not np.all(np.isfinite(arr)):
        raise ShallowWaterError(f"boundary {what} on the {edge} edge contains NaN or Inf")
    return arr


@dataclass
class _Faces:
    """Static face arrays: kinds, bed depths, coefficients; built once per ShallowWater."""

    kind_u: np.ndarray
    kind_v: np.ndarray
    bed_u: np.ndarray
    bed_v: np.ndarray
    coriolis_u: np.ndarray
    coriolis_v: np.ndarray
    cd_u: np.ndarray
    cd_v: np.ndarray
    manning_u: np.ndarray
    manning_v: np.ndarray


def _face_means(field_c: np.ndarray, sea: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre field to (ny, nx+1) and (ny+1, nx) faces: mean of the sea neighbours."""
    ny, nx = field_c.shape
    f = np.where(sea, field_c, 0.0)
    w = sea.astype(float)
    pad_u = np.zeros((ny, nx + 2)), np.zeros((ny, nx + 2))
    pad_u[0][:, 1:-1], pad_u[1][:, 1:-1] = f, w
    sum_u = pad_u[0][:, :-1] + pad_u[0][:, 1:]
    cnt_u = pad_u[1][:, :-1] + pad_u[1][:, 1:]
    pad_v = np.zeros((ny + 2, nx)), np.zeros((ny + 2, nx))
    pad_v[0][1:-1], pad_v[1][1:-1] = f, w
    sum_v = pad_v[0][:-1] + pad_v[0][1:]
    cnt_v = pad_v[1][:-1] + pad_v[1][1:]
    return (
        np.divide(sum_u, cnt_u, out=np.zeros_like(sum_u), where=cnt_u > 0),
        np.divide(sum_v, cnt_v, out=np.zeros_like(sum_v), where=cnt_v > 0),
    )


class ShallowWater:
    """The shallow-water engine on a `Grid` (cartesian or lon/lat).

    Parameters
    ----------
    grid : the C-grid; ``grid.wet`` marks cells that can hold water, ``grid.depth`` is the bed
        depth below the datum [m] (negative on floodable ground above it)
    bottom_drag : quadratic drag coefficient C_d [-], a number or (ny, nx) field
    coriolis : True: f = 2Ω sin φ (φ the cell latitude on lon/lat grids, ``latitude`` on
        cartesian ones); False: f = 0; or a number f [1/s]
    dry_depth : faces whose upwind water depth is at most this close [m]
    boundary_elevation : a `BoundaryElevation`, a constant level [m], a callable
        time [s] -> level [m], or None (the mean level 0 m, clamped) on the open edges
    rivers : point sources whose ``discharge`` [m³/s] enters their cells
    wind : None, (τ_x, τ_y) [N/m²] (numbers or (ny, nx) fields), or a callable time [s] ->
        (τ_x, τ_y)
    manning : Manning's n [s/m^{1/3}] (number or (ny, nx)); where given (> 0) it replaces
        ``bottom_drag`` by C_d = g n² / H^{1/3}
    linear_drag : linear friction velocity r [m/s] (bottom stress ρ r u), e.g. for analytic tests
    viscosity : horizontal eddy viscosity ν [m²/s] (explicit: keep ν Δt / Δs² < 1/8)
    advection : include momentum advection u·∇u (first-order upwind, explicit)
    theta : implicitness θ ∈ [0.5, 1] of the free surface (0.5: second order, no damping)
    latitude : latitude [degrees N] for f on cartesian grids (default: the Beibu Gulf)
    solver : one of `SOLVERS`
    tolerance : linear-solve tolerance: weighted RMS η correction [m] (water is conserved
        whatever it is: depths follow the fluxes)
    """

    def __init__(
        self,
        grid: Grid,
        *,
        bottom_drag: float | np.ndarray = 0.0025,
        coriolis: bool | float = True,
        dry_depth: float = 0.05,
        boundary_elevation: BoundaryElevation | float | Callable | None = None,
        rivers: Sequence[PointSource] = (),
        wind: Any = None,
        manning: float | np.ndarray | None = None,
        linear_drag: float = 0.0,
        viscosity: float = 0.0,
        advection: bool = False,
        theta: float = 0.55,
        latitude: float = 21.5,
        solver: str = "pcg",
        tolerance: float = 1e-7,
        max_iterations: int = 2000,
    ) -> None:
        self.grid = grid
        if not 0.5 <= theta <= 1.0:
            raise ShallowWaterError(f"theta must lie in [0.5, 1], got {theta}")
        if not dry_depth > 0:
            raise ShallowWaterError(f"dry_depth must be > 0 m, got {dry_depth}")
        for name, val in (("linear_drag", linear_drag), ("viscosity", viscosity)):
            if not (np.isfinite(val) and val >= 0):
                raise ShallowWaterError(f"{name} must be a finite number >= 0, got {val}")
        if solver not in SOLVERS:
            raise ShallowWaterError(unknown_name("shallow-water solver", solver, SOLVERS))
        self.theta, self.dry_depth, self.solver = float(theta), float(dry_depth), solver
        self.tolerance, self.max_iterations = float(tolerance), int(max_iterations)
        self.linear_drag, self.viscosity, self.advection = linear_drag, viscosity, bool(advection)
        self.sea = np.ascontiguousarray(grid.wet)
        self.bed = np.ascontiguousarray(np.where(self.sea, grid.depth, 0.0))
        self.boundary = self._boundary(boundary_elevation)
        self.faces = self._faces(bottom_drag, manning, coriolis, latitude)
        self.river = self._rivers(rivers)
        self.wind = wind
        self._wind_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._scipy = None

    # ------------------------------------------------------------------ set-up
    def _boundary(self, value) -> Callable[[float], tuple[np.ndarray, np.ndarray]]:
        grid = self.grid
        self.radiation = bool(getattr(value, "radiation", False))
        if value is None or isinstance(value, (int, float)):
            value = BoundaryElevation(mean_level=float(value or 0.0))
        if not isinstance(value, BoundaryElevation):
            if not callable(value):
                raise ShallowWaterError(
                    "boundary_elevation must be a BoundaryElevation, a number [m], a callable "
                    f"time -> level, or None; got {type(value).__name__}"
                )
            level = value
            return lambda t: (np.full((grid.ny, 2), float(level(t))),
                              np.full((2, grid.nx), float(level(t))))  # fmt: skip
        spec = value
        arrays = spec.edge_arrays(grid)
        mean = float(spec.mean_level)

        def levels(t: float):
            out = {}
            for edge, terms in arrays.items():
                eta = np.full(grid.ny if edge in ("west", "east") else grid.nx, mean)
                for omega, amp, phase in terms:
                    eta += amp * np.cos(omega * t - phase)
                out[edge] = eta
            return (
                np.ascontiguousarray(np.stack([out["west"], out["east"]], axis=1)),
                np.ascontiguousarray(np.stack([out["south"], out["north"]])),
            )

        return levels

    def _faces(self, bottom_drag, manning, coriolis, latitude) -> _Faces:
        grid, sea, bed = self.grid, self.sea, self.bed
        ny, nx = grid.shape
        open_kind = kernels.FLATHER if self.radiation else kernels.CLAMPED
        kind_u = np.zeros((ny, nx + 1), dtype=np.int8)
        kind_u[:, 1:-1] = np.where(sea[:, :-1] & sea[:, 1:], kernels.INTERIOR, kernels.WALL)
        kind_u[grid.open_u] = open_kind
        kind_v = np.zeros((ny + 1, nx), dtype=np.int8)
        kind_v[1:-1] = np.where(sea[:-1] & sea[1:], kernels.INTERIOR, kernels.WALL)
        kind_v[grid.open_v] = open_kind
        pad = np.where(sea, bed, np.inf)
        bed_u = np.full((ny, nx + 1), 0.0)
        bed_u[:, 1:-1] = np.minimum(pad[:, :-1], pad[:, 1:])
        bed_u[:, 0], bed_u[:, -1] = pad[:, 0], pad[:, -1]
        bed_v = np.full((ny + 1, nx), 0.0)
        bed_v[1:-1] = np.minimum(pad[:-1], pad[1:])
        bed_v[0], bed_v[-1] = pad[0], pad[-1]
        bed_u = np.where(kind_u > 0, bed_u, 0.0)
        bed_v = np.where(kind_v > 0, bed_v, 0.0)
        if coriolis is True:
            lat = grid.y_centre if grid.geographic else np.full(ny, float(latitude))
            f_c = np.repeat((2 * EARTH_ROTATION * np.sin(np.deg2rad(lat)))[:, None], nx, axis=1)
        else:
            f_c = np.full((ny, nx), 0.0 if coriolis is False else float(coriolis))
        drag = self._centre_field(bottom_drag, "bottom_drag")
        n_field = self._centre_field(0.0 if manning is None else manning, "manning")
        f_u, f_v = _face_means(f_c, sea)
        cd_u, cd_v = _face_means(drag, sea)
        n_u, n_v = _face_means(n_field, sea)
        c = np.ascontiguousarray
        return _Faces(
            *(c(a) for a in (kind_u, kind_v, bed_u, bed_v, f_u, f_v, cd_u, cd_v, n_u, n_v))
        )

    def _centre_field(self, value, name: str, *, signed: bool = False) -> np.ndarray:
        arr = np.asarray(value, dtype=float)
        try:
            arr = np.broadcast_to(arr, self.grid.shape).copy()
        except ValueError:
            raise ShallowWaterError(
                f"{name} has shape {arr.shape}, expected a number or {self.grid.shape}"
            ) from None
        bad = ~np.isfinite(arr[self.sea]) | (False if signed else arr[self.sea] < 0)
        if np.any(bad):
            raise ShallowWaterError(f"{name} must be finite{'' if signed else ' and >= 0'} on "
                                    "every sea cell")  # fmt: skip
        return arr

    def _rivers(self, rivers: Sequence[PointSource]) -> np.ndarray:
        field_r = np.zeros(self.grid.shape)
        for k, river in enumerate(rivers):
            if not isinstance(river, PointSource):
                raise ShallowWaterError(
                    f"rivers[{k}] must be a PointSource (with a discharge), got "
                    f"{type(river).__name__}"
                )
            j, i = river.locate(self.grid)
            field_r[j, i] += float(river.discharge)
        return field_r

    def wind_stress(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Wind stress on x- and y-faces [N/m²] at ``time`` [s]."""
        if self.wind is None or (self._wind_cache is not None and not callable(self.wind)):
            if self._wind_cache is None:
                ny, nx = self.grid.shape
                self._wind_cache = (np.zeros((ny, nx + 1)), np.zeros((ny + 1, nx)))
            return self._wind_cache
        pair = self.wind(time) if callable(self.wind) else self.wind
        if len(pair) != 2:
            raise ShallowWaterError("wind must give (tau_x, tau_y) in N/m²")
        tau_u, _ = _face_means(self._centre_field(pair[0], "wind tau_x", signed=True), self.sea)
        _, tau_v = _face_means(self._centre_field(pair[1], "wind tau_y", signed=True), self.sea)
        result = (np.ascontiguousarray(tau_u), np.ascontiguousarray(tau_v))
        if not callable(self.wind):
            self._wind_cache = result
        return result

    # ------------------------------------------------------------------ state
    def initial_state(self, initial_elevation: float | np.ndarray = 0.0) -> State:
        """The state at rest with surface ``initial_elevation`` [m]; on dry cells, at the bed."""
        eta = np.broadcast_to(np.asarray(initial_elevation, dtype=float), self.grid.shape)
        if not np.all(np.isfinite(eta[self.sea])):
            raise ShallowWaterError("initial_elevation contains NaN or Inf on sea cells")
        depth = np.where(self.sea, np.maximum(eta + self.bed, 0.0), 0.0)
        ny, nx = self.grid.shape
        return State(np.ascontiguousarray(depth), np.zeros((ny, nx + 1)), np.zeros((ny + 1, nx)))

    def default_dt(self, state: State) -> float:
        """Δt [s] at gravity-wave Courant number `DEFAULT_COURANT` for the deepest water."""
        g = self.grid
        spacing = min(
            float(g.spacing_u[:, 1:-1].min()) if g.nx > 1 else np.inf,
            float(g.spacing_v[1:-1].min()) if g.ny > 1 else np.inf,
            float(np.sqrt(g.area[self.sea]).min()),
        )
        deepest = max(float(state.depth.max()), self.dry_depth)
        return DEFAULT_COURANT * spacing / math.sqrt(GRAVITY * deepest)

    # ------------------------------------------------------------------ the run
    def run(
        self,
        *,
        duration: float,
        output_interval: float | None = None,
        initial_elevation: float | np.ndarray = 0.0,
        dt: float | None = None,
    ) -> xr.Dataset:
        """Integrate ``duration`` [s]; outputs every ``output_interval`` [s] (default: the end).

        Returns an xr.Dataset: eta, total_depth [m] and wet (time, y, x) snapshots at the output
        times (time 0 included); transport_x (time, y, x_face) and transport_y (time, y_face, x)
        [m³/s], the mean over the interval ending at each time (instantaneous at time 0). ``dt``
        is shortened to divide the output interval; default `default_dt`.
        """
        interval = float(duration if output_interval is None else output_interval)
        if not (duration > 0 and interval > 0):
            raise ShallowWaterError(f"duration and output_interval must be > 0 s, got "
                                    f"{duration}, {output_interval}")  # fmt: skip
        n_out = int(round(duration / interval))
        if abs(n_out * interval - duration) > 1e-9 * duration or n_out < 1:
            raise ShallowWaterError(
                f"duration {duration} s must be a whole number of output intervals ({interval} s)"
            )
        state = self.initial_state(initial_elevation)
        dt = self.default_dt(state) if dt is None else float(dt)
        if not dt > 0:
            raise ShallowWaterError(f"dt must be > 0 s, got {dt}")
        substeps = max(1, math.ceil(interval / dt - 1e-9))
        dt = interval / substeps
        frames = [self._snapshot(state)]
        means = [self._instant_transports(state)]
        volume0 = float(np.sum(self.grid.area * state.depth))
        river_total = float(self.river.sum())
        t0 = wallclock.perf_counter()
        iterations = []
        now = 0.0
        for k in range(n_out):
            sum_u = np.zeros_like(state.u)
            sum_v = np.zeros_like(state.v)
            for s in range(substeps):
                now = (k * substeps + s) * dt
                iterations.append(self.step(state, now, dt, sum_u, sum_v))
            state.time = (k + 1) * interval
            self._check(state)
            frames.append(self._snapshot(state))
            means.append((sum_u / substeps, sum_v / substeps))
        wall = wallclock.perf_counter() - t0
        volume1 = float(np.sum(self.grid.area * state.depth))
        expected = volume0 + duration * river_total
        net_boundary = sum(
            float(mu[:, 0].sum() - mu[:, -1].sum() + mv[0].sum() - mv[-1].sum()) * interval
            for mu, mv in means[1:]
        )
        stats = {
            "dt_s": dt,
            "steps": n_out * substeps,
            "wall_seconds": wall,
            "solver": self.solver,
            "solver_iterations_mean": float(np.mean(iterations)),
            "solver_iterations_max": int(np.max(iterations)),
            "volume_error_relative": abs(volume1 - expected - net_boundary) / max(volume0, 1e-300),
        }
        log.info("shallow water: %d steps of %.4g s in %.2f s", stats["steps"], dt, wall)
        return self._dataset(frames, means, interval, stats)

    def step(self, state: State, time: float, dt: float, sum_u=None, sum_v=None) -> int:
        """Advance ``state`` from ``time`` by ``dt`` [s] in place; returns solver iterations.

        ``sum_u``, ``sum_v`` (face shapes) accumulate the step fluxes [m³/s] when given.
        """
        g, f, w = self.grid, self.faces, self._work(state)
        ghost_u0, ghost_v0 = self.boundary(time)
        ghost_u1, ghost_v1 = self.boundary(time + dt)
        tau_u, tau_v = self.wind_stress(time)
        params = np.array([GRAVITY, self.theta, dt, self.dry_depth, self.viscosity,
                           self.linear_drag, RHO_WATER, float(self.advection)])  # fmt: skip
        kernels.momentum_faces(
            state.depth, self.bed, state.u, state.v, f.kind_u, f.kind_v, f.bed_u, f.bed_v,
            g.length_u, g.length_v, g.spacing_u, g.spacing_v, f.coriolis_u, f.coriolis_v,
            f.cd_u, f.cd_v, f.manning_u, f.manning_v, tau_u, tau_v, ghost_u0, ghost_v0, params,
            w["h_u"], w["k_u"], w["b_u"], w["h_v"], w["k_v"], w["b_v"],
        )  # fmt: skip
        kernels.assemble(
            state.depth, self.bed, self.sea, g.area, self.river, state.u, state.v, g.length_u,
            g.length_v, w["h_u"], w["k_u"], w["b_u"], w["h_v"], w["k_v"], w["b_v"], ghost_u1,
            ghost_v1, self.theta, dt, w["diag"], w["rhs"],
        )  # fmt: skip
        eta = w["eta"]
        np.subtract(state.depth, self.bed, out=eta)
        if state.eta_previous is not None:  # linear extrapolation: a good first guess
            guess = 2.0 * eta - state.eta_previous
            state.eta_previous[:] = eta
            eta[:] = guess
        else:
            state.eta_previous = eta.copy()
        iterations = self._solve(w, eta)
        kernels.face_fluxes(
            eta, state.u, state.v, g.length_u, g.length_v, w["h_u"], w["k_u"], w["b_u"],
            w["h_v"], w["k_v"], w["b_v"], ghost_u1, ghost_v1, self.theta, dt, w["q_u"], w["q_v"],
        )  # fmt: skip
        kernels.outflow_ratios(state.depth, g.area, self.river, w["q_u"], w["q_v"], dt, w["ratio"])
        sum_u = w["sum_u"] if sum_u is None else sum_u
        sum_v = w["sum_v"] if sum_v is None else sum_v
        kernels.apply_fluxes(
            state.depth, g.area, self.river, state.u, state.v, w["q_u"], w["q_v"], w["ratio"],
            dt, sum_u, sum_v,
        )  # fmt: skip
        state.time = time + dt
        return iterations

    def _work(self, state: State) -> dict[str, np.ndarray]:
        if state.work is None:
            ny, nx = self.grid.shape
            shapes = {"u": (ny, nx + 1), "v": (ny + 1, nx)}
            work = {}
            for name in ("h", "k", "b", "q", "sum"):
                for side, shape in shapes.items():
                    work[f"{name}_{side}"] = np.zeros(shape)
            for name in ("diag", "rhs", "eta", "ratio", "r", "z", "p", "q"):
                work[name] = np.zeros((ny, nx))
            state.work = work
        return state.work

    def _solve(self, w: dict[str, np.ndarray], eta: np.ndarray) -> int:
        if self.solver == "pcg":
            it = kernels.pcg(
                w["diag"], w["k_u"], w["k_v"], w["rhs"], eta, self.tolerance,
                self.max_iterations, w["r"], w["z"], w["p"], w["q"],
            )  # fmt: skip
            if it >= self.max_iterations:
                raise HydrodynamicsFailure(
                    f"free-surface solve did not reach {self.tolerance:g} m in "
                    f"{self.max_iterations} iterations; shorten dt or raise max_iterations"
                )
            return int(it)
        from bbw_bay.core.reference import free_surface_matrix, scipy_solve

        matrix = free_surface_matrix(w["diag"], w["k_u"], w["k_v"])
        eta[:], it = scipy_solve(matrix, w["rhs"], eta, self.solver, self.tolerance, w["diag"])
        return it

    def _check(self, state: State) -> None:
        if not (np.all(np.isfinite(state.depth)) and np.all(np.isfinite(state.u))):
            raise HydrodynamicsFailure(
                f"NaN/Inf in the shallow-water state at t = {state.time:g} s; shorten dt"
            )

    # ------------------------------------------------------------------ output
    def _snapshot(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        return state.depth.copy(), np.where(self.sea, state.depth - self.bed, np.nan)

    def _instant_transports(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        w = self._work(state)
        return self.grid.length_u * w["h_u"] * state.u, self.grid.length_v * w["h_v"] * state.v

    def _dataset(self, frames, means, interval: float, stats: dict) -> xr.Dataset:
        g = self.grid
        times = interval * np.arange(len(frames))
        depth = np.stack([d for d, _ in frames])
        eta = np.stack([e for _, e in frames])
        unit = "degrees" if g.geographic else "m"
        txt = "volume transport through {}-faces, mean over the interval ending at the time"
        cells = ("time", "y", "x")
        variables = {
            "eta": (cells, eta, "sea surface above the datum (the bed where dry)", "m"),
            "total_depth": (cells, depth, "water depth", "m"),
            "wet": (cells, depth > self.dry_depth, "water deeper than dry_depth", "1"),
            "transport_x": (("time", "y", "x_face"), np.stack([m[0] for m in means]),
                            "eastward " + txt.format("x"), "m3 s-1"),
            "transport_y": (("time", "y_face", "x"), np.stack([m[1] for m in means]),
                            "northward " + txt.format("y"), "m3 s-1"),
            "bed_depth": (("y", "x"), self.bed, "bed depth below the datum", "m"),
            "sea": (("y", "x"), self.sea, "cells that can hold water", "1"),
            "river_discharge": (("y", "x"), self.river, "river inflow", "m3 s-1"),
            "cell_area": (("y", "x"), g.area, "horizontal cell area", "m2"),
        }  # fmt: skip
        coords = {"time": ("time", times, {"units": "s", "long_name": "time since start"})}
        for name, values in (("x", g.x_centre), ("y", g.y_centre), ("x_face", g.x_edge),
                             ("y_face", g.y_edge)):  # fmt: skip
            coords[name] = (name, values, {"units": unit})
        ds = xr.Dataset(
            {k: (d, a, {"long_name": n, "units": u}) for k, (d, a, n, u) in variables.items()},
            coords=coords,
        )
        ds.attrs.update(
            {
                "geographic": int(g.geographic),
                "open_boundaries": ",".join(g.open_boundaries),
                "output_interval_s": interval,
                "dry_depth_m": self.dry_depth,
                "theta": self.theta,
                **stats,
            }
        )
        ds.attrs["grid_key"] = register_hydrodynamics_grid(g)
        return ds


@dataclass
class State:
    """Shallow-water state: total depth (ny, nx) [m], face velocities u, v [m/s], time [s]."""

    depth: np.ndarray
    u: np.ndarray
    v: np.ndarray
    time: float = 0.0
    eta_previous: np.ndarray | None = None
    work: dict | None = None


__all__ = [
    "DEFAULT_COURANT",
    "SOLVERS",
    "TIDAL_SPEEDS",
    "BoundaryElevation",
    "HydrodynamicsFailure",
    "ShallowWater",
    "ShallowWaterError",
    "State",
]
