"""Frequency-domain linear tides on the C-grid, tidal current amplitude and tidal dispersion.

For one constituent of angular frequency ω, with every field ∝ e^{iωt}, the depth-averaged
linearised shallow-water equations are solved on the wet cells:

    iω η + ∇·(H u) = 0                                   (η at cell centres)
    iω u + f k×u = −g ∇η − (r / H) u                      (u on x-faces, v on y-faces)

as one sparse complex system in (η, u, v), factorised with SuperLU (`scipy.sparse.linalg.splu`).
Coriolis uses the 4-point average of the other velocity component in an energy-neutral
(skew-adjoint) form, so it does no work; closed coasts carry zero normal velocity; on open
boundaries the elevation is prescribed at the mirrored ghost centre just outside the domain.
Friction is linear, r = (8 / 3π) C_d U, with U the local combined tidal current amplitude,
iterated (Lorentz linearisation of the quadratic drag C_d |u| u).

Phases follow the harmonic-constant convention: η(t) = A cos(ωt − G), with G the Greenwich
phase lag in degrees, so the complex amplitude is A e^{−iG}.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from bbw_bay.core.grid import Grid
from bbw_bay.errors import BadInputError, unknown_name
from bbw_bay.gulf.data import forcing_path, read_toml
from bbw_bay.units import EARTH_ROTATION, GRAVITY, HOUR

log = logging.getLogger(__name__)

#: Angular speeds of the tidal constituents [rad/s] (Doodson speeds in °/h, e.g. Pugh 1987).
CONSTITUENT_SPEEDS = {
    "K1": np.deg2rad(15.0410686) / HOUR,
    "O1": np.deg2rad(13.9430356) / HOUR,
    "P1": np.deg2rad(14.9589314) / HOUR,
    "Q1": np.deg2rad(13.3986609) / HOUR,
    "M2": np.deg2rad(28.9841042) / HOUR,
    "S2": np.deg2rad(30.0000000) / HOUR,
    "N2": np.deg2rad(28.4397295) / HOUR,
}
#: Constituents solved by default (the gulf is diurnal: K1 and O1 dominate, M2 next).
DEFAULT_CONSTITUENTS = ("K1", "O1", "M2")
#: Quadratic bottom drag coefficient for the depth-averaged flow [-] (typical shelf value).
DRAG_COEFFICIENT = 2.5e-3
#: Floor on the current amplitude used to linearise friction [m/s], so r never vanishes.
MINIMUM_FRICTION_SPEED = 0.05
#: First-guess current amplitude for the friction iteration [m/s].
FIRST_GUESS_SPEED = 0.3
#: Friction updates after the first-guess solve.
FRICTION_ITERATIONS = 2
#: Default tidal-dispersion coefficient α in K = α U² / ω_K1 (see `tidal_dispersion`).
DISPERSION_COEFFICIENT = 0.1
DISPERSION_MINIMUM = 5.0
DISPERSION_MAXIMUM = 500.0
#: Relative residuals of the preconditioned GMRES solve (rotating case): final solves, and the
#: intermediate friction sweeps (whose fields only feed the friction update); iteration cap.
GMRES_RTOL = 1e-9
GMRES_RTOL_SWEEP = 1e-6
GMRES_MAXITER = 200
#: The shipped open-boundary and station harmonic constants.
TIDES_FILE = "tides.toml"


class TideError(BadInputError):
    """A tidal solve was asked for with invalid input."""


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class TidalSolution:
    """One constituent's linear tidal solution on a grid.

    Attributes
    ----------
    grid : the grid
    constituent : name, e.g. "K1"
    omega : angular frequency [rad/s]
    eta : (ny, nx) complex elevation amplitude [m] (A e^{−iG}); NaN on land
    u : (ny, nx+1) complex x-face velocity [m/s]; 0 on faces without flux
    v : (ny+1, nx) complex y-face velocity [m/s]; 0 on faces without flux
    friction : (ny, nx) linear friction velocity r used [m/s] (0 on land)
    """

    grid: Grid
    constituent: str
    omega: float
    eta: np.ndarray
    u: np.ndarray
    v: np.ndarray
    friction: np.ndarray

    @property
    def amplitude(self) -> np.ndarray:
        """(ny, nx) elevation amplitude A [m]; NaN on land."""
        return np.abs(self.eta)

    @property
    def phase(self) -> np.ndarray:
        """(ny, nx) Greenwich phase lag G [degrees, 0–360]; NaN on land."""
        return np.mod(-np.angle(self.eta, deg=True), 360.0)

    @property
    def u_centre(self) -> np.ndarray:
        """(ny, nx) complex eastward velocity at centres [m/s]: mean of the two x-faces."""
        return np.where(self.grid.wet, 0.5 * (self.u[:, :-1] + self.u[:, 1:]), 0.0)

    @property
    def v_centre(self) -> np.ndarray:
        """(ny, nx) complex northward velocity at centres [m/s]: mean of the two y-faces."""
        return np.where(self.grid.wet, 0.5 * (self.v[:-1, :] + self.v[1:, :]), 0.0)

    @property
    def current_major(self) -> np.ndarray:
        """(ny, nx) semi-major axis of the current ellipse at centres [m/s]; 0 on land."""
        major, _ = ellipse_axes(self.u_centre, self.v_centre)
        return major

    def at(self, x: float, y: float) -> tuple[float, float]:
        """(amplitude [m], phase [deg]) in the nearest wet cell to point (x, y)."""
        j, i, _ = self.grid.nearest_wet(x, y)
        return float(self.amplitude[j, i]), float(self.phase[j, i])


def ellipse_axes(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-major and semi-minor axes [m/s] of the ellipse traced by Re(u e^{iωt}, v e^{iωt}).

    With w = u_r + i v_r = a₊ e^{iωt} + a₋ e^{−iωt}, a₊ = (u + iv)/2, a₋ = (ū + i v̄)/2:
    major = |a₊| + |a₋|, minor = ||a₊| − |a₋||.
    """
    a_plus = np.abs(u + 1j * v) / 2.0
    a_minus = np.abs(np.conj(u) + 1j * np.conj(v)) / 2.0
    return a_plus + a_minus, np.abs(a_plus - a_minus)


