"""Arakawa C-grid geometry: cell centres, faces, metrics, depth, wet mask, open boundaries.

Array order is always ``(y, x)``. Cell ``(j, i)`` has x-faces ``i`` (west) and ``i+1`` (east)
in arrays of shape ``(ny, nx+1)``, and y-faces ``j`` (south) and ``j+1`` (north) in arrays of
shape ``(ny+1, nx)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bbw_bay.errors import BadInputError, unknown_name
from bbw_bay.units import EARTH_RADIUS

EDGES = ("west", "east", "south", "north")


class GridError(BadInputError):
    """A grid was built from inconsistent or invalid input."""


# ----------------------------------------------------------------------------- builder registry
#: Named grid builders that live in a higher layer (the embedded gulf), filled at their import:
#: ``"beibu"`` behind `Grid.beibu`, ``"bathymetry"`` behind `Grid.from_bathymetry`. The core
#: never imports the gulf; ``import bbw_bay`` imports it, so the builders are always there for
#: users of the package.
_BUILDERS: dict[str, Callable[..., Grid]] = {}


def register_builder(name: str, builder: Callable[..., Grid]) -> None:
    """Register ``builder`` (a callable returning a `Grid`) under ``name`` for `build_grid`.

    A later registration under the same name replaces the earlier one.
    """
    _BUILDERS[str(name)] = builder


def build_grid(name: str, /, *args, **kwargs) -> Grid:
    """The grid of the builder registered under ``name``, called with the other arguments.

    Raises
    ------
    GridError if no builder has that name (listing the registered ones).
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        if not _BUILDERS:
            raise GridError(
                f"no grid builder {name!r} is registered (none is): `import bbw_bay` or "
                "`import bbw_bay.gulf.geodata` registers the embedded gulf's builders"
            )
        raise GridError(unknown_name("grid builder", name, _BUILDERS))
    return builder(*args, **kwargs)


# ----------------------------------------------------------------------------- distances
def point_distance(
    x0: float, y0: float, x1: np.ndarray, y1: np.ndarray, *, geographic: bool
) -> np.ndarray:
    """Distance [m] from (x0, y0) to points (x1, y1).

    Parameters
    ----------
    x0, y0 : the point [lon/lat degrees if ``geographic``, else m]
    x1, y1 : the other points, same units, any broadcastable shapes
    geographic : great-circle (haversine) distance on a sphere of radius `EARTH_RADIUS` if True,
        plane distance otherwise

    Returns
    -------
    ndarray of distances [m], the broadcast shape of ``x1`` and ``y1``.
    """
    if not geographic:
        return np.hypot(np.asarray(x1) - x0, np.asarray(y1) - y0)
    lam0, phi0 = np.deg2rad(x0), np.deg2rad(y0)
    lam1, phi1 = np.deg2rad(x1), np.deg2rad(y1)
    a = (
        np.sin((phi1 - phi0) / 2) ** 2
        + np.cos(phi0) * np.cos(phi1) * np.sin((lam1 - lam0) / 2) ** 2
    )
    return 2 * EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def nearest_wet_cell(
    x_centre: np.ndarray,
    y_centre: np.ndarray,
    wet: np.ndarray,
    x: float,
    y: float,
    *,
    geographic: bool,
) -> tuple[int, int, float]:
    """(j, i, distance [m]) of the wet cell whose centre is nearest to (x, y).

    For callers that hold coordinates and a mask rather than a `Grid` (an output dataset); a
    grid's own is `Grid.nearest_wet`.

    Parameters
    ----------
    x_centre, y_centre : (nx,), (ny,) cell-centre coordinates [lon/lat degrees or m]
    wet : (ny, nx) bool, True for sea cells (at least one)
    x, y : the point, same units
    geographic : great-circle distance if True (see `point_distance`)
    """
    jj, ii = np.nonzero(np.asarray(wet, dtype=bool))
    if jj.size == 0:
        raise GridError("no wet cell: every cell is land")
    d = point_distance(
        x, y, np.asarray(x_centre)[ii], np.asarray(y_centre)[jj], geographic=geographic
    )
    k = int(np.argmin(d))
    return int(jj[k]), int(ii[k]), float(d[k])


