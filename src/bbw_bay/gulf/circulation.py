"""Steady depth-integrated residual circulation: wind, bottom friction, Coriolis, strait, rivers.

The steady linear barotropic momentum balance for the volume transport per unit width U [m²/s]

    f k × U / H + g ∇η = τ / (ρ H) − r U / H²

is solved on the C-grid through its circulation (curl) around every cell corner, which removes
the surface elevation η exactly. Face transports are split into a streamfunction part and a
potential part, ``T = D ψ + T_φ``:

* ψ [m³/s] lives at cell corners, ``U[j, i] = −(ψ[j+1, i] − ψ[j, i])`` and ``V[j, i] =
  ψ[j, i+1] − ψ[j, i]`` (the convention of `Flow.from_streamfunction`), so this part is
  divergence-free to round-off. Corners joined by faces that carry no flux (coasts, closed edges)
  form one *land body* with a single ψ value, so no transport crosses a coast.
* T_φ carries river discharge: ``div T_φ = Q`` solved exactly by a Poisson problem on the wet
  cells with φ = 0 outside the open boundary (`potential_transports`).

The discrete vorticity equation is ``Dᵀ S (K T − w) = 0``: for each corner, the anticlockwise sum
over the four faces around it of (momentum residual × centre-to-centre spacing). K holds the
linear bottom friction r/(L H²) and the Coriolis term (f/H times the four-face average of the
cross velocity); w is the wind term τ/(ρH). On a flat f-plane the Coriolis term is an exact
discrete gradient and drops out, as in the continuous equation ∇·((r/H²)∇ψ) + J(ψ, f/H) =
curl(τ/(ρH)). Unknowns are the ψ of the interior water corners and one constant per land body
that is not fixed; the equation for such a constant is the sum of its corners' equations, i.e.
the discrete circulation of the momentum balance around the island (the island rule for a
frictional steady flow: ∮ r u·dl / H = ∮ τ·dl / (ρH)). Open-boundary corners take a prescribed
profile: the land-body values at both ends of each open stretch joined with a uniform normal
velocity, plus optional *ports* through which a given transport enters or leaves.

`residual_flow` and `seasonal_flow` apply this to the Beibu Gulf with the seasonal forcing in
``forcing/circulation.toml`` (see ``forcing/CIRCULATION.md``, ``docs/circulation.md``).
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.ndimage import distance_transform_edt, gaussian_filter
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

from bbw_bay.core.flow import Flow, face_velocities
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import potential_transports
from bbw_bay.errors import BadInputError
from bbw_bay.gulf.data import forcing_path
from bbw_bay.units import DAY, EARTH_ROTATION, RHO_AIR, RHO_WATER, SVERDRUP

logger = logging.getLogger(__name__)

#: Seasons solved by `seasonal_flow` by default, in calendar order.
SEASONS = ("winter", "spring", "summer", "autumn")
#: Sign of the mouth-profile bump that makes a positive exchange cyclonic (inflow on the Hainan
#: side, outflow on the Vietnam side) with ψ increasing westward across northward flow.
CYCLONIC_SIGN = -1.0
#: Length of the seasonal cycle [s].
YEAR_PERIOD = 365.0 * DAY


class CirculationError(BadInputError):
    """The circulation problem is ill-posed on this grid or its parameters are invalid."""


# ----------------------------------------------------------------------------- boundary ports
@dataclass(frozen=True)
class BoundaryPort:
    """A stretch of open boundary through which a prescribed net transport enters the domain.

    Attributes
    ----------
    edge : "south", "east", "north" or "west"
    coord_range : (min, max) of the along-edge coordinate of the face centres [degrees or m]
    inflow : net transport into the domain [m³/s], spread with a uniform normal velocity
    """

    edge: str
    coord_range: tuple[float, float]
    inflow: float


@dataclass(frozen=True, eq=False)
class CirculationSolution:
    """Result of a steady circulation solve.

    Attributes
    ----------
    flow : steady `Flow` with the total face transports [m³/s]
    psi : (ny+1, nx+1) transport streamfunction at corners [m³/s]
    potential_u, potential_v : river (potential) part of the transports [m³/s]
    land_psi : ψ of every land body [m³/s], keyed by its label in `land_labels`
    land_labels : (ny+1, nx+1) int land-body label of each corner, −1 for water corners
    """

    flow: Flow
    psi: np.ndarray
    potential_u: np.ndarray
    potential_v: np.ndarray
    land_psi: dict[int, float]
    land_labels: np.ndarray
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- the solver
class BarotropicSolver:
    """Assembled steady vorticity operator for one grid, friction and Coriolis parameter.

    Parameters
    ----------
    grid : the C-grid
    friction_m_per_s : linear bottom-friction velocity r [m/s]; the bottom stress is ρ r u
    f0 : Coriolis parameter [1/s] at ``y_ref``; None: 2Ω sin(latitude) on a geographic grid
        (the full spherical f, so planetary β is included) and 0 on a cartesian grid
    beta : df/dy [1/(m s)] for cartesian grids (β-plane), f = f0 + β (y − y_ref)
    y_ref : reference y [m] of the β-plane; None: the middle of the grid
    rho : sea-water density [kg/m³]
    """

    def __init__(
        self,
        grid: Grid,
        *,
        friction_m_per_s: float,
        f0: float | None = None,
        beta: float = 0.0,
        y_ref: float | None = None,
        rho: float = RHO_WATER,
    ) -> None:
        if not friction_m_per_s > 0:
            raise CirculationError(f"friction_m_per_s must be > 0; got {friction_m_per_s}")
        self.grid = grid
        self.rho = rho
        self.friction = float(friction_m_per_s)
        ny, nx = grid.shape
        self.n_u, self.n_v = ny * (nx + 1), (ny + 1) * nx
        self.n_corner = (ny + 1) * (nx + 1)
        self.f_u, self.f_v = self._coriolis(f0, beta, y_ref)
        self.flux = np.concatenate([grid.flux_u.ravel(), grid.flux_v.ravel()])
        self.D = self._difference_matrix()
        self.labels, self.land_ids = self._land_bodies()
        self.perimeter, self.perimeter_faces = self._perimeter()
        K = self._momentum_operator()
        S = sp.diags(np.concatenate([grid.spacing_u.ravel(), grid.spacing_v.ravel()]) * self.flux)
        self.K = K
        self.DtS = (self.D.T @ S).tocsr()
        self.A = (self.DtS @ K @ self.D).tocsr()

    # -- geometry ------------------------------------------------------------------
    def _coriolis(self, f0, beta, y_ref) -> tuple[np.ndarray, np.ndarray]:
        g = self.grid
        y_u = np.repeat(g.y_centre[:, None], g.nx + 1, axis=1)
        y_v = np.repeat(g.y_edge[:, None], g.nx, axis=1)
        if f0 is None and g.geographic:
            return (
                2 * EARTH_ROTATION * np.sin(np.deg2rad(y_u)),
                2 * EARTH_ROTATION * np.sin(np.deg2rad(y_v)),
            )
        f0 = 0.0 if f0 is None else float(f0)
        if g.geographic and beta:
            raise CirculationError(
                "beta applies to cartesian grids; geographic grids use "
                "f = 2Ω sin(latitude) when f0 is None"
            )
        y0 = 0.5 * (g.y_edge[0] + g.y_edge[-1]) if y_ref is None else y_ref
        return f0 + beta * (y_u - y0), f0 + beta * (y_v - y0)

    def _corner(self, j, i):
        return np.asarray(j) * (self.grid.nx + 1) + np.asarray(i)

    def _difference_matrix(self) -> sp.csr_matrix:
        """(n_faces, n_corners): U = ψ[j,i] − ψ[j+1,i], V = ψ[j,i+1] − ψ[j,i]."""
        ny, nx = self.grid.shape
        ju, iu = np.divmod(np.arange(self.n_u), nx + 1)
        jv, iv = np.divmod(np.arange(self.n_v), nx)
        rows = np.concatenate([np.arange(self.n_u)] * 2 + [self.n_u + np.arange(self.n_v)] * 2)
        cols = np.concatenate(
            [
                self._corner(ju, iu),
                self._corner(ju + 1, iu),
                self._corner(jv, iv + 1),
                self._corner(jv, iv),
            ]
        )
        vals = np.concatenate(
            [np.ones(self.n_u), -np.ones(self.n_u), np.ones(self.n_v), -np.ones(self.n_v)]
        )
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_u + self.n_v, self.n_corner))

    def _land_bodies(self) -> tuple[np.ndarray, np.ndarray]:
        """Corner labels of the land bodies (corners joined by no-flux faces), −1 for water."""
        g = self.grid
        ju, iu = np.nonzero(~g.flux_u)
        jv, iv = np.nonzero(~g.flux_v)
        a = np.concatenate([self._corner(ju, iu), self._corner(jv, iv)])
        b = np.concatenate([self._corner(ju + 1, iu), self._corner(jv, iv + 1)])
        graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(self.n_corner, self.n_corner))
        _, comp = connected_components(graph, directed=False)
        size = np.bincount(comp)
        labels = np.where(size[comp] > 1, comp, -1)
        return labels.reshape(self.grid.ny + 1, self.grid.nx + 1), np.unique(labels[labels >= 0])

    def _perimeter(self) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
        """Corners around the domain anticlockwise and the face after each one."""
        ny, nx = self.grid.shape
        corners, faces = [], []
        for i in range(nx):  # south edge, eastward: v-face (0, i)
            corners.append((0, i))
            faces.append(("south", 0, i))
        for j in range(ny):  # east edge, northward: u-face (j, nx)
            corners.append((j, nx))
            faces.append(("east", j, nx))
        for i in range(nx, 0, -1):  # north edge, westward: v-face (ny, i-1)
            corners.append((ny, i))
            faces.append(("north", ny, i - 1))
        for j in range(ny, 0, -1):  # west edge, southward: u-face (j-1, 0)
            corners.append((j, 0))
            faces.append(("west", j - 1, 0))
        idx = np.array([self._corner(j, i) for j, i in corners])
        return idx, faces

    def _face_weight(self, face) -> tuple[float, float]:
        """(H·L [m²], along-edge coordinate of the face centre) of a perimeter face."""
        edge, j, i = face
        g = self.grid
        if edge in ("south", "north"):
            return g.depth_v[j, i] * g.length_v[j, i], g.x_centre[i]
        return g.depth_u[j, i] * g.length_u[j, i], g.y_centre[j]

    def _momentum_operator(self) -> sp.csr_matrix:
        """K: face momentum residual per unit mass × H⁻¹ ... applied to face transports."""
        g = self.grid
        ny, nx = g.shape
        h_u = np.where(g.flux_u, g.depth_u, 1.0)
        h_v = np.where(g.flux_v, g.depth_v, 1.0)
        fric = np.concatenate(
            [
                (self.friction / (g.length_u * h_u**2)).ravel(),
                (self.friction / (g.length_v * h_v**2)).ravel(),
            ]
        )
        rows, cols, vals = (
            [np.arange(self.n_u + self.n_v)],
            [np.arange(self.n_u + self.n_v)],
            [fric * self.flux],
        )
        # Coriolis on u-faces: −(f/H) × mean of V/L over the (up to) four neighbouring v-faces
        ju, iu = np.divmod(np.arange(self.n_u), nx + 1)
        nbr = [(ju, iu - 1), (ju, iu), (ju + 1, iu - 1), (ju + 1, iu)]
        count = sum(((ii >= 0) & (ii < nx)).astype(float) for _, ii in nbr)
        coef_u = -(self.f_u / h_u).ravel() * g.flux_u.ravel() / np.maximum(count, 1)
        for jj, ii in nbr:
            ok = (ii >= 0) & (ii < nx)
            k = jj[ok] * nx + ii[ok]
            rows.append(np.nonzero(ok)[0])
            cols.append(self.n_u + k)
            vals.append(coef_u[ok] / g.length_v.ravel()[k])
        # Coriolis on v-faces: +(f/H) × mean of U/L over the (up to) four neighbouring u-faces
        jv, iv = np.divmod(np.arange(self.n_v), nx)
        nbr = [(jv - 1, iv), (jv - 1, iv + 1), (jv, iv), (jv, iv + 1)]
        count = sum(((jj >= 0) & (jj < ny)).astype(float) for jj, _ in nbr)
        coef_v = (self.f_v / h_v).ravel() * g.flux_v.ravel() / np.maximum(count, 1)
        for jj, ii in nbr:
            ok = (jj >= 0) & (jj < ny)
            k = jj[ok] * (nx + 1) + ii[ok]
            rows.append(self.n_u + np.nonzero(ok)[0])
            cols.append(k)
            vals.append(coef_v[ok] / g.length_u.ravel()[k])
        n = self.n_u + self.n_v
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )

    # -- queries -------------------------------------------------------------------
    def land_body_at(self, x: float, y: float) -> int:
        """Label of the land body containing the land cell at (x, y) [degrees or m]."""
        j, i = self.grid.locate(x, y)
        if self.grid.wet[j, i]:
            raise CirculationError(
                f"point ({x}, {y}) lies in a wet cell; a land body needs a point on land"
            )
        return int(self.labels[j, i])

    # -- solving -------------------------------------------------------------------
    def wind_forcing(self, tau_x, tau_y) -> np.ndarray:
        """Face wind term τ/(ρH) [m/s²] from stress [N/m²] (scalars or (ny, nx) at centres)."""
        g = self.grid
        tx = np.broadcast_to(np.asarray(tau_x, dtype=float), g.shape)
        ty = np.broadcast_to(np.asarray(tau_y, dtype=float), g.shape)
        tx_u = np.zeros((g.ny, g.nx + 1))
        tx_u[:, 1:-1] = 0.5 * (tx[:, 1:] + tx[:, :-1])
        tx_u[:, 0], tx_u[:, -1] = tx[:, 0], tx[:, -1]
        ty_v = np.zeros((g.ny + 1, g.nx))
        ty_v[1:-1] = 0.5 * (ty[1:] + ty[:-1])
        ty_v[0], ty_v[-1] = ty[0], ty[-1]
        w_u = np.where(g.flux_u, tx_u / (self.rho * np.where(g.flux_u, g.depth_u, 1.0)), 0.0)
        w_v = np.where(g.flux_v, ty_v / (self.rho * np.where(g.flux_v, g.depth_v, 1.0)), 0.0)
        return np.concatenate([w_u.ravel(), w_v.ravel()])

    def solve(
        self,
        *,
        tau_x=0.0,
        tau_y=0.0,
        fixed: Mapping[int, float] | None = None,
        ports: Sequence[BoundaryPort] = (),
        river_discharge: np.ndarray | None = None,
        section_psi: Mapping[int, float] | None = None,
    ) -> CirculationSolution:
        """Steady flow for a wind stress [N/m²], fixed land-body ψ [m³/s], ports and rivers.

        Parameters
        ----------
        tau_x, tau_y : wind stress [N/m²], scalars or (ny, nx) at cell centres
        fixed : {land-body label: ψ [m³/s]}; other land bodies follow the island rule. None or
            empty: the largest land body is fixed at ψ = 0
        ports : prescribed transports through stretches of the open boundary
        river_discharge : (ny, nx) discharge into each cell [m³/s], or None
        section_psi : {flat corner index: ψ [m³/s]} prescribed at interior water corners (an
            exchange profile across a section, see `mouth_exchange_profile`); their vorticity
            equations are dropped, i.e. an external (far-field) forcing holds them
        """
        start = time.perf_counter()
        g = self.grid
        if self.land_ids.size == 0:
            raise CirculationError("the grid has no land body or closed edge to anchor ψ")
        if not fixed:
            sizes = np.bincount(self.labels[self.labels >= 0].ravel())
            fixed = {int(np.argmax(sizes)): 0.0}
        for lab in fixed:
            if lab not in self.land_ids:
                raise CirculationError(f"land body {lab} does not exist")
        q = np.zeros(g.shape) if river_discharge is None else np.asarray(river_discharge, float)
        pot_u, pot_v = potential_transports(g, q)
        t_phi = np.concatenate([pot_u.ravel(), pot_v.ravel()])

        labels = self.labels.ravel()
        water = labels < 0
        on_perimeter = np.zeros(self.n_corner, dtype=bool)
        on_perimeter[self.perimeter] = True
        clamped = np.zeros(self.n_corner, dtype=bool)
        for corner in section_psi or {}:
            if not water[corner] or on_perimeter[corner]:
                raise CirculationError(
                    f"section_psi corner {corner} is not an interior water corner"
                )
            clamped[corner] = True
        interior = np.nonzero(water & ~on_perimeter & ~clamped)[0]
        islands = [int(lab) for lab in self.land_ids if int(lab) not in fixed]
        n_unknown = interior.size + len(islands)
        col_of_island = {lab: interior.size + k for k, lab in enumerate(islands)}

        rows, cols, vals = [interior], [np.arange(interior.size)], [np.ones(interior.size)]
        psi0 = np.zeros(self.n_corner)
        land = np.nonzero(~water)[0]
        for lab, value in fixed.items():
            psi0[land[labels[land] == lab]] = value
        for corner, value in (section_psi or {}).items():
            psi0[corner] = value
        for lab in islands:
            members = land[labels[land] == lab]
            rows.append(members)
            cols.append(np.full(members.size, col_of_island[lab]))
            vals.append(np.ones(members.size))
        self._open_boundary(labels, fixed, col_of_island, ports, rows, cols, vals, psi0)
        P = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_corner, n_unknown),
        )
        rhs_full = self.DtS @ (self.wind_forcing(tau_x, tau_y) - self.K @ t_phi) - self.A @ psi0
        M = (P.T @ self.A @ P).tocsc()
        x = spsolve(M, P.T @ rhs_full) if n_unknown else np.zeros(0)
        psi = (P @ x + psi0).reshape(g.ny + 1, g.nx + 1)
        # exact land constants: corners of one body carry bit-identical values
        land_psi = {
            int(lab): float(fixed[lab]) if lab in fixed else float(x[col_of_island[lab]])
            for lab in self.land_ids
        }
        for lab, value in land_psi.items():
            psi.ravel()[land[labels[land] == lab]] = value
        t = self.D @ psi.ravel() + t_phi
        u = t[: self.n_u].reshape(g.ny, g.nx + 1)
        v = t[self.n_u :].reshape(g.ny + 1, g.nx)
        elapsed = time.perf_counter() - start
        logger.info(
            "circulation solve: %d unknowns (%d islands), %.2f s", n_unknown, len(islands), elapsed
        )
        return CirculationSolution(
            flow=Flow.from_transports(g, u, v),
            psi=psi,
            potential_u=pot_u,
            potential_v=pot_v,
            land_psi=land_psi,
            land_labels=self.labels,
            info={"unknowns": n_unknown, "islands": len(islands), "solve_s": elapsed},
        )

    def _open_boundary(self, labels, fixed, col_of_island, ports, rows, cols, vals, psi0):
        """Fill P and ψ0 at open-boundary corners: land values joined linearly + ports."""
        per = self.perimeter
        is_land = labels[per] >= 0
        if not is_land.any():
            if np.any(labels[per] < 0):
                raise CirculationError(
                    "the whole domain edge is open; a land body or closed "
                    "edge must touch it to anchor the boundary ψ"
                )
        start = int(np.argmax(is_land))
        order = np.roll(np.arange(per.size), -start)
        weights, coords = zip(*(self._face_weight(f) for f in self.perimeter_faces), strict=True)
        port_inflow = np.zeros(per.size)  # inflow through the face after each perimeter corner
        for port in ports:
            hit = [
                k
                for k, f in enumerate(self.perimeter_faces)
                if f[0] == port.edge
                and port.coord_range[0] <= coords[k] <= port.coord_range[1]
                and weights[k] > 0
            ]
            if not hit:
                raise CirculationError(
                    f"port on the {port.edge} edge within {port.coord_range} crosses no open face"
                )
            w = np.array([weights[k] for k in hit])
            port_inflow[hit] += port.inflow * w / w.sum()

        def add(corner, lab, weight):
            if lab in fixed:
                psi0[corner] += weight * fixed[lab]
            else:
                rows.append(np.array([corner]))
                cols.append(np.array([col_of_island[lab]]))
                vals.append(np.array([weight]))

        k = 0
        n = per.size
        while k < n:
            a = order[k]
            run = []
            k += 1
            while k < n and not is_land[order[k]]:
                run.append(order[k])
                k += 1
            if not run:
                continue
            b = order[k % n]
            faces = [a, *run]  # face after each of these corners lies in the stretch
            w = np.array([weights[p] for p in faces])
            inflow = np.array([port_inflow[p] for p in faces])
            lab_a, lab_b = int(labels[per[a]]), int(labels[per[b]])
            if abs(inflow.sum()) > 1e-9 * max(1.0, np.abs(inflow).sum()):
                raise CirculationError(
                    f"ports on one open stretch must balance; net inflow {inflow.sum():.4g} m³/s"
                )
            frac = np.cumsum(w)[:-1] / w.sum()
            offset = np.cumsum(inflow)[:-1] - frac * inflow.sum()
            for p, fr, off in zip(run, frac, offset, strict=True):
                corner = int(per[p])
                add(corner, lab_a, 1.0 - fr)
                add(corner, lab_b, fr)
                psi0[corner] += off


# ----------------------------------------------------------------------------- rivers
# ----------------------------------------------------------------------------- diagnostics
def box_circulation(
    flow: Flow, *, x_range: tuple[float, float], y_range: tuple[float, float], time: float = 0.0
) -> tuple[float, float]:
    """Anticlockwise circulation ∮ u·dl [m²/s] and enclosed area [m²] of a box of cells.

    The loop joins the centres of the outermost cells of the box (faces between them carry the
    velocity; land faces count 0), so it equals the sum of the discrete relative vorticity ×
    area over the corners inside; positive = cyclonic in the northern hemisphere.
    """
    g = flow.grid
    u, v = face_velocities(flow, time)
    ii = np.nonzero((g.x_centre >= x_range[0]) & (g.x_centre <= x_range[1]))[0]
    jj = np.nonzero((g.y_centre >= y_range[0]) & (g.y_centre <= y_range[1]))[0]
    if ii.size < 2 or jj.size < 2:
        raise CirculationError("the box must span at least two cells in each direction")
    i0, i1, j0, j1 = ii[0], ii[-1], jj[0], jj[-1]
    gamma = (
        (u[j0, i0 + 1 : i1 + 1] * g.spacing_u[j0, i0 + 1 : i1 + 1]).sum()
        + (v[j0 + 1 : j1 + 1, i1] * g.spacing_v[j0 + 1 : j1 + 1, i1]).sum()
        - (u[j1, i0 + 1 : i1 + 1] * g.spacing_u[j1, i0 + 1 : i1 + 1]).sum()
        - (v[j0 + 1 : j1 + 1, i0] * g.spacing_v[j0 + 1 : j1 + 1, i0]).sum()
    )
    area = g.area[j0 + 1 : j1 + 1, i0 + 1 : i1 + 1].sum()  # centre-to-centre loop ≈ inner cells
    return float(gamma), float(area)


def strait_section(
    grid: Grid, *, lon: float = 110.2, lat_range: tuple[float, float] = (19.9, 20.5)
) -> tuple[int, int, int]:
    """(i, j_first, j_last): the x-face column nearest ``lon`` and its run of flux faces.

    The run must be one contiguous stretch of water between two coasts in ``lat_range``.
    """
    i = int(np.argmin(np.abs(grid.x_edge - lon)))
    rows = np.nonzero(
        grid.flux_u[:, i] & (grid.y_centre >= lat_range[0]) & (grid.y_centre <= lat_range[1])
    )[0]
    if rows.size == 0:
        raise CirculationError(
            f"no water at {lon}E between {lat_range[0]}N and {lat_range[1]}N:"
            " the Qiongzhou Strait is closed on this grid"
        )
    if np.any(np.diff(rows) != 1):
        raise CirculationError(
            f"the section at {lon}E, {lat_range}N crosses more than one "
            "stretch of water; narrow lat_range"
        )
    return i, int(rows[0]), int(rows[-1])


def strait_transport(
    flow: Flow,
    grid: Grid | None = None,
    *,
    time: float = 0.0,
    lon: float = 110.2,
    lat_range: tuple[float, float] = (19.9, 20.5),
) -> float:
    """Net WESTWARD transport [m³/s] through the Qiongzhou Strait section at ``lon``.

    Positive = westward, from the South China Sea shelf into the Beibu Gulf; negative = eastward.
    The section is the meridional x-face column nearest ``lon`` between Hainan and the Leizhou
    Peninsula (water centres within ``lat_range``).
    """
    grid = flow.grid if grid is None else grid
    i, j0, j1 = strait_section(grid, lon=lon, lat_range=lat_range)
    tu, _ = flow.at(time)
    return float(-tu[j0 : j1 + 1, i].sum())


def corner_path(grid: Grid, vertices: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """(j, i) of a 4-connected staircase of cell corners along a polyline [lon/lat or m].

    Each vertex goes to its nearest corner; between vertices the path steps one corner at a time
    (in x or y, whichever keeps it nearest the straight line), so consecutive corners share a face.
    """
    pts = [
        (int(np.argmin(np.abs(grid.y_edge - y))), int(np.argmin(np.abs(grid.x_edge - x))))
        for x, y in vertices
    ]
    path = [pts[0]]
    for (ja, ia), (jb, ib) in zip(pts[:-1], pts[1:], strict=True):
        j, i = ja, ia
        while (j, i) != (jb, ib):
            # candidate steps towards the target; keep the one nearest the segment
            steps = [(j, i + np.sign(ib - i)), (j + np.sign(jb - j), i)]
            steps = [st for st in steps if st != (j, i)]
            dj, di = jb - ja, ib - ia
            norm = max(np.hypot(dj, di), 1e-12)
            j, i = min(steps, key=lambda st: abs((st[0] - ja) * di - (st[1] - ia) * dj) / norm)
            j, i = int(j), int(i)
            path.append((j, i))
    jj, ii = np.array(path).T
    return jj, ii


def mouth_exchange_profile(
    solver: BarotropicSolver,
    line: Sequence[Sequence[float]],
    *,
    psi_west: float,
    psi_east: float,
    exchange: float,
    west_fraction: float = 0.5,
    east_fraction: float = 0.5,
) -> dict[int, float]:
    """ψ [m³/s] prescribed at the water corners of a section between two land bodies.

    Along the section w runs from 0 at its first land corner to 1 at its last, in proportion to
    the cross-section (depth × length) of the faces crossed, so transports spread with a uniform
    normal velocity: ``ψ = ψ_west (1 − w) + ψ_east w + exchange · b(w)`` with
    ``b = min(1, w / west_fraction, (1 − w) / east_fraction)``. The land values set the net
    transport; ``exchange`` [m³/s] adds a flow over the first ``west_fraction`` of the
    cross-section balanced by the opposite flow over the last ``east_fraction`` (no exchange in
    between). The defaults 0.5/0.5 give the tent ``1 − |2w − 1|``: each half carries it.
    Returns {flat corner index: ψ}.
    """
    if not (0 < west_fraction and 0 < east_fraction and west_fraction + east_fraction <= 1):
        raise CirculationError(
            "exchange fractions must be > 0 and sum to at most 1; got "
            f"west {west_fraction}, east {east_fraction}"
        )
    grid = solver.grid
    jj, ii = corner_path(grid, line)
    labels = solver.labels[jj, ii]
    water = np.nonzero(labels < 0)[0]
    if water.size == 0 or labels[0] < 0 or labels[-1] < 0:
        raise CirculationError("the exchange section must start and end on land and cross water")
    first, last = water[0] - 1, water[-1] + 1
    jj, ii, labels = jj[first : last + 1], ii[first : last + 1], labels[first : last + 1]
    # the face between consecutive corners: a v-face for an x step, a u-face for a y step
    x_step = jj[1:] == jj[:-1]
    ju, iu = np.minimum(jj[:-1], jj[1:]), np.minimum(ii[:-1], ii[1:])
    weight = np.where(
        x_step,
        (grid.depth_v * grid.length_v * grid.flux_v)[jj[:-1], iu],
        (grid.depth_u * grid.length_u * grid.flux_u)[ju, ii[:-1]],
    )
    w = np.concatenate([[0.0], np.cumsum(weight)]) / weight.sum()
    bump = np.minimum(1.0, np.minimum(w / west_fraction, (1 - w) / east_fraction))
    psi = psi_west * (1 - w) + psi_east * w + exchange * bump
    corners = solver._corner(jj, ii)
    keep = labels < 0
    return {int(c): float(v) for c, v in zip(corners[keep], psi[keep], strict=True)}


# ----------------------------------------------------------------------------- parameters
def load_circulation_params(path: str | Path | None = None) -> dict:
    """The seasonal circulation forcing (``forcing/circulation.toml``) as a plain dict.

    Each season holds ``wind_stress_n_per_m2`` [τx, τy], ``friction_m_per_s`` and
    ``strait_transport_sv_westward``; ``[section]`` and ``[open_boundary]`` give the strait
    section and the ports through which the strait transport enters and leaves the domain.
    """
    path = forcing_path("circulation.toml") if path is None else Path(path)
    with open(path, "rb") as fh:
        params = tomllib.load(fh)
    seasons = params.get("season", {})
    if not seasons:
        raise CirculationError(f"{path}: no [season.*] tables")
    for name, table in seasons.items():
        for key in ("wind_stress_n_per_m2", "friction_m_per_s", "strait_transport_sv_westward"):
            if key not in table:
                raise CirculationError(f"{path}: [season.{name}] lacks {key!r}")
        if len(table["wind_stress_n_per_m2"]) != 2:
            raise CirculationError(f"{path}: [season.{name}] wind_stress_n_per_m2 needs [τx, τy]")
    return params


def bulk_wind_stress(
    wind_m_per_s: Sequence[float], *, drag_coefficient: float, rho_air: float = RHO_AIR
) -> tuple[float, float]:
    """Wind stress τ = ρ_air C_d |W| W [N/m²] from a 10-m wind vector [m/s]."""
    w = np.asarray(wind_m_per_s, dtype=float)
    tau = rho_air * drag_coefficient * np.hypot(*w) * w
    return float(tau[0]), float(tau[1])


_SOLVERS: dict = {}


def _solver(grid: Grid, friction: float) -> BarotropicSolver:
    key = (id(grid), friction)
    cached = _SOLVERS.get(key)
    if cached is None or cached.grid is not grid:
        if len(_SOLVERS) > 8:
            _SOLVERS.clear()
        cached = _SOLVERS[key] = BarotropicSolver(grid, friction_m_per_s=friction)
    return cached


def _term_table(params: Mapping, name: str, season: str, key: str) -> Mapping:
    """The ``[name]`` geometry table of an exchange term that ``[season.<season>] key`` uses."""
    table = params.get(name)
    if not isinstance(table, Mapping):
        raise CirculationError(
            f"[season.{season}] sets {key!r}, which needs a [{name}] table "
            "(see forcing/circulation.toml)"
        )
    return table


def solve_season(
    grid: Grid,
    *,
    season: str = "annual",
    params: Mapping | None = None,
    river_discharge: np.ndarray | None = None,
) -> CirculationSolution:
    """Full `CirculationSolution` of one season of ``forcing/circulation.toml`` on a gulf grid."""
    params = load_circulation_params() if params is None else params
    seasons = params["season"]
    if season not in seasons:
        raise CirculationError(f"unknown season {season!r}; valid: {sorted(seasons)}")
    table = seasons[season]
    section = params.get("section", {})
    lon = float(section.get("lon", 110.2))
    lat_range = tuple(section.get("lat_range", (19.9, 20.5)))
    solver = _solver(grid, float(table["friction_m_per_s"]))
    i, j0, j1 = strait_section(grid, lon=lon, lat_range=lat_range)
    hainan = int(solver.labels[j0, i])
    mainland = int(solver.labels[j1 + 1, i])
    if hainan < 0 or mainland < 0 or hainan == mainland:
        raise CirculationError(
            "the strait section does not join two distinct land bodies "
            "(Hainan to the south, the mainland to the north)"
        )
    q = np.zeros(grid.shape) if river_discharge is None else np.asarray(river_discharge, float)
    pot_u, _ = potential_transports(grid, q)
    target = float(table["strait_transport_sv_westward"]) * SVERDRUP
    through_psi = target - float(-pot_u[j0 : j1 + 1, i].sum())
    # westward transport = ψ(mainland) − ψ(Hainan); the mainland is the reference ψ = 0
    ports = []
    for spec in params.get("open_boundary", {}).get("port", []):
        sign = {"in": 1.0, "out": -1.0}[spec["strait_transport_direction"]]
        ports.append(BoundaryPort(spec["edge"], tuple(spec["range"]), sign * through_psi))
    section_psi = None
    if "mouth_exchange_sv_cyclonic" in table:
        # the section is held in every season that names an exchange (zero included), so the
        # operator is the same for all of them and the flow stays linear in the forcing
        exchange = float(table["mouth_exchange_sv_cyclonic"]) * SVERDRUP
        spec = _term_table(params, "mouth_exchange", season, "mouth_exchange_sv_cyclonic")
        section_psi = mouth_exchange_profile(
            solver,
            spec["line"],
            psi_west=0.0,
            psi_east=-through_psi,
            exchange=CYCLONIC_SIGN * exchange,
            west_fraction=float(spec.get("west_fraction", 0.5)),
            east_fraction=float(spec.get("east_fraction", 0.5)),
        )
        ports += [
            BoundaryPort(spec["inflow_edge"], tuple(spec["inflow_range"]), exchange),
            BoundaryPort(spec["outflow_edge"], tuple(spec["outflow_range"]), -exchange),
        ]
    throughflow = float(table.get("shelf_throughflow_sv", 0.0)) * SVERDRUP
    if throughflow:
        spec = _term_table(params, "shelf_throughflow", season, "shelf_throughflow_sv")
        ports += [
            BoundaryPort(spec["inflow_edge"], tuple(spec["inflow_range"]), throughflow),
            BoundaryPort(spec["outflow_edge"], tuple(spec["outflow_range"]), -throughflow),
        ]
    tau_x, tau_y = (np.full(grid.shape, float(t)) for t in table["wind_stress_n_per_m2"])
    coastal = float(table.get("coastal_current_stress_n_per_m2", 0.0))
    if coastal:
        spec = _term_table(params, "coastal_current", season, "coastal_current_stress_n_per_m2")
        band = coastal_band(
            grid,
            lon_range=spec["lon_range"],
            lat_range=spec["lat_range"],
            width_km=float(spec["width_km"]),
        )
        direction = np.asarray(spec["downcoast_direction"], dtype=float)
        direction /= np.hypot(*direction)
        tau_x += coastal * direction[0] * band
        tau_y += coastal * direction[1] * band
    rim = float(table.get("rim_current_stress_n_per_m2", 0.0))
    if rim:
        spec = _term_table(params, "rim_current", season, "rim_current_stress_n_per_m2")
        along_x, along_y = rim_direction(
            grid,
            lon_range=spec["lon_range"],
            lat_range=spec["lat_range"],
            width_km=float(spec["width_km"]),
        )
        tau_x += rim * along_x
        tau_y += rim * along_y
    return solver.solve(
        tau_x=tau_x,
        tau_y=tau_y,
        fixed={mainland: 0.0, hainan: -through_psi},
        ports=ports,
        river_discharge=q,
        section_psi=section_psi,
    )


def _cell_spacing_km(grid: Grid) -> tuple[float, float]:
    """Mean (dy, dx) cell spacing [km] (at the mid-latitude on a lon/lat grid)."""
    lat = np.deg2rad(0.5 * (grid.y_edge[0] + grid.y_edge[-1]))
    dy_km = np.mean(np.diff(grid.y_edge)) * (111.195 if grid.geographic else 1e-3)
    dx_km = np.mean(np.diff(grid.x_edge)) * (111.195 * np.cos(lat) if grid.geographic else 1e-3)
    return float(dy_km), float(dx_km)


def coastal_band(
    grid: Grid,
    *,
    lon_range: Sequence[float],
    lat_range: Sequence[float],
    width_km: float,
    distance_km: np.ndarray | None = None,
) -> np.ndarray:
    """(ny, nx) bool: wet cells within ``width_km`` of land inside a lon/lat box.

    ``distance_km``: the wet cells' distance to land [km], if the caller already has it.
    """
    if distance_km is None:
        distance_km = distance_transform_edt(grid.wet, sampling=_cell_spacing_km(grid))
    lon_c, lat_c = np.meshgrid(grid.x_centre, grid.y_centre)
    return (
        grid.wet
        & (distance_km <= width_km)
        & (lon_c >= lon_range[0])
        & (lon_c <= lon_range[1])
        & (lat_c >= lat_range[0])
        & (lat_c <= lat_range[1])
    )


def rim_direction(
    grid: Grid, *, lon_range: Sequence[float], lat_range: Sequence[float], width_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """(ny, nx) unit vector (x, y) along the coast, land on the right, on a `coastal_band`.

    The direction of a buoyant coastal current in the northern hemisphere (the coast on its
    right), i.e. cyclonic round a basin: southward along a coast to the west, westward along a
    coast to the north. It is the offshore normal (the gradient of the distance to land,
    smoothed over a quarter of ``width_km``) turned 90° clockwise; zero off the band.
    """
    dy_km, dx_km = _cell_spacing_km(grid)
    distance_km = distance_transform_edt(grid.wet, sampling=(dy_km, dx_km))
    sigma_cells = 0.25 * width_km / np.array([dy_km, dx_km])
    grad_y, grad_x = np.gradient(gaussian_filter(distance_km, sigma_cells), dy_km, dx_km)
    norm = np.hypot(grad_x, grad_y)
    band = coastal_band(
        grid, lon_range=lon_range, lat_range=lat_range, width_km=width_km, distance_km=distance_km
    )
    band &= norm > 0
    safe = np.where(band, norm, 1.0)
    return np.where(band, grad_y / safe, 0.0), np.where(band, -grad_x / safe, 0.0)


def residual_flow(
    grid: Grid,
    *,
    season: str = "annual",
    params: Mapping | None = None,
    river_discharge: np.ndarray | None = None,
) -> Flow:
    """Steady residual circulation of one season on a Beibu Gulf grid [m³/s face transports].

    Parameters
    ----------
    grid : a lon/lat grid containing Hainan, the Qiongzhou Strait and the gulf (`beibu_grid`)
    season : a ``[season.*]`` name of ``forcing/circulation.toml`` ("annual", "winter", ...)
    params : parsed parameters (`load_circulation_params`); default the shipped file
    river_discharge : (ny, nx) discharge into each cell [m³/s]; its divergence is exact
    """
    return solve_season(grid, season=season, params=params, river_discharge=river_discharge).flow


def seasonal_flow(
    grid: Grid,
    *,
    seasons: Sequence[str] = SEASONS,
    params: Mapping | None = None,
    river_discharge: np.ndarray | None = None,
) -> Flow:
    """Periodic `Flow.series` over one year, one steady field per season at mid-season.

    Times [s from 1 January]: the middle of each season's months in ``[season.*].months``
    (winter = Dec–Feb centred on 15 January). Period 365 days.
    """
    params = load_circulation_params() if params is None else params
    times, us, vs = [], [], []
    for name in seasons:
        table = params["season"].get(name)
        if table is None or "mid_day_of_year" not in table:
            raise CirculationError(
                f"season {name!r} needs a [season.{name}] table with mid_day_of_year"
            )
        flow = residual_flow(grid, season=name, params=params, river_discharge=river_discharge)
        times.append(float(table["mid_day_of_year"]) * DAY)
        us.append(flow.transport_u[0])
        vs.append(flow.transport_v[0])
    order = np.argsort(times)
    return Flow.series(
        grid,
        [times[k] for k in order],
        [us[k] for k in order],
        [vs[k] for k in order],
        periodic=True,
        period=YEAR_PERIOD,
    )


__all__ = [
    "SEASONS",
    "BarotropicSolver",
    "BoundaryPort",
    "CirculationError",
    "CirculationSolution",
    "box_circulation",
    "bulk_wind_stress",
    "load_circulation_params",
    "residual_flow",
    "rim_direction",
    "seasonal_flow",
    "solve_season",
    "strait_section",
    "strait_transport",
]
