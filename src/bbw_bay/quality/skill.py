"""Model against observations: matching in space and climatological time, and skill statistics.

**Space.** An observation is matched to the wet cell that contains its point; a point in a land
cell (or just outside the grid) takes the nearest wet cell within ``max_distance_km``, and that
distance is reported. Farther points, and every point on a cartesian (x/y in metres) grid, are
not compared.

**Climatological time.** The model year is a climatology, so an observation is compared with
the model on the same days of the year, whatever its year: for steady states per season, the
seasons its sampling period overlaps, weighted by the days in each (a period of a year or more
weighs the four seasons by their length); for a run file, the mean of the records whose day of
the year lies in the period (the nearest record when none does). A run's first record is its
initial state and is left out when there are others.

**Statistics** of matched pairs (O observed, M model, Ō the mean of O; `skill`):

* bias = mean(M − O); RMSE = sqrt(mean((M − O)²))
* mean log ratio = mean(ln(M / O)) over pairs with both positive (0 = no bias; ln 2 = 0.69 means
  the model is twice the observation on average, in the geometric sense)
* correlation: Pearson's r (three pairs or more)
* Willmott skill d = 1 − Σ(M − O)² / Σ(|M − Ō| + |O − Ō|)² (Willmott 1981; 1 = perfect; two
  pairs or more)
* OSPAR cost function mean(|M − O| / σ) (Radach & Moll 2006; < 1 very good, 1–2 good,
  2–3 reasonable, > 3 poor), with σ the row's stated uncertainty, else the standard deviation
  of the observations of the group (two or more), else not computed.

Phases are compared on the circle: M − O is wrapped to (−180°, 180°]; ratios, correlation and
Willmott skill are not defined for them.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.core.grid import nearest_wet_cell
from bbw_bay.core.output import horizontal_dims
from bbw_bay.quality.observations import Observation
from bbw_bay.units import DAY, YEAR

#: Default largest distance [km] from a point to the wet cell it is compared with.
DEFAULT_MAX_DISTANCE_KM = 5.0
#: Days of each month in a common year, January first.
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: OSPAR cost-function classes (Radach & Moll 2006): upper bound -> label.
COST_CLASSES = ((1.0, "very good"), (2.0, "good"), (3.0, "reasonable"), (math.inf, "poor"))


# ----------------------------------------------------------------------------- space
@dataclass(frozen=True)
class CellMatch:
    """Where an observation sits on the model grid.

    Attributes
    ----------
    j, i : the matched wet cell (-1 when not matched)
    distance_km : distance from the point to the matched cell's centre when the point lies
        outside it (0 when the cell contains the point; NaN when not matched)
    status : "inside", "nearest wet cell", or why the point was not matched
    """

    j: int
    i: int
    distance_km: float
    status: str

    @property
    def ok(self) -> bool:
        """True when the point has a wet cell to compare with."""
        return self.j >= 0


def _containing(centres: np.ndarray, value: float) -> int:
    """Index of the cell whose extent holds ``value`` (-1 outside), regular centres."""
    if centres.size == 1:
        return 0
    step = abs(float(centres[1] - centres[0]))
    k = int(np.argmin(np.abs(centres - value)))
    return k if abs(float(centres[k]) - value) <= 0.5 * step * (1 + 1e-9) else -1


def match_cell(
    ds: xr.Dataset, lon: float, lat: float, *, max_distance_km: float = DEFAULT_MAX_DISTANCE_KM
) -> CellMatch:
    """Match one point [degrees] to a wet cell of a dataset with ``wet`` and lon/lat coordinates.

    The cell containing the point if it is wet; else the nearest wet cell if its centre is
    within ``max_distance_km``; else no match (status says why).
    """
    ydim, xdim, geographic = horizontal_dims(ds)
    if not geographic:
        return CellMatch(-1, -1, math.nan, "the grid is cartesian (x/y in m); points are lon/lat")
    x, y = ds[xdim].values, ds[ydim].values
    wet = np.asarray(ds["wet"].transpose(ydim, xdim).values, dtype=bool)
    j, i = _containing(y, lat), _containing(x, lon)
    if j >= 0 and i >= 0 and wet[j, i]:
        return CellMatch(j, i, 0.0, "inside")
    jn, i_n, dist = nearest_wet_cell(x, y, wet, lon, lat, geographic=True)
    km = dist / 1000.0
    if km <= max_distance_km:
        return CellMatch(int(jn), int(i_n), km, "nearest wet cell")
    where = "on land" if j >= 0 and i >= 0 else "outside the grid"
    return CellMatch(
        -1,
        -1,
        km,
        f"{where}; the nearest wet cell is {km:.1f} km away (> {max_distance_km:g} km)",
    )


def smallest_region(masks: Mapping[str, np.ndarray], j: int, i: int) -> str:
    """Key of the smallest (fewest cells) region mask that holds cell (j, i); "" if none."""
    holding = [(int(np.count_nonzero(m)), k) for k, m in masks.items() if m[j, i]]
    return min(holding)[1] if holding else ""


# ----------------------------------------------------------------------------- time
def day_of_year(date: dt.date) -> int:
    """0-based day of the year (1 January = 0)."""
    return date.timetuple().tm_yday - 1


def season_weights(obs: Observation, months: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """{season: share of the observation's days in it} (sums to 1 over the overlapped seasons).

    ``months`` maps each season to its months (1..12), e.g. the circulation's
    ``{"winter": (12, 1, 2), ...}``. A period of 365 days or more weighs every season by its
    length in a common year.
    """
    by_month = {m: s for s, ms in months.items() for m in ms}
    counts: dict[str, float] = dict.fromkeys(months, 0.0)
    if obs.days >= 365:
        for m, n in enumerate(MONTH_DAYS, start=1):
            if m in by_month:
                counts[by_month[m]] += n
    else:
        day = obs.start
        while day <= obs.end:
            if day.month in by_month:
                counts[by_month[day.month]] += 1
            day += dt.timedelta(days=1)
    total = sum(counts.values())
    return {s: c / total for s, c in counts.items() if c > 0} if total else {}


def record_days(ds: xr.Dataset) -> np.ndarray:
    """Day of the year [0, 365.25) of each record of a run dataset."""
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.datetime64):
        seconds = (t - np.datetime64("2000-01-01T00:00:00")) / np.timedelta64(1, "s")
    else:
        seconds = np.asarray(t, dtype=float)
    days = np.mod(np.asarray(seconds, dtype=float), YEAR) / DAY
    return np.where(days > YEAR / DAY - 1e-6, 0.0, days)  # a full year is 1 January again


def record_weights(days: np.ndarray, obs: Observation) -> tuple[np.ndarray, str]:
    """(weights over the records, description): the records inside the observation's days of
    the year, equally weighted; the nearest record (circular distance) if none is inside."""
    days = np.asarray(days, dtype=float)
    use = np.ones(days.size, dtype=bool)
    if days.size > 1:
        use[0] = False  # the initial state
    if obs.days >= 365:
        inside = use.copy()
    else:
        a, b = day_of_year(obs.start), day_of_year(obs.end) + 1.0
        inside = (days >= a) & (days < b) if a < b else (days >= a) | (days < b)
        inside &= use
    if inside.any():
        w = inside / inside.sum()
        picked = np.flatnonzero(inside)
        return (
            w,
            f"mean of {picked.size} record(s), day {days[picked[0]]:.0f}-{days[picked[-1]]:.0f}",
        )
    middle = day_of_year(obs.start) + 0.5 * (obs.days - 1)
    gap = np.abs((days - middle + 0.5 * 365.25) % 365.25 - 0.5 * 365.25)
    gap[~use] = np.inf
    k = int(np.argmin(gap))
    w = np.zeros(days.size)
    w[k] = 1.0
    return w, f"no record inside the period; nearest record day {days[k]:.0f} ({gap[k]:.0f} d away)"


def describe_weights(weights: Mapping[str, float]) -> str:
    """ "winter 0.67 + spring 0.33" (a single season by its name)."""
    if len(weights) == 1:
        return next(iter(weights))
    return " + ".join(f"{s} {w:.2f}" for s, w in weights.items())


# ----------------------------------------------------------------------------- statistics
def wrap_degrees(d: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to (−180, 180] degrees."""
    d = np.mod(np.asarray(d, dtype=float) + 180.0, 360.0) - 180.0
    return np.where(d == -180.0, 180.0, d)


def cost_class(cost: float) -> str:
    """OSPAR label of a cost-function value ("" for NaN)."""
    if not np.isfinite(cost):
        return ""
    return next(label for bound, label in COST_CLASSES if cost < bound)


def skill(
    observed: Sequence[float],
    model: Sequence[float],
    sigma: Sequence[float] | None = None,
    *,
    circular: bool = False,
) -> dict[str, float | int | str]:
    """Skill of model values against observed ones (definitions in the module docstring).

    Parameters
    ----------
    observed, model : paired values (same units); pairs with a non-finite member are dropped
    sigma : per pair, the σ of the cost function; where None, NaN or 0, the standard deviation
        of ``observed`` (two pairs or more) stands in
    circular : values are angles [degrees] (phases)

    Returns
    -------
    dict with n, bias, rmse, mean_log_ratio, correlation, willmott, cost, cost_n, cost_class
    (NaN where a statistic is not defined for the pairs)
    """
    o = np.asarray(observed, dtype=float)
    m = np.asarray(model, dtype=float)
    s = np.full(o.shape, np.nan) if sigma is None else np.asarray(sigma, dtype=float)
    keep = np.isfinite(o) & np.isfinite(m)
    o, m, s = o[keep], m[keep], s[keep]
    out: dict[str, float | int | str] = {"n": int(o.size)}
    nan = math.nan
    out.update(bias=nan, rmse=nan, mean_log_ratio=nan, correlation=nan, willmott=nan)
    out.update(cost=nan, cost_n=0, cost_class="")
    if o.size == 0:
        return out
    diff = wrap_degrees(m - o) if circular else m - o
    out["bias"] = float(diff.mean())
    out["rmse"] = float(np.sqrt(np.mean(diff**2)))
    if not circular:
        positive = (o > 0) & (m > 0)
        if positive.any():
            out["mean_log_ratio"] = float(np.mean(np.log(m[positive] / o[positive])))
        if o.size >= 3 and o.std() > 0 and m.std() > 0:
            out["correlation"] = float(np.corrcoef(o, m)[0, 1])
        denominator = float(np.sum((np.abs(m - o.mean()) + np.abs(o - o.mean())) ** 2))
        if o.size >= 2 and denominator > 0:
            out["willmott"] = 1.0 - float(np.sum(diff**2)) / denominator
    spread = float(o.std(ddof=1)) if o.size >= 2 else 0.0
    s = np.where(np.isfinite(s) & (s > 0), s, spread if spread > 0 else np.nan)
    usable = np.isfinite(s) & (s > 0)
    if usable.any():
        out["cost"] = float(np.mean(np.abs(diff[usable]) / s[usable]))
        out["cost_n"] = int(usable.sum())
        out["cost_class"] = cost_class(float(out["cost"]))
    return out


# ----------------------------------------------------------------------------- comparisons
@dataclass
class Comparison:
    """One observation and the model value it was compared with.

    Attributes
    ----------
    observation : the observation
    model : model value in the observation's unit (NaN when not compared)
    region : the region the row counts for (zone key, gulf_proper, or "")
    match : where it sits on the grid
    basis : what the model value is (season weights, records, constituent, region timescale)
    status : "compared", or "not compared: <why>"
    """

    observation: Observation
    model: float = math.nan
    region: str = ""
    match: CellMatch | None = None
    basis: str = ""
    status: str = "compared"
    extra: dict = field(default_factory=dict)

    @property
    def cell(self) -> tuple[int, int]:
        """(j, i) of the matched wet cell (ValueError when the row has no match)."""
        if self.match is None or not self.match.ok:
            raise ValueError(f"observation {self.observation.id!r} has no matched cell")
        return self.match.j, self.match.i

    @property
    def compared(self) -> bool:
        """True when the row has a model value."""
        return self.status == "compared" and np.isfinite(self.model)

    @property
    def observed(self) -> float:
        """The observed value."""
        return self.observation.value

    @property
    def circular(self) -> bool:
        """True for phases."""
        return self.observation.kind == "tide_phase"

    @property
    def difference(self) -> float:
        """model − observed (wrapped to (−180, 180] for phases)."""
        d = self.model - self.observed
        return float(wrap_degrees(d)) if self.circular else d

    @property
    def ratio(self) -> float:
        """model / observed (NaN for phases and zero observations)."""
        if self.circular or self.observed == 0:
            return math.nan
        return self.model / self.observed

    @property
    def distance_km(self) -> float:
        """Distance to the matched cell (see `CellMatch`)."""
        return self.match.distance_km if self.match is not None else math.nan


#: Columns of `comparison_rows` (and of ``bbw-bay validate --csv``).
CSV_COLUMNS = (
    "id",
    "variable",
    "observed",
    "model",
    "ratio",
    "distance_km",
    "difference",
    "unit",
    "uncertainty",
    "region",
    "source",
    "lon",
    "lat",
    "start",
    "end",
    "basis",
    "status",
)


def _fmt(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.6g}"


def comparison_rows(comparisons: Iterable[Comparison]) -> list[dict[str, str]]:
    """One dict of text per comparison, keys `CSV_COLUMNS`."""
    rows = []
    for c in comparisons:
        o = c.observation
        rows.append(
            {
                "id": o.id,
                "variable": o.variable,
                "observed": _fmt(o.value),
                "model": _fmt(c.model) if c.compared else "",
                "ratio": _fmt(c.ratio) if c.compared else "",
                "distance_km": _fmt(c.distance_km),
                "difference": _fmt(c.difference) if c.compared else "",
                "unit": o.unit,
                "uncertainty": _fmt(o.uncertainty) if o.uncertainty is not None else "",
                "region": c.region,
                "source": o.source,
                "lon": _fmt(o.lon),
                "lat": _fmt(o.lat),
                "start": o.start.isoformat(),
                "end": o.end.isoformat(),
                "basis": c.basis,
                "status": c.status,
            }
        )
    return rows


def write_csv(comparisons: Iterable[Comparison], path: str | os.PathLike) -> Path:
    """Write `comparison_rows` as UTF-8 CSV to ``path`` (callers wanting an atomic write pass a
    temporary name, see `bbw_bay.core.output.atomic_write`); returns the path."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(comparison_rows(comparisons))
    return path


def summarise(
    comparisons: Sequence[Comparison], *, by: Sequence[str] = ("variable", "region")
) -> list[dict]:
    """Skill per group of compared rows: one dict per group with the group keys, ``unit`` and
    the `skill` statistics. ``by`` names Comparison fields: "variable", "region", "source".
    A group of every region of a variable ("all") follows its regions when there are several."""

    def key(c: Comparison) -> tuple[str, ...]:
        values = {"variable": c.observation.variable, "region": c.region or "-"}
        values["source"] = c.observation.source
        return tuple(values[k] for k in by)

    used = [c for c in comparisons if c.compared]
    groups: dict[tuple[str, ...], list[Comparison]] = {}
    for c in sorted(used, key=lambda c: key(c)):
        groups.setdefault(key(c), []).append(c)
    if "region" in by and "variable" in by:
        position = by.index("region")
        variables: dict[str, list[Comparison]] = {}
        for c in used:
            variables.setdefault(c.observation.variable, []).append(c)
        for members in variables.values():
            if len({c.region for c in members}) > 1:
                every = list(key(members[0]))
                every[position] = "all"
                groups[tuple(every)] = members
    out = []
    for k in sorted(groups, key=lambda k: tuple(x if x != "all" else "~" for x in k)):
        members = groups[k]
        sigma = [
            c.observation.uncertainty if c.observation.uncertainty else math.nan for c in members
        ]
        stats = skill(
            [c.observed for c in members],
            [c.model for c in members],
            sigma,
            circular=members[0].circular,
        )
        out.append({**dict(zip(by, k, strict=True)), "unit": members[0].observation.unit, **stats})
    return out


def not_compared(comparisons: Iterable[Comparison]) -> dict[str, list[str]]:
    """{reason: [row ids]} of the rows that were not compared."""
    out: dict[str, list[str]] = {}
    for c in comparisons:
        if not c.compared:
            out.setdefault(c.status.removeprefix("not compared: "), []).append(c.observation.id)
    return out


__all__ = [
    "COST_CLASSES",
    "CSV_COLUMNS",
    "CellMatch",
    "Comparison",
    "DEFAULT_MAX_DISTANCE_KM",
    "comparison_rows",
    "cost_class",
    "day_of_year",
    "describe_weights",
    "match_cell",
    "not_compared",
    "record_days",
    "record_weights",
    "season_weights",
    "skill",
    "smallest_region",
    "summarise",
    "wrap_degrees",
    "write_csv",
]
