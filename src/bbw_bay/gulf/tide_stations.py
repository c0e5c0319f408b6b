"""Tide stations: cited harmonic constants, model-minus-observed comparison, mean tidal range,
and the calibration of the open-boundary constants against the stations.

The stations are the ``[[station]]`` tables of `forcing/tides.toml`. Each has a ``use``:

* ``calibration``: a target of `calibrate_boundary`;
* ``hold-out``: compared with the model (`compare_stations`), never fitted;
* ``prior``: a gauge outside the grid; it only sets the prior of the boundary values.

Calibration (`calibrate_boundary`). With the friction held fixed, one constituent's solve is
linear in the complex values c_k = A_k e^{−iG_k} of the boundary control points (the boundary is
their inverse-distance-weighted combination, `bbw_bay.gulf.tides.boundary_from_points`). With
R[s, k] the elevation at station s for a unit value at point k alone (one solve per point), the
model is η_s = Σ_k R[s, k] c_k, and the fit minimises

    Σ_s |η_s − o_s|² / σ_s² + Σ_k |c_k − p_k|² / σ_p²

over complex c (a linear Bayesian inversion with Gaussian prior p_k, the values interpolated to
the points from the ``prior`` stations by the same weighting). The friction depends on the
currents and so on c: each pass refits with the friction of the previous pass's boundary.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bbw_bay.core.grid import Grid
from bbw_bay.errors import BadInputError
from bbw_bay.gulf.tides import (
    CONSTITUENT_SPEEDS,
    DEFAULT_CONSTITUENTS,
    TidalSolution,
    idw_weights,
    read_tides_file,
    solve_constituents,
    solve_tide,
)
from bbw_bay.units import DAY

log = logging.getLogger(__name__)

#: The station roles of `forcing/tides.toml` (``use`` key).
USES = ("calibration", "hold-out", "prior")
#: Default standard deviation of a station's complex misfit |η − o| in the calibration [m]: the
#: structural error of a linear 1/30° solver at a coastal gauge 1–3 km from its 3 m-deep cell.
SIGMA_STATION = 0.05
#: Default prior standard deviation of a boundary value [m]: the open-shelf gauges are 250–300 km
#: from the boundary points, where the diurnal constants vary by ~30 % and ~30°.
SIGMA_PRIOR = 0.10
#: Default calibration passes (friction updated between passes; the second changes the values
#: by < 0.003 m and < 1° on the gulf grid).
PASSES = 2


class StationError(BadInputError):
    """A tide station or calibration input is invalid."""


@dataclass(frozen=True)
class TideStation:
    """A tide gauge with cited harmonic constants.

    Attributes
    ----------
    name : station name
    lon, lat : position [degrees] (or [m] on a cartesian grid)
    use : one of `USES`
    constants : {constituent: A e^{−iG}} complex amplitude [m], G the Greenwich phase lag
    mean_range_m : published mean tidal range [m], or None
    source : provenance text
    """

    name: str
    lon: float
    lat: float
    use: str
    constants: Mapping[str, complex] = field(default_factory=dict)
    mean_range_m: float | None = None
    source: str = ""


def complex_amplitude(amplitude_m: float, phase_deg: float) -> complex:
    """A e^{−iG} [m] from amplitude A [m] and Greenwich phase lag G [degrees]."""
    return complex(amplitude_m * np.exp(-1j * np.deg2rad(phase_deg)))


def read_stations(path: str | None = None) -> tuple[TideStation, ...]:
    """The ``[[station]]`` tables of `forcing/tides.toml` (or ``path``) as `TideStation` s."""
    out = []
    for n, row in enumerate(read_tides_file(path).get("station", [])):
        where = f"tides file [[station]] {n} ({row.get('name', '?')!r})"
        use = row.get("use", "hold-out")
        if use not in USES:
            raise StationError(f"{where}: use must be one of {', '.join(USES)}; found {use!r}")
        constants = {}
        for c in CONSTITUENT_SPEEDS:
            if c in row:
                amp, phase = row[c]["amplitude_m"], row[c]["phase_deg"]
                if not amp >= 0:
                    raise StationError(f"{where}: {c}.amplitude_m must be >= 0; found {amp!r}")
                constants[c] = complex_amplitude(amp, phase)
        out.append(
            TideStation(
                name=row["name"],
                lon=float(row["lon"]),
                lat=float(row["lat"]),
                use=use,
                constants=constants,
                mean_range_m=row.get("mean_range_m"),
                source=row.get("source", ""),
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class StationComparison:
    """Model against observed constants of one constituent at one station.

    ``observed`` and ``model`` are complex amplitudes A e^{−iG} [m]; ``distance_km`` is the
    distance from the station to the wet cell compared.
    """

    station: str
    use: str
    constituent: str
    observed: complex
    model: complex
    distance_km: float

    @property
    def amplitude_error(self) -> float:
        """Model − observed amplitude [m]."""
        return abs(self.model) - abs(self.observed)

    @property
    def phase_error(self) -> float:
        """Model − observed Greenwich phase lag [degrees], wrapped to [−180, 180)."""
        lag = np.angle(self.observed, deg=True) - np.angle(self.model, deg=True)
        return float((lag + 180.0) % 360.0 - 180.0)

    @property
    def complex_error(self) -> float:
        """|model − observed| [m]: amplitude and phase error in one number (what is fitted)."""
        return abs(self.model - self.observed)


def compare_stations(
    grid: Grid,
    stations: Sequence[TideStation] | None = None,
    *,
    solutions: Mapping[str, TidalSolution] | None = None,
) -> list[StationComparison]:
    """Model − observed for every constituent of every station that is not a ``prior`` gauge.

    The model value is the one in the nearest wet cell. ``solutions`` default to the shipped
    tide of ``grid`` (`bbw_bay.gulf.tides.solve_tide`).
    """
    stations = read_stations() if stations is None else stations
    rows = []
    for st in stations:
        if st.use == "prior":
            continue
        j, i, dist = grid.nearest_wet(st.lon, st.lat)
        for c, observed in st.constants.items():
            sol = solutions[c] if solutions is not None else solve_tide(grid, c)
            model = complex(sol.eta[j, i])
            rows.append(StationComparison(st.name, st.use, c, observed, model, dist / 1e3))
    return rows


def mean_range(
    constants: Mapping[str, complex],
    *,
    definition: str = "extremes",
    days: float = 365.0,
    step_s: float = 600.0,
) -> float:
    """Mean tidal range [m] of a harmonic series η(t) = Σ Re(z_n e^{iω_n t}).

    ``definition``: "extremes", the mean |HW − LW| of all successive extremes (the 平均潮差 of
    Chinese tide tables: the mean of all rises and falls; each extreme refined by a parabola
    through its three samples), or "daily", the mean over calendar days of (max − min). The
    series is sampled every ``step_s`` over ``days``. For one constituent of amplitude A both
    are 2A; for two equal ones of slowly differing speed "extremes" is (8/π) A. In a mixed
    diurnal tide "daily" is the larger: it skips the small secondary rises and falls.
    """
    unknown = [c for c in constants if c not in CONSTITUENT_SPEEDS]
    if unknown:
        raise StationError(f"mean_range: unknown constituents {unknown}")
    if definition not in ("extremes", "daily"):
        raise StationError(
            f"mean_range: definition must be 'extremes' or 'daily'; got {definition!r}"
        )
    t = np.arange(0.0, days * DAY, step_s)
    eta = sum(np.real(z * np.exp(1j * CONSTITUENT_SPEEDS[c] * t)) for c, z in constants.items())
    eta = np.asarray(eta, dtype=float)
    if definition == "daily":
        per_day = int(round(DAY / step_s))
        whole = eta[: (eta.size // per_day) * per_day].reshape(-1, per_day)
        return float(np.mean(whole.max(axis=1) - whole.min(axis=1)))
    slope = np.diff(eta)
    k = np.nonzero(slope[1:] * slope[:-1] < 0)[0] + 1
    if k.size < 2:
        raise StationError("mean_range: the series has fewer than two turning points")
    # each extreme refined by the parabola through its 3 samples (error O((ω Δt)⁴))
    curv = eta[k + 1] - 2.0 * eta[k] + eta[k - 1]
    extreme = eta[k] - (eta[k + 1] - eta[k - 1]) ** 2 / (8.0 * curv)
    return float(np.mean(np.abs(np.diff(extreme))))


# ---------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class BoundaryCalibration:
    """Boundary control-point values fitted to tide stations (`calibrate_boundary`).

    Attributes
    ----------
    names, lon, lat : the control points
    values, prior : {constituent: (n_points,) complex [m]} fitted and prior values
    targets : names of the calibration stations
    leave_one_out : {station: {constituent: complex [m]}} each target's model value when it is
        left out of the fit (responses of the final pass)
    sigma_station_m, sigma_prior_m, passes : the settings used
    """

    names: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    values: dict[str, np.ndarray]
    prior: dict[str, np.ndarray]
    targets: tuple[str, ...]
    leave_one_out: dict[str, dict[str, complex]]
    sigma_station_m: float
    sigma_prior_m: float
    passes: int

    def points(self, which: str = "values") -> list[dict]:
        """Control points as `forcing/tides.toml` ``[[boundary]]`` mappings (``which``:
        "values" or "prior"), for `bbw_bay.gulf.tides.boundary_from_points`."""
        table = self.values if which == "values" else self.prior
        out = []
        for k, name in enumerate(self.names):
            point: dict = {"name": name, "lon": float(self.lon[k]), "lat": float(self.lat[k])}
            for c, z in table.items():
                phase = float(np.mod(-np.angle(z[k], deg=True), 360.0))
                point[c] = {"amplitude_m": float(abs(z[k])), "phase_deg": phase}
            out.append(point)
        return out

    def to_toml(self) -> str:
        """The ``[[boundary]]`` tables of `forcing/tides.toml` for these values (3 decimals in
        amplitude, 1 in phase), each ``source`` naming the fit and the point's prior value."""
        blocks = []
        prior = {p["name"]: p for p in self.points("prior")}
        for p in self.points():
            lines = ["[[boundary]]", f'name = "{p["name"]}"', f"lon = {p['lon']}"]
            lines.append(f"lat = {p['lat']}")
            was = []
            for c in self.values:
                a, g = p[c]["amplitude_m"], p[c]["phase_deg"]
                lines.append(f"{c} = {{ amplitude_m = {a:.3f}, phase_deg = {g:.1f} }}")
                q = prior[p["name"]][c]
                was.append(f"{c} {q['amplitude_m']:.3f} m / {q['phase_deg']:.1f} deg")
            lines.append(
                f'source = "calibrated: least-squares fit to {", ".join(self.targets)} '
                f"(sigma {self.sigma_station_m:g} m per station, prior sigma "
                f"{self.sigma_prior_m:g} m, {self.passes} passes; see [calibration]); prior "
                f'(IDW of the prior stations): {"; ".join(was)}"'
            )
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"


