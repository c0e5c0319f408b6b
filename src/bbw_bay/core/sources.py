"""Point sources (rivers, outfalls): cell lookup, loads and discharges over the year."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bbw_bay.core.config import MAX_DISCHARGE_M3_PER_S, MAX_LOAD_T_PER_YR
from bbw_bay.core.grid import Grid, GridError
from bbw_bay.core.inputs import check_source_names
from bbw_bay.errors import BadInputError
from bbw_bay.units import TONNE_PER_YEAR, YEAR

log = logging.getLogger(__name__)


class SourceError(BadInputError):
    """A source is invalid or cannot be placed on the grid."""


@dataclass(frozen=True)
class PointSource:
    """A river mouth or outfall.

    Parameters
    ----------
    name : label used in tables and messages
    x, y : position [m on cartesian grids, lon/lat degrees on geographic grids]
    loads : tracer name -> mass load [g/s] (annual mean)
    discharge : volume discharge [m³/s] (annual mean); the flow field must carry it away
    groups : labels for scenario selection, e.g. ("Guangxi", "river")
    monthly_load_factor : optional 12 multipliers (Jan..Dec, mean 1) on the loads
    monthly_discharge_factor : optional 12 multipliers (Jan..Dec, mean 1) on the discharge
    snap : if True a source on land moves to the nearest wet cell (with a warning) instead of
        raising; ``max_snap_distance`` [m] bounds how far
    geographic : True if x, y are lon/lat degrees (a sources file), False if metres, None if
        not known; a source is refused on a grid of the other kind

    Loads above `bbw_bay.core.config.MAX_LOAD_T_PER_YR` per tracer and discharges above
    `bbw_bay.core.config.MAX_DISCHARGE_M3_PER_S` are refused whenever a source is made,
    so the bounds hold after every scaling (``dataclasses.replace`` builds a new source).
    """

    name: str
    x: float
    y: float
    loads: Mapping[str, float] = field(default_factory=dict)
    discharge: float = 0.0
    groups: tuple[str, ...] = ()
    monthly_load_factor: Sequence[float] | None = None
    monthly_discharge_factor: Sequence[float] | None = None
    snap: bool = False
    max_snap_distance: float = 20_000.0
    geographic: bool | None = None

    def __post_init__(self) -> None:
        for tracer, load in self.loads.items():
            if not np.isfinite(load) or load < 0:
                raise SourceError(
                    f'source "{self.name}": load of {tracer} must be a finite number >= 0 g/s, '
                    f"got {load}"
                )
            if load / TONNE_PER_YEAR > MAX_LOAD_T_PER_YR:
                raise SourceError(
                    f'source "{self.name}": load of {tracer} is {load:.4g} g/s '
                    f"({load / TONNE_PER_YEAR:.4g} t/yr), above the {MAX_LOAD_T_PER_YR:g} t/yr "
                    "that any single river on Earth delivers; check the unit and any scale "
                    "factor applied to it"
                )
        if not np.isfinite(self.discharge) or self.discharge < 0:
            raise SourceError(
                f'source "{self.name}": discharge must be >= 0 m³/s, got {self.discharge}'
            )
        if self.discharge > MAX_DISCHARGE_M3_PER_S:
            raise SourceError(
                f'source "{self.name}": discharge {self.discharge:.4g} m³/s is above the '
                f"{MAX_DISCHARGE_M3_PER_S:g} m³/s of any river (the Amazon's mean is ~2.1e5)"
            )
        for label, factors in (
            ("monthly_load_factor", self.monthly_load_factor),
            ("monthly_discharge_factor", self.monthly_discharge_factor),
        ):
            if factors is not None:
                arr = np.asarray(factors, dtype=float)
                if arr.shape != (12,) or np.any(arr < 0) or not np.all(np.isfinite(arr)):
                    raise SourceError(
                        f'source "{self.name}": {label} must be 12 finite numbers >= 0 '
                        f"(Jan..Dec), got {list(factors)}"
                    )

    def locate(self, grid: Grid) -> tuple[int, int]:
        """(j, i) of the wet cell receiving this source; raises SourceError if on land/outside."""
        if self.geographic is not None and self.geographic != grid.geographic:
            given, grid_kind = (
                ("lon/lat [degrees]", "cartesian (metres)")
                if self.geographic
                else ("x/y [m]", "lon/lat (degrees)")
            )
            raise SourceError(
                f'source "{self.name}" at ({self.x:g}, {self.y:g}) is given in {given}, but the '
                f"grid is {grid_kind}; give its position in the grid's coordinates"
            )
        try:
            j, i = grid.locate(self.x, self.y)
        except GridError as err:
            raise SourceError(
                f'source "{self.name}": {err}{_outside_by(grid, self.x, self.y)}'
            ) from None
        if grid.wet[j, i]:
            return j, i
        jn, in_, dist = grid.nearest_wet(self.x, self.y)
        where = _format_position(grid, self.x, self.y)
        if self.snap and dist <= self.max_snap_distance:
            log.warning(
                'source "%s" at %s is on land; moved to the nearest wet cell %.1f km away',
                self.name,
                where,
                dist / 1000,
            )
            return jn, in_
        raise SourceError(
            f'source "{self.name}" at {where} is on land; nearest wet cell is {dist / 1000:.1f} km '
            f"away (centre {_format_position(grid, grid.x_centre[in_], grid.y_centre[jn])})"
        )

    def load_factor(self, time: float) -> float:
        """Multiplier on the loads at ``time`` [s from 1 January]."""
        return _monthly(self.monthly_load_factor, time)

    def discharge_factor(self, time: float) -> float:
        """Multiplier on the discharge at ``time`` [s from 1 January]."""
        return _monthly(self.monthly_discharge_factor, time)


def _monthly(factors: Sequence[float] | None, time: float) -> float:
    """Piecewise-constant monthly factor (months of equal length, YEAR/12)."""
    if factors is None:
        return 1.0
    month = int((time % YEAR) // (YEAR / 12.0)) % 12
    return float(factors[month])


def _outside_by(grid: Grid, x: float, y: float) -> str:
    """'; X km outside its edge' for a point beyond the grid ('' if the distance is undefined)."""
    edge_x = float(np.clip(x, grid.x_edge[0], grid.x_edge[-1]))
    edge_y = float(np.clip(y, grid.y_edge[0], grid.y_edge[-1]))
    distance = float(grid.distance(x, y, edge_x, edge_y))
    return f"; the point is {distance / 1000:.1f} km outside it" if np.isfinite(distance) else ""


def _format_position(grid: Grid, x: float, y: float) -> str:
    if grid.geographic:
        return f"({x:.3f}E, {y:.3f}N)"
    return f"(x={x:.0f} m, y={y:.0f} m)"


@dataclass(frozen=True, eq=False)
class SourceLayout:
    """Sources resolved onto a grid: cells, loads per tracer, discharges.

    Attributes
    ----------
    cells : (ns, 2) int (j, i) of each source
    loads : (ns, ntr) mean loads [g/s], tracer order as ``tracers``
    discharge : (ns,) mean discharges [m³/s]
    """

    sources: tuple[PointSource, ...]
    tracers: tuple[str, ...]
    cells: np.ndarray
    loads: np.ndarray
    discharge: np.ndarray

    @classmethod
    def build(
        cls, grid: Grid, sources: Sequence[PointSource], tracers: Sequence[str]
    ) -> SourceLayout:
        """Place every source on the grid; unknown tracer names are errors."""
        tracers = tuple(tracers)
        check_source_names([s.name for s in sources], where="sources", error=SourceError)
        cells = np.zeros((len(sources), 2), dtype=np.int64)
        loads = np.zeros((len(sources), len(tracers)))
        discharge = np.zeros(len(sources))
        for k, src in enumerate(sources):
            unknown = set(src.loads) - set(tracers)
            if unknown:
                raise SourceError(
                    f'source "{src.name}" has loads for {sorted(unknown)}, which are not tracers '
                    f"of this model (tracers: {list(tracers)})"
                )
            cells[k] = src.locate(grid)
            loads[k] = [src.loads.get(name, 0.0) for name in tracers]
            discharge[k] = src.discharge
        return cls(tuple(sources), tracers, cells, loads, discharge)

    def load_field(self, shape: tuple[int, int], time: float | None = None) -> np.ndarray:
        """(ntr, ny, nx) loads [g/s] at ``time`` [s] (annual mean if None)."""
        out = np.zeros((len(self.tracers), *shape))
        for k, src in enumerate(self.sources):
            f = 1.0 if time is None else src.load_factor(time)
            j, i = self.cells[k]
            out[:, j, i] += f * self.loads[k]
        return out

    def discharge_field(self, shape: tuple[int, int], time: float | None = None) -> np.ndarray:
        """(ny, nx) river discharge [m³/s] entering each cell at ``time`` (annual mean if None)."""
        out = np.zeros(shape)
        for k, src in enumerate(self.sources):
            f = 1.0 if time is None else src.discharge_factor(time)
            j, i = self.cells[k]
            out[j, i] += f * self.discharge[k]
        return out

    @property
    def time_varying(self) -> bool:
        """True if any source has monthly factors."""
        return any(
            s.monthly_load_factor is not None or s.monthly_discharge_factor is not None
            for s in self.sources
        )