@dataclass(frozen=True, eq=False)
class Grid:
    """A masked, possibly spherical, C-grid.

    Attributes
    ----------
    x_centre, y_centre : (nx,), (ny,) cell-centre coordinates [m, or degrees lon/lat if geographic]
    x_edge, y_edge : (nx+1,), (ny+1,) face coordinates [m or degrees]
    geographic : True for a lon/lat grid with spherical metrics
    depth : (ny, nx) still-water depth at centres [m], 0 on land; negative on floodable
        ground (bed above the datum), which only a shallow-water run wets
    wet : (ny, nx) bool, True for sea cells (cells that can hold water)
    area : (ny, nx) horizontal cell area [m²]
    length_u : (ny, nx+1) length of each x-face [m]
    length_v : (ny+1, nx) length of each y-face [m]
    spacing_u : (ny, nx+1) centre-to-centre distance across each x-face [m]
    spacing_v : (ny+1, nx) centre-to-centre distance across each y-face [m]
    depth_u, depth_v : depth at faces [m]; 0 on faces that carry no flux
    open_u, open_v : bool, True on open-boundary faces (domain edge next to a wet cell)
    open_boundaries : edges of the domain that are open to the sea
    """

    x_centre: np.ndarray
    y_centre: np.ndarray
    x_edge: np.ndarray
    y_edge: np.ndarray
    geographic: bool
    depth: np.ndarray
    wet: np.ndarray
    area: np.ndarray
    length_u: np.ndarray
    length_v: np.ndarray
    spacing_u: np.ndarray
    spacing_v: np.ndarray
    depth_u: np.ndarray
    depth_v: np.ndarray
    open_u: np.ndarray
    open_v: np.ndarray
    open_boundaries: tuple[str, ...]

    # ------------------------------------------------------------------ constructors
    @classmethod
    def cartesian(
        cls,
        nx: int,
        ny: int,
        *,
        dx: float,
        dy: float,
        depth: float | np.ndarray = 10.0,
        wet: np.ndarray | None = None,
        open_boundaries: Sequence[str] = (),
    ) -> Grid:
        """A rectangular grid in metres; cell (0, 0)'s lower-left corner is at x = y = 0."""
        if nx < 1 or ny < 1 or dx <= 0 or dy <= 0:
            raise GridError(
                f"need nx, ny >= 1 and dx, dy > 0; got nx={nx}, ny={ny}, dx={dx}, dy={dy}"
            )
        x_edge = np.arange(nx + 1, dtype=float) * dx
        y_edge = np.arange(ny + 1, dtype=float) * dy
        area = np.full((ny, nx), dx * dy)
        length_u = np.full((ny, nx + 1), float(dy))
        length_v = np.full((ny + 1, nx), float(dx))
        spacing_u = np.full((ny, nx + 1), float(dx))
        spacing_v = np.full((ny + 1, nx), float(dy))
        return cls._assemble(
            x_edge,
            y_edge,
            False,
            depth,
            wet,
            open_boundaries,
            area,
            length_u,
            length_v,
            spacing_u,
            spacing_v,
        )

    @classmethod
    def geographic_grid(
        cls,
        lon_edge: np.ndarray,
        lat_edge: np.ndarray,
        *,
        depth: float | np.ndarray,
        wet: np.ndarray | None = None,
        open_boundaries: Sequence[str] = (),
    ) -> Grid:
        """A regular lon/lat grid with exact spherical metrics.

        Cell area is R² Δλ (sin φ_n − sin φ_s); x-faces are R Δφ long, y-faces R cos φ_f Δλ long.
        """
        lon_edge = np.asarray(lon_edge, dtype=float)
        lat_edge = np.asarray(lat_edge, dtype=float)
        if lon_edge.ndim != 1 or lat_edge.ndim != 1 or lon_edge.size < 2 or lat_edge.size < 2:
            raise GridError("lon_edge and lat_edge must be 1-D with at least two values")
        if np.any(np.diff(lon_edge) <= 0) or np.any(np.diff(lat_edge) <= 0):
            raise GridError("lon_edge and lat_edge must increase strictly")
        if lat_edge.min() < -90 or lat_edge.max() > 90:
            raise GridError("latitudes must lie in [-90, 90]")
        nx = lon_edge.size - 1
        r = EARTH_RADIUS
        lam = np.deg2rad(lon_edge)
        phi = np.deg2rad(lat_edge)
        dlam = np.diff(lam)  # (nx,)
        dphi = np.diff(phi)  # (ny,)
        phi_c = 0.5 * (phi[:-1] + phi[1:])
        lam_c = 0.5 * (lam[:-1] + lam[1:])
        area = r**2 * np.outer(np.sin(phi[1:]) - np.sin(phi[:-1]), dlam)
        length_u = np.repeat((r * dphi)[:, None], nx + 1, axis=1)
        length_v = r * np.outer(np.cos(phi), dlam)
        # centre-to-centre spacing; at the domain edge, half a cell to the face and mirrored
        lam_ext = np.concatenate([[2 * lam[0] - lam_c[0]], lam_c, [2 * lam[-1] - lam_c[-1]]])
        dlam_c = np.diff(lam_ext)  # (nx+1,)
        spacing_u = r * np.outer(np.cos(phi_c), dlam_c)
        phi_ext = np.concatenate([[2 * phi[0] - phi_c[0]], phi_c, [2 * phi[-1] - phi_c[-1]]])
        spacing_v = np.repeat((r * np.diff(phi_ext))[:, None], nx, axis=1)
        return cls._assemble(
            lon_edge,
            lat_edge,
            True,
            depth,
            wet,
            open_boundaries,
            area,
            length_u,
            length_v,
            spacing_u,
            spacing_v,
        )

    @classmethod
    def from_bathymetry(cls, *args, **kwargs) -> Grid:
        """Build a lon/lat grid from a bathymetry and land-mask dataset.

        The builder registered as ``"bathymetry"``
        (`bbw_bay.gulf.geodata.grid_from_bathymetry`: arguments, units and returns there).
        """
        return build_grid("bathymetry", *args, **kwargs)

    @classmethod
    def beibu(cls, resolution: float = 1.0 / 30.0, **kwargs) -> Grid:
        """The embedded Beibu Gulf grid; ``resolution`` is the cell size in degrees.

        The builder registered as ``"beibu"`` (`bbw_bay.gulf.geodata.beibu_grid`: other
        keywords there).

        Examples
        --------
        >>> import bbw_bay as bb
        >>> bb.Grid.beibu(resolution=1 / 15).geographic
        True
        """
        return build_grid("beibu", resolution=resolution, **kwargs)

    @classmethod
    def beibu_nest(
        cls, name: str = "guangxi", *, resolution: float = 1.0 / 240.0, **kwargs
    ) -> Grid:
        """A nested high-resolution bay grid ("guangxi" or "zhanjiang"); ``resolution`` in degrees.

        The builder registered as ``"beibu_nest"`` (`bbw_bay.gulf.nests.beibu_nest`: other
        keywords there).
        """
        return build_grid("beibu_nest", name, resolution=resolution, **kwargs)

    @classmethod
    def _assemble(
        cls,
        x_edge,
        y_edge,
        geographic,
        depth,
        wet,
        open_boundaries,
        area,
        length_u,
        length_v,
        spacing_u,
        spacing_v,
    ) -> Grid:
        nx, ny = x_edge.size - 1, y_edge.size - 1
        depth_arr = np.broadcast_to(np.asarray(depth, dtype=float), (ny, nx)).copy()
        if wet is None:  # a negative depth is floodable ground above the datum; 0 is land
            wet_arr = np.isfinite(depth_arr) & (depth_arr != 0)
        else:
            wet_arr = np.asarray(wet, dtype=bool)
            if wet_arr.shape != (ny, nx):
                raise GridError(
                    f"wet mask has shape {wet_arr.shape}, expected (ny, nx) = {(ny, nx)}"
                )
        if not np.all(np.isfinite(depth_arr[wet_arr])):
            j, i = (int(k) for k in np.argwhere(~np.isfinite(depth_arr) & wet_arr)[0])
            centre = (0.5 * (x_edge[i] + x_edge[i + 1]), 0.5 * (y_edge[j] + y_edge[j + 1]))
            raise GridError(
                f"depth is NaN or infinite at {int((~np.isfinite(depth_arr) & wet_arr).sum())} "
                f"wet cell(s), first (j, i) = ({j}, {i}) centred at ({centre[0]:.6g}, "
                f"{centre[1]:.6g}){'°' if geographic else ' m'}; fill the gap in the bathymetry "
                "or mark those cells as land"
            )
        if not wet_arr.any():
            raise GridError("the grid has no wet cell: every cell is land (check the land mask)")
        depth_arr = np.where(wet_arr, depth_arr, 0.0)
        opened = tuple(dict.fromkeys(open_boundaries))
        for edge in opened:
            if edge not in EDGES:
                raise GridError(unknown_name("open boundary", edge, EDGES))

        # interior faces: flux only between two cells below the datum; face depth = their mean
        # (floodable cells, depth <= 0, carry water only in a shallow-water run)
        below = wet_arr & (depth_arr > 0)
        depth_u = np.zeros((ny, nx + 1))
        both = below[:, :-1] & below[:, 1:]
        depth_u[:, 1:-1] = np.where(both, 0.5 * (depth_arr[:, :-1] + depth_arr[:, 1:]), 0.0)
        depth_v = np.zeros((ny + 1, nx))
        both = below[:-1, :] & below[1:, :]
        depth_v[1:-1, :] = np.where(both, 0.5 * (depth_arr[:-1, :] + depth_arr[1:, :]), 0.0)
        open_u = np.zeros((ny, nx + 1), dtype=bool)
        open_v = np.zeros((ny + 1, nx), dtype=bool)
        if "west" in opened:
            open_u[:, 0] = wet_arr[:, 0]
            depth_u[:, 0] = np.maximum(depth_arr[:, 0], 0.0)
        if "east" in opened:
            open_u[:, -1] = wet_arr[:, -1]
            depth_u[:, -1] = np.maximum(depth_arr[:, -1], 0.0)
        if "south" in opened:
            open_v[0, :] = wet_arr[0, :]
            depth_v[0, :] = np.maximum(depth_arr[0, :], 0.0)
        if "north" in opened:
            open_v[-1, :] = wet_arr[-1, :]
            depth_v[-1, :] = np.maximum(depth_arr[-1, :], 0.0)
        x_centre = 0.5 * (x_edge[:-1] + x_edge[1:])
        y_centre = 0.5 * (y_edge[:-1] + y_edge[1:])
        arrays = dict(
            x_centre=x_centre,
            y_centre=y_centre,
            x_edge=x_edge,
            y_edge=y_edge,
            depth=depth_arr,
            wet=wet_arr,
            area=area,
            length_u=length_u,
            length_v=length_v,
            spacing_u=spacing_u,
            spacing_v=spacing_v,
            depth_u=depth_u,
            depth_v=depth_v,
            open_u=open_u,
            open_v=open_v,
        )
        for value in arrays.values():
            value.setflags(write=False)
        return cls(
            geographic=geographic,
            open_boundaries=opened,
            **{k: np.ascontiguousarray(v) for k, v in arrays.items()},
        )

    # ------------------------------------------------------------------ derived quantities
    @property
    def nx(self) -> int:
        """Number of cells in x."""
        return self.x_centre.size

    @property
    def ny(self) -> int:
        """Number of cells in y."""
        return self.y_centre.size

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return (self.ny, self.nx)

    @property
    def volume(self) -> np.ndarray:
        """(ny, nx) water volume of each cell at the datum [m³], 0 on land and floodable ground."""
        return self.area * np.maximum(self.depth, 0.0)

    @property
    def flux_u(self) -> np.ndarray:
        """(ny, nx+1) bool: x-faces that can carry flux (wet–wet or open boundary)."""
        return self.depth_u > 0

    @property
    def flux_v(self) -> np.ndarray:
        """(ny+1, nx) bool: y-faces that can carry flux (wet–wet or open boundary)."""
        return self.depth_v > 0

    @property
    def n_wet(self) -> int:
        """Number of wet cells."""
        return int(self.wet.sum())

    def locate(self, x: float, y: float) -> tuple[int, int]:
        """(j, i) of the cell containing point (x, y) [m, or lon/lat degrees]; GridError outside."""
        if not (self.x_edge[0] <= x <= self.x_edge[-1] and self.y_edge[0] <= y <= self.y_edge[-1]):
            unit = "°" if self.geographic else " m"
            raise GridError(
                f"point ({x}, {y}) lies outside the grid, which spans x {self.x_edge[0]:g}–"
                f"{self.x_edge[-1]:g}{unit}, y {self.y_edge[0]:g}–{self.y_edge[-1]:g}{unit}"
            )
        i = int(np.clip(np.searchsorted(self.x_edge, x, side="right") - 1, 0, self.nx - 1))
        j = int(np.clip(np.searchsorted(self.y_edge, y, side="right") - 1, 0, self.ny - 1))
        return j, i

    def distance(self, x0: float, y0: float, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
        """Distance [m] from (x0, y0) to points (x1, y1): great-circle if geographic."""
        return point_distance(x0, y0, x1, y1, geographic=self.geographic)

    def nearest_wet(self, x: float, y: float) -> tuple[int, int, float]:
        """(j, i, distance [m]) of the wet cell whose centre is nearest to (x, y)."""
        return nearest_wet_cell(
            self.x_centre, self.y_centre, self.wet, x, y, geographic=self.geographic
        )

    def describe(self) -> str:
        """One line for logs: size, wet cells, spacing."""
        kind = "lon/lat" if self.geographic else "cartesian"
        return (
            f"{kind} grid {self.ny}×{self.nx}, {self.n_wet} wet cells, "
            f"open: {', '.join(self.open_boundaries) or 'none'}"
        )
