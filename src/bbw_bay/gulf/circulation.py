"""The Beibu Gulf's residual circulation recipe: seasonal wind, strait, mouth exchange, rim current.

`solve_season` applies the generic steady barotropic solver (`bbw_bay.core.barotropic`) to a gulf
grid with one season of ``forcing/circulation.toml``: the seasonal wind stress; the westward
Qiongzhou Strait transport, set by the ψ difference between the mainland and Hainan and carried
through ports of the open boundary; the South China Sea exchange across the gulf mouth
(`mouth_exchange_profile`) and the shelf throughflow; the Vietnam coastal current
(`coastal_band`) and the density-driven rim current round the gulf (`rim_direction`).
`residual_flow` and `seasonal_flow` return the steady flow of one season and the periodic
seasonal cycle (see ``forcing/CIRCULATION.md``, ``docs/circulation.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter

from bbw_bay.core.barotropic import (
    BarotropicError,
    BarotropicSolver,
    BoundaryPort,
    CirculationSolution,
    corner_path,
)
from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.potential import river_transports
from bbw_bay.errors import unknown_name
from bbw_bay.gulf.data import forcing_path, read_toml
from bbw_bay.units import DAY, RHO_AIR, SEASONS, SVERDRUP

#: Sign of the mouth-profile bump that makes a positive exchange cyclonic (inflow on the Hainan
#: side, outflow on the Vietnam side) with ψ increasing westward across northward flow.
CYCLONIC_SIGN = -1.0
#: Length of the seasonal cycle [s].
YEAR_PERIOD = 365.0 * DAY


class CirculationError(BarotropicError):
    """The gulf circulation recipe's parameters are invalid or do not fit the grid."""


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
    corners = solver.corner_index(jj, ii)
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
    params = read_toml(path, error=CirculationError)[0]
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
        raise CirculationError(unknown_name("season", season, seasons))
    table = seasons[season]
    section = params.get("section", {})
    lon = float(section.get("lon", 110.2))
    lat_range = tuple(section.get("lat_range", (19.9, 20.5)))
    try:
        solver = _solver(grid, float(table["friction_m_per_s"]))
    except BarotropicError as err:
        raise CirculationError(f"[season.{season}]: {err}") from err
    i, j0, j1 = strait_section(grid, lon=lon, lat_range=lat_range)
    hainan = int(solver.labels[j0, i])
    mainland = int(solver.labels[j1 + 1, i])
    if hainan < 0 or mainland < 0 or hainan == mainland:
        raise CirculationError(
            "the strait section does not join two distinct land bodies "
            "(Hainan to the south, the mainland to the north)"
        )
    q = np.zeros(grid.shape) if river_discharge is None else np.asarray(river_discharge, float)
    pot_u, _ = river_transports(grid, q)
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
    try:
        return solver.solve(
            tau_x=tau_x,
            tau_y=tau_y,
            fixed={mainland: 0.0, hainan: -through_psi},
            ports=ports,
            river_discharge=q,
            section_psi=section_psi,
        )
    except BarotropicError as err:  # the recipe's inputs made the generic problem ill-posed
        raise CirculationError(f"[season.{season}]: {err}") from err


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
    "CirculationError",
    "bulk_wind_stress",
    "coastal_band",
    "mouth_exchange_profile",
    "load_circulation_params",
    "residual_flow",
    "rim_direction",
    "seasonal_flow",
    "solve_season",
    "strait_section",
    "strait_transport",
]