def _basis(lon: np.ndarray, lat: np.ndarray, k: int):
    return lambda x, y: idw_weights(lon, lat, x, y)[..., k].astype(complex)


def _fit(response: np.ndarray, observed: np.ndarray, prior: np.ndarray, sd: float, sp: float):
    """argmin_c |R c − o|²/sd² + |c − p|²/sp² (complex, by stacked least squares)."""
    a = np.vstack([response / sd, np.eye(prior.size) / sp])
    b = np.concatenate([observed / sd, prior / sp])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def calibrate_boundary(
    grid: Grid,
    points: Sequence[Mapping],
    stations: Sequence[TideStation],
    *,
    constituents: Sequence[str] = DEFAULT_CONSTITUENTS,
    prior: Mapping[str, np.ndarray] | None = None,
    sigma_station_m: float = SIGMA_STATION,
    sigma_prior_m: float = SIGMA_PRIOR,
    passes: int = PASSES,
) -> BoundaryCalibration:
    """Fit the complex boundary values at ``points`` to the ``calibration`` stations.

    Parameters
    ----------
    grid : the grid whose open boundaries the points serve
    points : mappings with ``name``, ``lon``, ``lat`` (e.g. ``[[boundary]]`` of tides.toml;
        any constituent values in them are ignored)
    stations : tide stations; those with use ``calibration`` are fitted, ``prior`` ones set the
        prior by inverse-distance weighting to the points (unless ``prior`` is given)
    constituents : constituents fitted (they share one iterated friction)
    prior : {constituent: (n_points,) complex [m]} prior values, overriding the prior stations
    sigma_station_m, sigma_prior_m : standard deviations of station misfit and prior [m]
    passes : fits, each with the friction of the previous boundary (the first: the prior's)

    Returns
    -------
    BoundaryCalibration ; the fit is described in the module docstring.
    """
    if not (sigma_station_m > 0 and sigma_prior_m > 0 and passes >= 1):
        raise StationError(
            "need sigma_station_m > 0, sigma_prior_m > 0 and passes >= 1; got "
            f"{sigma_station_m}, {sigma_prior_m}, {passes}"
        )
    names = tuple(str(p["name"]) for p in points)
    lon = np.array([p["lon"] for p in points], dtype=float)
    lat = np.array([p["lat"] for p in points], dtype=float)
    targets = [s for s in stations if s.use == "calibration"]
    if not targets:
        raise StationError("calibrate_boundary: no station has use = 'calibration'")
    if prior is None:
        prior = _prior_from_stations([s for s in stations if s.use == "prior"], lon, lat)
    prior_values = {c: np.asarray(prior[c], dtype=complex) for c in constituents}
    cells = [grid.nearest_wet(s.lon, s.lat)[:2] for s in targets]
    values = dict(prior_values)
    for n in range(passes):
        sols = solve_constituents(grid, {c: _boundary(lon, lat, values[c]) for c in constituents})
        friction = sols[constituents[0]].friction
        response = {c: _responses(grid, c, friction, lon, lat, cells) for c in constituents}
        observed = {c: np.array([s.constants[c] for s in targets]) for c in constituents}
        values = {
            c: _fit(response[c], observed[c], prior_values[c], sigma_station_m, sigma_prior_m)
            for c in constituents
        }
        log.info("boundary calibration pass %d of %d on %s", n + 1, passes, grid.describe())
    sd, sp = sigma_station_m, sigma_prior_m
    loo: dict[str, dict[str, complex]] = {}
    for m, st in enumerate(targets):
        keep = [q for q in range(len(targets)) if q != m]
        loo[st.name] = {
            c: complex(
                response[c][m] @ _fit(response[c][keep], observed[c][keep], prior_values[c], sd, sp)
            )
            for c in constituents
        }
    return BoundaryCalibration(
        names=names,
        lon=lon,
        lat=lat,
        values=values,
        prior=prior_values,
        targets=tuple(s.name for s in targets),
        leave_one_out=loo,
        sigma_station_m=sigma_station_m,
        sigma_prior_m=sigma_prior_m,
        passes=passes,
    )


