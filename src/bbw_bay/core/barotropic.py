"""Steady linear barotropic circulation on a C-grid: wind, bottom friction, Coriolis, rivers, ports.

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
  cells with φ = 0 outside the open boundary (`bbw_bay.core.potential.river_transports`).

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

Nothing here knows about the Beibu Gulf: `bbw_bay.gulf.circulation` applies the solver to it with
the seasonal forcing of ``forcing/circulation.toml`` (see ``docs/circulation.md``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

from bbw_bay.core.flow import Flow, face_velocities
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import river_transports
from bbw_bay.errors import BadInputError
from bbw_bay.units import EARTH_ROTATION, RHO_WATER

logger = logging.getLogger(__name__)


class BarotropicError(BadInputError):
    """A barotropic circulation problem that is ill-posed on its grid, or invalid parameters."""


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
            raise BarotropicError(f"friction_m_per_s must be > 0; got {friction_m_per_s}")
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
            raise BarotropicError(
                "beta applies to cartesian grids; geographic grids use "
                "f = 2Ω sin(latitude) when f0 is None"
            )
        y0 = 0.5 * (g.y_edge[0] + g.y_edge[-1]) if y_ref is None else y_ref
        return f0 + beta * (y_u - y0), f0 + beta * (y_v - y0)

    def corner_index(self, j, i) -> np.ndarray:
        """Flat index of corner (j, i) in the (ny+1, nx+1) corner arrays."""
        return np.asarray(j) * (self.grid.nx + 1) + np.asarray(i)

    def _difference_matrix(self) -> sp.csr_matrix:
        """(n_faces, n_corners): U = ψ[j,i] − ψ[j+1,i], V = ψ[j,i+1] − ψ[j,i]."""
        ny, nx = self.grid.shape
        ju, iu = np.divmod(np.arange(self.n_u), nx + 1)
        jv, iv = np.divmod(np.arange(self.n_v), nx)
        rows = np.concatenate([np.arange(self.n_u)] * 2 + [self.n_u + np.arange(self.n_v)] * 2)
        cols = np.concatenate(
            [
                self.corner_index(ju, iu),
                self.corner_index(ju + 1, iu),
                self.corner_index(jv, iv + 1),
                self.corner_index(jv, iv),
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
        a = np.concatenate([self.corner_index(ju, iu), self.corner_index(jv, iv)])
        b = np.concatenate([self.corner_index(ju + 1, iu), self.corner_index(jv, iv + 1)])
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
        idx = np.array([self.corner_index(j, i) for j, i in corners])
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
            raise BarotropicError(
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
            raise BarotropicError("the grid has no land body or closed edge to anchor ψ")
        if not fixed:
            sizes = np.bincount(self.labels[self.labels >= 0].ravel())
            fixed = {int(np.argmax(sizes)): 0.0}
        for lab in fixed:
            if lab not in self.land_ids:
                raise BarotropicError(f"land body {lab} does not exist")
        q = np.zeros(g.shape) if river_discharge is None else np.asarray(river_discharge, float)
        pot_u, pot_v = river_transports(g, q)
        t_phi = np.concatenate([pot_u.ravel(), pot_v.ravel()])

        labels = self.labels.ravel()
        water = labels < 0
        on_perimeter = np.zeros(self.n_corner, dtype=bool)
        on_perimeter[self.perimeter] = True
        clamped = np.zeros(self.n_corner, dtype=bool)
        for corner in section_psi or {}:
            if not water[corner] or on_perimeter[corner]:
                raise BarotropicError(
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
                raise BarotropicError(
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
                raise BarotropicError(
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
                raise BarotropicError(
                    f"ports on one open stretch must balance; net inflow {inflow.sum():.4g} m³/s"
                )
            frac = np.cumsum(w)[:-1] / w.sum()
            offset = np.cumsum(inflow)[:-1] - frac * inflow.sum()
            for p, fr, off in zip(run, frac, offset, strict=True):
                corner = int(per[p])
                add(corner, lab_a, 1.0 - fr)
                add(corner, lab_b, fr)
                psi0[corner] += off


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
        raise BarotropicError("the box must span at least two cells in each direction")
    i0, i1, j0, j1 = ii[0], ii[-1], jj[0], jj[-1]
    gamma = (
        (u[j0, i0 + 1 : i1 + 1] * g.spacing_u[j0, i0 + 1 : i1 + 1]).sum()
        + (v[j0 + 1 : j1 + 1, i1] * g.spacing_v[j0 + 1 : j1 + 1, i1]).sum()
        - (u[j1, i0 + 1 : i1 + 1] * g.spacing_u[j1, i0 + 1 : i1 + 1]).sum()
        - (v[j0 + 1 : j1 + 1, i0] * g.spacing_v[j0 + 1 : j1 + 1, i0]).sum()
    )
    area = g.area[j0 + 1 : j1 + 1, i0 + 1 : i1 + 1].sum()  # centre-to-centre loop ≈ inner cells
    return float(gamma), float(area)


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


__all__ = [
    "BarotropicError",
    "BarotropicSolver",
    "BoundaryPort",
    "CirculationSolution",
    "box_circulation",
    "corner_path",
]
