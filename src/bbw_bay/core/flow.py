"""Flow: volume transports through the C-grid faces, steady or as a time series.

Transports are what the tracer solver uses: ``transport_u[j, i] = u · h_u · Δy`` [m³/s] through
x-face ``i`` of row ``j`` (positive eastward), ``transport_v`` likewise through y-faces (positive
northward). Faces that carry no flux (land, closed edges) hold exactly zero.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bbw_bay.core.currents import dataset_transports
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import PotentialError, river_transports
from bbw_bay.errors import BadInputError


class FlowError(BadInputError):
    """A flow field is inconsistent with its grid."""


@dataclass(frozen=True, eq=False)
class Flow:
    """Face transports on a grid; steady (one field) or piecewise-linear in time.

    Attributes
    ----------
    grid : the grid the transports live on
    times : (nt,) times of the fields [s]; a single field is steady
    transport_u : (nt, ny, nx+1) x-face transports [m³/s]
    transport_v : (nt, ny+1, nx) y-face transports [m³/s]
    periodic : if True, time-varying fields repeat with period ``period`` [s]
    period : length of one cycle for periodic flows [s]
    volumes : None (volumes fixed at the grid's), or (nt, ny, nx) cell volumes [m³] at ``times``
        for a flow on moving volumes (`from_hydrodynamics`): then transport_u (nt−1, ny, nx+1)
        and transport_v hold the mean transports of the intervals between the times, and
        V(t_k+1) = V(t_k) + Δt_k (Σ inflows − Σ outflows + sources) holds to round-off
    """

    grid: Grid
    times: np.ndarray
    transport_u: np.ndarray
    transport_v: np.ndarray
    periodic: bool = False
    period: float = 0.0
    volumes: np.ndarray | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_transports(cls, grid: Grid, transport_u: np.ndarray, transport_v: np.ndarray) -> Flow:
        """A steady flow from face transports [m³/s]."""
        return cls.series(grid, [0.0], [transport_u], [transport_v])

    @classmethod
    def steady(cls, grid: Grid, u: np.ndarray | float = 0.0, v: np.ndarray | float = 0.0) -> Flow:
        """A steady flow from face velocities [m/s]: u on x-faces (ny, nx+1), v on y-faces."""
        u_arr = _face_array(u, (grid.ny, grid.nx + 1), "u")
        v_arr = _face_array(v, (grid.ny + 1, grid.nx), "v")
        return cls.from_transports(
            grid, u_arr * grid.depth_u * grid.length_u, v_arr * grid.depth_v * grid.length_v
        )

    @classmethod
    def from_streamfunction(cls, grid: Grid, psi: np.ndarray) -> Flow:
        """A divergence-free steady flow from a transport streamfunction ψ [m³/s] at corners.

        ``U[j, i] = -(ψ[j+1, i] - ψ[j, i])`` and ``V[j, i] = ψ[j, i+1] - ψ[j, i]``; faces that carry
        no flux are zeroed, so ψ should be constant along each coastline for the result to stay
        divergence-free.
        """
        psi = _face_array(psi, (grid.ny + 1, grid.nx + 1), "psi")
        transport_u = -(psi[1:, :] - psi[:-1, :])
        transport_v = psi[:, 1:] - psi[:, :-1]
        return cls.from_transports(grid, transport_u, transport_v)

    @classmethod
    def series(
        cls,
        grid: Grid,
        times: Sequence[float] | np.ndarray,
        transports_u: Sequence[np.ndarray] | np.ndarray,
        transports_v: Sequence[np.ndarray] | np.ndarray,
        *,
        periodic: bool = False,
        period: float | None = None,
    ) -> Flow:
        """A time series of transport fields [m³/s], linearly interpolated in time [s].

        With ``periodic=True`` the series repeats with ``period`` (default: last time − first
        time + the mean spacing), e.g. monthly or seasonal climatologies.
        """
        times_arr = np.asarray(times, dtype=float)
        if times_arr.ndim != 1 or times_arr.size == 0 or np.any(np.diff(times_arr) <= 0):
            raise FlowError("flow times must be a non-empty, strictly increasing 1-D sequence")
        tu = np.stack([_face_array(a, (grid.ny, grid.nx + 1), "transport_u") for a in transports_u])
        tv = np.stack([_face_array(a, (grid.ny + 1, grid.nx), "transport_v") for a in transports_v])
        if tu.shape[0] != times_arr.size or tv.shape[0] != times_arr.size:
            raise FlowError(
                f"{times_arr.size} times but {tu.shape[0]} u-fields and {tv.shape[0]} v-fields"
            )
        tu = np.where(grid.flux_u[None], tu, 0.0)
        tv = np.where(grid.flux_v[None], tv, 0.0)
        if periodic:
            if period is None:
                spacing = np.diff(times_arr).mean() if times_arr.size > 1 else 1.0
                period = float(times_arr[-1] - times_arr[0] + spacing)
            if period <= times_arr[-1] - times_arr[0]:
                raise FlowError(f"period {period} s must exceed the span of the flow times")
        for arr in (tu, tv, times_arr):
            arr.setflags(write=False)
        return cls(
            grid,
            times_arr,
            np.ascontiguousarray(tu),
            np.ascontiguousarray(tv),
            periodic=periodic,
            period=float(period or 0.0),
        )

    @classmethod
    def from_rivers(cls, grid: Grid, discharge: np.ndarray, *, base: Flow | None = None) -> Flow:
        """Potential outflow of river discharges [m³/s per cell, (ny, nx)] to the open boundary.

        Solves the discrete Poisson problem Σ_f G_f (φ_i − φ_f) = Q_i with G_f = h_f L_f / Δs and
        φ = 0 outside open-boundary faces, so the transports G_f Δφ have divergence exactly Q
        (to solver round-off). ``base`` (a divergence-free steady flow) is added if given.
        Every river must reach an open boundary (`bbw_bay.core.potential.river_transports`).
        """
        try:
            transport_u, transport_v = river_transports(
                grid, _face_array(discharge, grid.shape, "discharge")
            )
        except PotentialError as err:
            raise FlowError(str(err)) from err
        if base is not None:
            transport_u = transport_u + base.transport_u[0]
            transport_v = transport_v + base.transport_v[0]
        return cls.from_transports(grid, transport_u, transport_v)

    @classmethod
    def from_dataset(cls, grid: Grid, source, **kwargs) -> Flow:
        """Currents from a regular-grid dataset, projected to be divergence-consistent.

        Parameters
        ----------
        grid : the model grid
        source : path of a netCDF file or an `xr.Dataset` with eastward and northward velocity
            [m/s or cm/s]
        **kwargs : as for `bbw_bay.core.currents.dataset_transports` (variable names, depth
            averaging, time dimension and origin, ``river_discharge`` [m³/s], fill_nearest)

        Returns
        -------
        Flow: steady for one field, else a `Flow.series` with times [s]; its divergence equals
        ``river_discharge`` (0 without) to round-off.
        """
        times, transport_u, transport_v = dataset_transports(grid, source, **kwargs)
        return cls.series(grid, times, transport_u, transport_v)

    @classmethod
    def from_hydrodynamics(cls, hd, *, grid: Grid | None = None, periodic: bool = False) -> Flow:
        """A flow on moving volumes from a `bbw_bay.core.shallow_water.ShallowWater.run` result.

        ``hd`` holds total_depth snapshots [m] and interval-mean transport_x/transport_y [m³/s];
        cell volumes are area × total depth. ``grid`` defaults to the run's own grid (or one
        rebuilt from ``hd``). ``periodic=True`` repeats the stored period (first to last time)
        cyclically, as a hydrodynamic database is reused through a year. Transport on these
        volumes is conservative and positive to round-off, also with hourly means (see
        `bbw_bay.core.moving_volumes.MovingVolumes`).
        """
        grid = grid if grid is not None else _hydrodynamics_grid(hd)
        times = np.asarray(hd["time"].values, dtype=float)
        tu = np.array(hd["transport_x"].values[1:], dtype=float)
        tv = np.array(hd["transport_y"].values[1:], dtype=float)
        volumes = np.asarray(hd["total_depth"].values, dtype=float) * grid.area[None]
        if tu.shape[1:] != (grid.ny, grid.nx + 1) or volumes.shape[1:] != grid.shape:
            raise FlowError(f"hydrodynamics of shape {volumes.shape[1:]} on a grid {grid.shape}")
        if times.size < 2 or np.any(np.diff(times) <= 0):
            raise FlowError("hydrodynamics need at least two strictly increasing output times")
        river = np.asarray(hd["river_discharge"].values) if "river_discharge" in hd else 0.0
        dt = np.diff(times)[:, None, None]
        net_in = (tu[:, :, :-1] - tu[:, :, 1:]) + (tv[:, :-1, :] - tv[:, 1:, :]) + river
        mismatch = np.abs(volumes[1:] - volumes[:-1] - dt * net_in)
        scale = float(np.abs(volumes).max()) + 1e-300
        if float(mismatch.max()) > 1e-9 * scale:
            k, j, i = (int(a) for a in np.unravel_index(int(np.argmax(mismatch)), mismatch.shape))
            raise FlowError(
                f"hydrodynamics are not volume-consistent: V(t+Δt) − V(t) − Δt ΣQ = "
                f"{mismatch[k, j, i]:.3g} m³ at interval {k}, cell (j={j}, i={i}); the face "
                "transports must be interval means and the volumes snapshots of one run"
            )
        for arr in (times, tu, tv, volumes):
            arr.setflags(write=False)
        return cls(
            grid,
            times,
            np.ascontiguousarray(tu),
            np.ascontiguousarray(tv),
            periodic=periodic,
            period=float(times[-1] - times[0]) if periodic else 0.0,
            volumes=np.ascontiguousarray(volumes),
        )

    # ------------------------------------------------------------------ queries
    @property
    def is_steady(self) -> bool:
        """True when the flow does not change in time."""
        return self.times.size == 1

    @property
    def moving(self) -> bool:
        """True for a flow on moving volumes (see ``volumes``)."""
        return self.volumes is not None

    def interval(self, time: float) -> tuple[int, float, int]:
        """(k, offset [s] into interval k, cycle number) of a moving flow at ``time`` [s].

        Interval k runs from times[k] (included) to times[k+1]; past the end of a periodic flow
        the cycle number counts the repeats; a non-periodic flow holds its first/last interval.
        """
        t = self.times
        cycle = 0
        if self.periodic:
            cycle = int(np.floor((time - t[0]) / self.period + 1e-12))
            time = time - cycle * self.period
        k = int(np.clip(np.searchsorted(t, time, side="right") - 1, 0, t.size - 2))
        return k, time - t[k], cycle

    def storage_rate(self, k: int) -> np.ndarray:
        """(ny, nx) dV/dt [m³/s] of interval k of a moving flow (zeros for fixed volumes)."""
        if self.volumes is None:
            return np.zeros(self.grid.shape)
        return (self.volumes[k + 1] - self.volumes[k]) / (self.times[k + 1] - self.times[k])

    def volume_at(self, time: float) -> np.ndarray:
        """(ny, nx) cell volumes [m³] at ``time`` (the grid's for fixed volumes)."""
        if self.volumes is None:
            return self.grid.volume
        k, offset, _ = self.interval(time)
        return self.volumes[k] + offset * self.storage_rate(k)

    def at(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """(transport_u, transport_v) at ``time`` [s], linearly interpolated (new arrays).

        On moving volumes: the mean transports of the interval holding ``time``.
        """
        if self.volumes is not None:
            k = self.interval(time)[0]
            return self.transport_u[k], self.transport_v[k]
        if self.is_steady:
            return self.transport_u[0], self.transport_v[0]
        k, w = self._bracket(time)
        u = (1 - w) * self.transport_u[k] + w * self.transport_u[(k + 1) % self.times.size]
        v = (1 - w) * self.transport_v[k] + w * self.transport_v[(k + 1) % self.times.size]
        return u, v

    def _bracket(self, time: float) -> tuple[int, float]:
        t = self.times
        if self.periodic:
            time = t[0] + (time - t[0]) % self.period
            if time >= t[-1]:  # between the last field and the first one of the next cycle
                return t.size - 1, (time - t[-1]) / (t[0] + self.period - t[-1])
        if time <= t[0]:
            return 0, 0.0
        if time >= t[-1]:
            return t.size - 2, 1.0
        k = int(np.searchsorted(t, time, side="right") - 1)
        return k, (time - t[k]) / (t[k + 1] - t[k])

    def divergence(self, time: float = 0.0) -> np.ndarray:
        """(ny, nx) net outflow of each cell [m³/s] (east − west + north − south transports).

        On moving volumes the storage rate dV/dt is added: what sources must supply.
        """
        u, v = self.at(time)
        net = (u[:, 1:] - u[:, :-1]) + (v[1:, :] - v[:-1, :])
        if self.volumes is not None:
            net = net + self.storage_rate(self.interval(time)[0])
        return net

    def max_outflow_rate(self) -> np.ndarray:
        """(ny, nx) largest total outflow over all fields [m³/s] per cell."""
        best = np.zeros(self.grid.shape)
        for u, v in zip(self.transport_u, self.transport_v, strict=True):
            np.maximum(best, outflow_sum(u, v), out=best)
        return best

    def with_transports_scaled(self, factor: float) -> Flow:
        """A copy with every transport multiplied by ``factor``."""
        if self.volumes is not None:
            raise FlowError(
                "a flow on moving volumes cannot be scaled (its volumes would not follow)"
            )
        return Flow(
            self.grid,
            self.times,
            self.transport_u * factor,
            self.transport_v * factor,
            periodic=self.periodic,
            period=self.period,
        )


#: Grids of shallow-water runs in this process, by the key a run stores in its dataset's attrs.
_HYDRO_GRIDS: weakref.WeakValueDictionary[str, Grid] = weakref.WeakValueDictionary()


def register_hydrodynamics_grid(grid: Grid) -> str:
    """Key under which `Flow.from_hydrodynamics` finds ``grid`` again (same object)."""
    for key, known in _HYDRO_GRIDS.items():
        if known is grid:
            return key
    key = uuid.uuid4().hex
    _HYDRO_GRIDS[key] = grid
    return key


def _hydrodynamics_grid(hd) -> Grid:
    """The grid of a shallow-water run: the registered object, else rebuilt from ``hd``."""
    known = _HYDRO_GRIDS.get(str(hd.attrs.get("grid_key", "")))
    if known is not None:
        return known
    x_edge = np.asarray(hd["x_face"].values, dtype=float)
    y_edge = np.asarray(hd["y_face"].values, dtype=float)
    opened = tuple(e for e in str(hd.attrs.get("open_boundaries", "")).split(",") if e)
    depth, wet = hd["bed_depth"].values, hd["sea"].values.astype(bool)
    if int(hd.attrs.get("geographic", 0)):
        return Grid.geographic_grid(x_edge, y_edge, depth=depth, wet=wet, open_boundaries=opened)
    dx, dy = float(np.diff(x_edge).mean()), float(np.diff(y_edge).mean())
    return Grid.cartesian(
        x_edge.size - 1, y_edge.size - 1, dx=dx, dy=dy, depth=depth, wet=wet,
        open_boundaries=opened,
    )  # fmt: skip


def outflow_sum(transport_u: np.ndarray, transport_v: np.ndarray) -> np.ndarray:
    """(ny, nx) sum of the transports leaving each cell [m³/s]."""
    return (
        np.maximum(transport_u[:, 1:], 0.0)
        + np.maximum(-transport_u[:, :-1], 0.0)
        + np.maximum(transport_v[1:, :], 0.0)
        + np.maximum(-transport_v[:-1, :], 0.0)
    )


def _face_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    try:
        arr = np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise FlowError(f"{name} has shape {arr.shape}, expected {shape}") from None
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(k) for k in np.argwhere(~np.isfinite(arr))[0])
        raise FlowError(f"{name} contains NaN or Inf at index {bad}")
    return arr


# ----------------------------------------------------------------------------- diagnostics
def face_velocities(flow: Flow, time: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Depth-averaged face velocities u (ny, nx+1), v (ny+1, nx) [m/s]; 0 on no-flux faces."""
    g = flow.grid
    tu, tv = flow.at(time)
    u = np.where(g.flux_u, tu / np.where(g.flux_u, g.depth_u * g.length_u, 1.0), 0.0)
    v = np.where(g.flux_v, tv / np.where(g.flux_v, g.depth_v * g.length_v, 1.0), 0.0)
    return u, v


def centre_velocities(flow: Flow, time: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Depth-averaged velocity at cell centres (mean of the two faces) [m/s]; NaN on land."""
    u, v = face_velocities(flow, time)
    wet = flow.grid.wet
    return (
        np.where(wet, 0.5 * (u[:, 1:] + u[:, :-1]), np.nan),
        np.where(wet, 0.5 * (v[1:] + v[:-1]), np.nan),
    )