def _boundary(lon: np.ndarray, lat: np.ndarray, values: np.ndarray):
    return lambda x, y: idw_weights(lon, lat, x, y) @ values


def _responses(grid, constituent, friction, lon, lat, cells) -> np.ndarray:
    """(n_stations, n_points) complex elevation at each cell for a unit value at each point."""
    out = np.zeros((len(cells), lon.size), dtype=complex)
    for k in range(lon.size):
        sol = solve_tide(grid, constituent, boundary=_basis(lon, lat, k), friction=friction)
        out[:, k] = [sol.eta[j, i] for j, i in cells]
    return out


def _prior_from_stations(prior_stations, lon, lat) -> dict[str, np.ndarray]:
    if not prior_stations:
        raise StationError("calibrate_boundary: no 'prior' station and no prior given")
    slon = np.array([s.lon for s in prior_stations])
    slat = np.array([s.lat for s in prior_stations])
    weights = idw_weights(slon, slat, lon, lat)  # (n_points, n_prior_stations)
    common = set.intersection(*(set(s.constants) for s in prior_stations))
    return {c: weights @ np.array([s.constants[c] for s in prior_stations]) for c in common}


def phase_deg(z: complex) -> float:
    """Greenwich phase lag G [degrees, 0–360) of a complex amplitude A e^{−iG}."""
    return float(math.degrees(-np.angle(z)) % 360.0)