# ---------------------------------------------------------------------------- boundary values
BoundarySpec = complex | float | Callable[[np.ndarray, np.ndarray], np.ndarray] | None


def read_tides_file(path: str | None = None) -> dict[str, Any]:
    """The parsed `forcing/tides.toml` (boundary control points and validation stations)."""
    return read_toml(path or forcing_path(TIDES_FILE), error=TideError)[0]


def idw_weights(
    lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray, *, power: float = 2.0
) -> np.ndarray:
    """(..., n_points) inverse-distance weights of control points (lon, lat) at points (x, y).

    Distances in degrees with the longitude difference scaled by cos(latitude); each row sums to 1.
    """
    x = np.asarray(x, dtype=float)[..., None]
    y = np.asarray(y, dtype=float)[..., None]
    dist2 = ((x - np.asarray(lon)) * np.cos(np.deg2rad(y))) ** 2 + (y - np.asarray(lat)) ** 2
    weight = 1.0 / np.maximum(dist2, 1e-12) ** (power / 2.0)
    return weight / weight.sum(axis=-1, keepdims=True)


def boundary_from_points(
    points: Sequence[Mapping[str, Any]], constituent: str, *, power: float = 2.0
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A boundary function from control points: inverse-distance weighting of A e^{−iG}.

    Each point is a mapping with ``lon``, ``lat`` [degrees] and ``{constituent: {"amplitude_m",
    "phase_deg"}}``. The complex amplitudes are interpolated (their real and imaginary parts, as
    tidal atlases are), so the boundary is linear in the point values: the response of the
    gulf to each point can be solved once and the points fitted by linear least squares
    (`bbw_bay.gulf.tide_stations.calibrate_boundary`). Returns f(lon, lat) -> complex [m].
    """
    use = [p for p in points if constituent in p]
    if not use:
        raise TideError(f"no boundary control point gives constituent {constituent!r}")
    lon = np.array([p["lon"] for p in use], dtype=float)
    lat = np.array([p["lat"] for p in use], dtype=float)
    value = np.array(
        [
            p[constituent]["amplitude_m"] * np.exp(-1j * np.deg2rad(p[constituent]["phase_deg"]))
            for p in use
        ]
    )

    def evaluate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return idw_weights(lon, lat, x, y, power=power) @ value

    return evaluate


def default_boundary(constituent: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The shipped open-boundary elevations for a constituent (from `forcing/tides.toml`)."""
    return boundary_from_points(read_tides_file()["boundary"], constituent)


# ---------------------------------------------------------------------------- assembly
@dataclass(frozen=True, eq=False)
class _Layout:
    """Unknown numbering and geometry shared by every solve on one grid."""

    cell: np.ndarray  # (ny, nx) int index of η, −1 on land
    uidx: np.ndarray  # (ny, nx+1) int index of u, −1 where no flux
    vidx: np.ndarray  # (ny+1, nx) int index of v, −1 where no flux
    n: int
    # continuity/pressure coupling: face f between cells a (west/south) and b (east/north)
    face_a: np.ndarray  # η index on the negative side, −1 for a ghost (open boundary)
    face_b: np.ndarray  # η index on the positive side, −1 for a ghost
    face_trans: np.ndarray  # H L [m²]
    face_weight: np.ndarray  # w = H L d [m³] (momentum scaling = face volume)
    face_depth: np.ndarray  # H [m]
    face_ghost_x: np.ndarray  # ghost-centre coordinates for open faces (NaN otherwise)
    face_ghost_y: np.ndarray
    face_r_cells: tuple[np.ndarray, np.ndarray]  # the two adjacent cells' flat indices (≥0)
    area: np.ndarray  # (n_cells,) [m²]
    cor_rows: np.ndarray  # Coriolis pairs (u unknown, v unknown) and their weight f √(w_u w_v)/4
    cor_cols: np.ndarray
    cor_vals: np.ndarray


def _layout(grid: Grid, coriolis: float | None) -> _Layout:
    ny, nx = grid.shape
    cell = np.full((ny, nx), -1, dtype=np.int64)
    n_cells = grid.n_wet
    cell[grid.wet] = np.arange(n_cells)
    flux_u, flux_v = grid.flux_u, grid.flux_v
    uidx = np.full((ny, nx + 1), -1, dtype=np.int64)
    vidx = np.full((ny + 1, nx), -1, dtype=np.int64)
    n_u, n_v = int(flux_u.sum()), int(flux_v.sum())
    uidx[flux_u] = n_cells + np.arange(n_u)
    vidx[flux_v] = n_cells + n_u + np.arange(n_v)

    pad_x = np.pad(cell, ((0, 0), (1, 1)), constant_values=-1)  # (ny, nx+2)
    pad_y = np.pad(cell, ((1, 1), (0, 0)), constant_values=-1)  # (ny+2, nx)
    ju, iu = np.nonzero(flux_u)
    jv, iv = np.nonzero(flux_v)
    a = np.concatenate([pad_x[ju, iu], pad_y[jv, iv]])
    b = np.concatenate([pad_x[ju, iu + 1], pad_y[jv + 1, iv]])
    depth = np.concatenate([grid.depth_u[ju, iu], grid.depth_v[jv, iv]])
    length = np.concatenate([grid.length_u[ju, iu], grid.length_v[jv, iv]])
    spacing = np.concatenate([grid.spacing_u[ju, iu], grid.spacing_v[jv, iv]])

    # ghost centres (mirror of the first interior centre in the edge) for open faces
    xg = np.full(a.size, np.nan)
    yg = np.full(a.size, np.nan)
    xc, yc, xe, ye = grid.x_centre, grid.y_centre, grid.x_edge, grid.y_edge
    nu = ju.size
    ghost_x_u = np.where(iu == 0, 2 * xe[0] - xc[0], 2 * xe[-1] - xc[-1])
    open_u = (a[:nu] < 0) | (b[:nu] < 0)
    xg[:nu][open_u] = ghost_x_u[open_u]
    yg[:nu][open_u] = yc[ju[open_u]]
    ghost_y_v = np.where(jv == 0, 2 * ye[0] - yc[0], 2 * ye[-1] - yc[-1])
    open_v = (a[nu:] < 0) | (b[nu:] < 0)
    xg[nu:][open_v] = xc[iv[open_v]]
    yg[nu:][open_v] = ghost_y_v[open_v]

    # adjacent cells (flat indices) for interpolating centre friction to faces
    ra_u = ju * nx + np.clip(iu - 1, 0, nx - 1)
    rb_u = ju * nx + np.clip(iu, 0, nx - 1)
    ra_v = np.clip(jv - 1, 0, ny - 1) * nx + iv
    rb_v = np.clip(jv, 0, ny - 1) * nx + iv

    weight = depth * length * spacing
    rows, cols, vals = _coriolis_pairs(grid, uidx, vidx, weight, n_cells, n_u, coriolis)
    return _Layout(
        cell=cell,
        uidx=uidx,
        vidx=vidx,
        n=n_cells + n_u + n_v,
        face_a=a,
        face_b=b,
        face_trans=depth * length,
        face_weight=weight,
        face_depth=depth,
        face_ghost_x=xg,
        face_ghost_y=yg,
        face_r_cells=(np.concatenate([ra_u, ra_v]), np.concatenate([rb_u, rb_v])),
        area=grid.area[grid.wet],
        cor_rows=rows,
        cor_cols=cols,
        cor_vals=vals,
    )


def _coriolis_pairs(grid, uidx, vidx, weight, n_cells, n_u, coriolis):
    """(u, v, S) triplets: S = f √(w_u w_v) / 4 for each v-face among a u-face's 4 neighbours."""
    ny, nx = grid.shape
    empty = np.zeros(0, dtype=np.int64)
    if coriolis is None:
        if not grid.geographic:
            return empty, empty, np.zeros(0)
        lat_u = np.repeat(grid.y_centre[:, None], nx + 1, axis=1)
        lat_v = np.repeat(grid.y_edge[:, None], nx, axis=1)
        f_u = 2 * EARTH_ROTATION * np.sin(np.deg2rad(lat_u))
        f_v = 2 * EARTH_ROTATION * np.sin(np.deg2rad(lat_v))
    else:
        f_u = np.full((ny, nx + 1), float(coriolis))
        f_v = np.full((ny + 1, nx), float(coriolis))
    if not np.any(f_u) and not np.any(f_v):
        return empty, empty, np.zeros(0)
    w_u = np.zeros((ny, nx + 1))
    w_v = np.zeros((ny + 1, nx))
    w_u[uidx >= 0] = weight[:n_u]
    w_v[vidx >= 0] = weight[n_u:]
    rows, cols, vals = [], [], []
    ju, iu = np.nonzero(uidx >= 0)
    # the 4 v-faces around x-face (j, i): south/north faces of cells (j, i−1) and (j, i)
    for dj in (0, 1):
        for di in (-1, 0):
            jj, ii = ju + dj, iu + di
            ok = (ii >= 0) & (ii < nx)
            jj, ii, j0, i0 = jj[ok], ii[ok], ju[ok], iu[ok]
            ok = vidx[jj, ii] >= 0
            jj, ii, j0, i0 = jj[ok], ii[ok], j0[ok], i0[ok]
            f = 0.5 * (f_u[j0, i0] + f_v[jj, ii])
            rows.append(uidx[j0, i0])
            cols.append(vidx[jj, ii])
            vals.append(0.25 * f * np.sqrt(w_u[j0, i0] * w_v[jj, ii]))
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


@functools.lru_cache(maxsize=16)
def _cached_layout(grid: Grid, coriolis: float | None) -> _Layout:
    return _layout(grid, coriolis)


def _face_friction(lay: _Layout, friction: float | np.ndarray, grid: Grid) -> np.ndarray:
    """Linear friction velocity r [m/s] on every flux face, from a scalar or a centre field."""
    if np.isscalar(friction):
        value = float(friction)  # type: ignore[arg-type]  # a real scalar (np.isscalar)
        if value < 0:
            raise TideError(f"friction must be >= 0 m/s; got {value:g}")
        return np.full(lay.face_depth.size, value)
    r = np.asarray(friction, dtype=float)
    if r.shape != grid.shape:
        raise TideError(f"friction field has shape {r.shape}, expected (ny, nx) = {grid.shape}")
    flat = np.where(grid.wet, r, np.nan).ravel()
    ra, rb = flat[lay.face_r_cells[0]], flat[lay.face_r_cells[1]]
    out = np.where(np.isnan(ra), rb, np.where(np.isnan(rb), ra, 0.5 * (ra + rb)))
    if np.any(~np.isfinite(out)) or np.any(out < 0):
        raise TideError("friction field must be finite and >= 0 m/s on wet cells")
    return out


def _solve(
    grid: Grid,
    lay: _Layout,
    omega: float,
    r_face: np.ndarray,
    boundary: Callable[[np.ndarray, np.ndarray], np.ndarray] | complex,
    rtol: float = 1e-9,
) -> np.ndarray:
    """Assemble and solve the coupled (η, u, v) system; returns the solution vector.

    Rows are scaled so M = iω·D + R + K (D > 0, R >= 0 diagonal, K real antisymmetric):
    continuity × g, momentum × the face volume w = H L d. Without Coriolis the velocities are
    eliminated (η-only 5-point Schur complement, one sparse LU); with it, GMRES on the full
    system is preconditioned by that solve, with a direct LU as the fallback.
    """
    n_cells = lay.area.size
    n_face = lay.face_a.size
    g = GRAVITY
    a, b = lay.face_a, lay.face_b
    has_a, has_b = a >= 0, b >= 0
    fa, fb = np.nonzero(has_a)[0], np.nonzero(has_b)[0]
    trans = lay.face_trans
    # divergence (× g) η-rows × face-cols, and pressure gradient face-rows × η-cols
    div = sp.csr_matrix(
        (
            np.concatenate([g * trans[fa], -g * trans[fb]]),
            (np.concatenate([a[fa], b[fb]]), np.concatenate([fa, fb])),
        ),
        shape=(n_cells, n_face),
        dtype=complex,
    )
    grad = sp.csr_matrix(
        (
            np.concatenate([-g * trans[fa], g * trans[fb]]),
            (np.concatenate([fa, fb]), np.concatenate([a[fa], b[fb]])),
        ),
        shape=(n_face, n_cells),
        dtype=complex,
    )
    diag_cell = g * 1j * omega * lay.area
    diag_face = lay.face_weight * (1j * omega + r_face / lay.face_depth)

    rhs_face = np.zeros(n_face, dtype=complex)
    ghost = ~(has_a & has_b)
    if np.any(ghost):
        if callable(boundary):
            eta_b = np.asarray(
                boundary(lay.face_ghost_x[ghost], lay.face_ghost_y[ghost]), dtype=complex
            )
        else:
            eta_b = np.full(int(ghost.sum()), complex(boundary))
        sign = np.where(has_b[ghost], 1.0, -1.0)  # ghost on the a side: −g H L η_a → RHS
        rhs_face[ghost] = sign * g * trans[ghost] * eta_b

    schur = (sp.diags(diag_cell) - div @ sp.diags(1.0 / diag_face) @ grad).tocsc()
    lu = spla.splu(schur, permc_spec="COLAMD")

    def solve_free(r_cell: np.ndarray, r_face_: np.ndarray) -> np.ndarray:
        eta = lu.solve(r_cell - div @ (r_face_ / diag_face))
        return np.concatenate([eta, (r_face_ - grad @ eta) / diag_face])

    x0 = solve_free(np.zeros(n_cells, dtype=complex), rhs_face)
    if not lay.cor_vals.size:
        return x0
    rows = lay.cor_rows - n_cells
    cols = lay.cor_cols - n_cells
    cor = sp.csr_matrix(
        (
            np.concatenate([-lay.cor_vals, lay.cor_vals]),
            (np.concatenate([rows, cols]), np.concatenate([cols, rows])),
        ),
        shape=(n_face, n_face),
        dtype=complex,
    )
    full = sp.bmat([[sp.diags(diag_cell), div], [grad, sp.diags(diag_face) + cor]], format="csr")
    rhs = np.concatenate([np.zeros(n_cells, dtype=complex), rhs_face])
    precond = spla.LinearOperator(
        full.shape, dtype=complex, matvec=lambda r: solve_free(r[:n_cells], r[n_cells:])
    )
    x, info = spla.gmres(full, rhs, x0=x0, M=precond, rtol=rtol, restart=GMRES_MAXITER, maxiter=1)
    if info != 0:
        log.warning("GMRES did not converge (info=%d); falling back to a direct LU", info)
        x = spla.splu(full.tocsc(), permc_spec="COLAMD").solve(rhs)
    return x


def _unpack(
    grid: Grid,
    lay: _Layout,
    x: np.ndarray,
    name: str,
    omega: float,
    r_face: np.ndarray,
    friction_centre: np.ndarray,
) -> TidalSolution:
    eta = np.full(grid.shape, np.nan, dtype=complex)
    eta[grid.wet] = x[: lay.area.size]
    u = np.zeros((grid.ny, grid.nx + 1), dtype=complex)
    v = np.zeros((grid.ny + 1, grid.nx), dtype=complex)
    u[lay.uidx >= 0] = x[lay.uidx[lay.uidx >= 0]]
    v[lay.vidx >= 0] = x[lay.vidx[lay.vidx >= 0]]
    for arr in (eta, u, v, friction_centre):
        arr.setflags(write=False)
    return TidalSolution(grid, name, omega, eta, u, v, friction_centre)


def _omega(constituent: str) -> float:
    try:
        return float(CONSTITUENT_SPEEDS[constituent])
    except KeyError:
        raise TideError(unknown_name("constituent", constituent, CONSTITUENT_SPEEDS)) from None


def _lorentz_friction(grid: Grid, speed: np.ndarray, drag: float) -> np.ndarray:
    """r = (8 / 3π) C_d max(U, U_min) at centres [m/s], 0 on land."""
    r = 8.0 / (3.0 * np.pi) * drag * np.maximum(speed, MINIMUM_FRICTION_SPEED)
    return np.where(grid.wet, r, 0.0)


# ---------------------------------------------------------------------------- public API
def solve_tide(
    grid: Grid,
    constituent: str,
    *,
    boundary: BoundarySpec = None,
    friction: float | np.ndarray | None = None,
    coriolis: float | None = None,
) -> TidalSolution:
    """Solve the linear tide of one constituent on ``grid``.

    Parameters
    ----------
    grid : the C-grid; its open boundaries take the prescribed elevations
    constituent : "K1", "O1", "M2", ... (see `CONSTITUENT_SPEEDS`)
    boundary : open-boundary elevation: None for the shipped `forcing/tides.toml` values, a
        complex constant [m] (A e^{−iG}), or f(x, y) -> complex [m] evaluated at the ghost
        centres just outside each open face (x, y in the grid's units)
    friction : linear friction velocity r [m/s], a constant or an (ny, nx) field; None for the
        iterated Lorentz friction of the default constituent set (see `tidal_friction`)
    coriolis : f-plane Coriolis parameter [1/s]; None for 2Ω sin(latitude) on geographic grids
        and no rotation on cartesian grids

    Returns
    -------
    TidalSolution ; results for the default boundary and friction are cached per grid.
    """
    omega = _omega(constituent)
    if boundary is None and friction is None and coriolis is None:
        solutions = _default_set(grid)
        if constituent in solutions:
            return solutions[constituent]
        friction = solutions[DEFAULT_CONSTITUENTS[0]].friction
    if boundary is None:
        boundary = default_boundary(constituent)
    if friction is None:
        friction = tidal_friction(grid)
    lay = _cached_layout(grid, coriolis)
    r_face = _face_friction(lay, friction, grid)
    x = _solve(grid, lay, omega, r_face, boundary, GMRES_RTOL)
    r_centre = np.where(grid.wet, np.asarray(friction, dtype=float), 0.0)
    return _unpack(grid, lay, x, constituent, omega, r_face, r_centre)


def tidal_friction(grid: Grid) -> np.ndarray:
    """(ny, nx) iterated Lorentz friction velocity r [m/s] of the default constituent set."""
    return _default_set(grid)[DEFAULT_CONSTITUENTS[0]].friction


@functools.lru_cache(maxsize=8)
def _default_set(grid: Grid) -> dict[str, TidalSolution]:
    """K1, O1, M2 with the shipped boundaries (`solve_constituents`), cached per grid."""
    return solve_constituents(grid, {c: default_boundary(c) for c in DEFAULT_CONSTITUENTS})


def solve_constituents(
    grid: Grid, boundaries: Mapping[str, BoundarySpec]
) -> dict[str, TidalSolution]:
    """{constituent: TidalSolution} sharing one Lorentz friction iterated on their combined speed.

    ``boundaries``: {constituent: a complex constant [m] or f(x, y) -> complex [m]}, as
    `solve_tide`'s ``boundary`` but not None. r = (8 / 3π) C_d U_eff, U_eff = (Σ_n U_n²)^½ the
    RSS of the semi-major axes: one harmonic with the same current variance.
    """
    start = time.perf_counter()
    lay = _cached_layout(grid, None)
    speed = np.full(grid.shape, FIRST_GUESS_SPEED)
    r_centre = _lorentz_friction(grid, speed, DRAG_COEFFICIENT)
    solutions: dict[str, TidalSolution] = {}
    for sweep in range(FRICTION_ITERATIONS + 1):
        r_face = _face_friction(lay, r_centre, grid)
        for c, boundary in boundaries.items():
            rtol = GMRES_RTOL if sweep == FRICTION_ITERATIONS else GMRES_RTOL_SWEEP
            x = _solve(grid, lay, _omega(c), r_face, boundary, rtol)  # type: ignore[arg-type]
            solutions[c] = _unpack(grid, lay, x, c, _omega(c), r_face, r_centre.copy())
        if sweep < FRICTION_ITERATIONS:
            # under-relaxed (geometric mean of old and new speed): the resonant gulf response
            # makes the plain Picard update overshoot and oscillate
            new_speed = np.sqrt(sum(s.current_major**2 for s in solutions.values()))
            speed = np.sqrt(speed * np.maximum(new_speed, MINIMUM_FRICTION_SPEED))
            r_centre = _lorentz_friction(grid, speed, DRAG_COEFFICIENT)
    seconds = time.perf_counter() - start
    log.info("tides %s on %s in %.2f s", "/".join(boundaries), grid.describe(), seconds)
    return solutions


def tidal_current_amplitude(
    grid: Grid, constituents: Sequence[str] = DEFAULT_CONSTITUENTS
) -> np.ndarray:
    """(ny, nx) tidal current amplitude at centres [m/s], 0 on land.

    The root-sum-square of the constituents' current-ellipse semi-major axes,
    U = (Σ_n U_n²)^½ — the amplitude of one harmonic carrying the same current variance.
    """
    return _current_amplitude(grid, tuple(constituents))


@functools.lru_cache(maxsize=16)
def _current_amplitude(grid: Grid, constituents: tuple[str, ...]) -> np.ndarray:
    speed = np.sqrt(sum(solve_tide(grid, c).current_major ** 2 for c in constituents))
    speed = np.where(grid.wet, speed, 0.0)
    speed.setflags(write=False)
    return speed


def tidal_dispersion(
    grid: Grid,
    *,
    coefficient: float = DISPERSION_COEFFICIENT,
    minimum_m2_per_s: float = DISPERSION_MINIMUM,
    maximum_m2_per_s: float = DISPERSION_MAXIMUM,
    constituents: Sequence[str] = DEFAULT_CONSTITUENTS,
) -> np.ndarray:
    """(ny, nx) tidal dispersion coefficient K [m²/s] for residual-transport runs; 0 on land.

    K = α U L with the tidal excursion length L = U / ω_K1 (Zimmerman 1986 tidal random walk;
    Geyer & Signell 1992), i.e. K = α U² / ω_K1, with U = `tidal_current_amplitude`. It is
    clipped to [minimum, maximum] on wet cells; the minimum stands for non-tidal background
    mixing. α (``coefficient``) is a calibration constant; see docs/tides.md.
    """
    if coefficient < 0 or minimum_m2_per_s < 0 or maximum_m2_per_s < minimum_m2_per_s:
        raise TideError(
            "need coefficient >= 0 and 0 <= minimum_m2_per_s <= maximum_m2_per_s; got "
            f"{coefficient}, {minimum_m2_per_s}, {maximum_m2_per_s}"
        )
    speed = tidal_current_amplitude(grid, tuple(constituents))
    k = coefficient * speed**2 / CONSTITUENT_SPEEDS["K1"]
    k = np.clip(k, minimum_m2_per_s, maximum_m2_per_s)
    return np.where(grid.wet, k, 0.0)
