"""Pollution loads: the cited source table (``forcing/sources.toml``) and boundary backgrounds.

The TOML files keep units at the edge (t/yr, m³/s, mg/L); :func:`read_sources` converts loads to
g/s once with :data:`bbw_bay.units.TONNE_PER_YEAR` and monthly fractions to monthly factors
(fraction × 12, mean 1). Every number in the files must carry a citation or an
``estimate: <method>`` label; validation errors name the file, the source (index and name), the
key and what was expected.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bbw_bay.core.inputs import check_source_names
from bbw_bay.core.sources import PointSource
from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.gulf.data import forcing_path, read_toml
from bbw_bay.units import TONNE_PER_YEAR

log = logging.getLogger(__name__)

#: Tracers the model carries; COD is the GB 3097 (alkaline-permanganate) COD.
TRACERS = ("DIN", "PO4", "COD", "oil")
#: Extra load keys kept for reference only (not passed to the model).
REFERENCE_LOADS = ("COD_Cr",)
#: Upper bounds [t/yr] above which a load is treated as a typo (the Red River, the gulf's largest
#: input, is of order 1e5 t/yr DIN and 1e6 t/yr COD_Cr).
MAX_LOAD_T_PER_YR = {"DIN": 1e6, "PO4": 1e5, "COD": 1e7, "COD_Cr": 1e7, "oil": 1e5}
#: Largest credible mean discharge [m³/s] (the Amazon is ~2e5; the Red River ~4e3).
MAX_DISCHARGE_M3_PER_S = 1e5
#: Domain box of the shipped geographic data [degrees].
LON_RANGE = (105.0, 113.0)
LAT_RANGE = (16.0, 23.5)
KINDS = ("river", "outfall")
PROVINCES = ("Guangxi", "Guangdong", "Hainan", "Vietnam")
#: Seasons of the open-boundary background (forcing/boundary.toml): winter (Oct-Mar), summer
#: (Apr-Sep) and the annual mean; not the four circulation seasons of `bbw_bay.units.SEASONS`.
BACKGROUND_SEASONS = ("winter", "summer", "annual")

_REQUIRED = (
    "name",
    "kind",
    "province",
    "lon",
    "lat",
    "discharge_m3_per_s",
    "loads_t_per_yr",
    "citations",
)
_OPTIONAL = ("name_zh", "name_vi", "receiving_water", "notes", "monthly_discharge_fraction")
_TEXT = ("name", "name_zh", "name_vi", "receiving_water", "notes")


class LoadsError(BadInputError):
    """A sources or boundary file is malformed, implausible or lacks a citation."""


def _resolve(path: str | os.PathLike | None, name: str) -> Path:
    return forcing_path(name) if path is None else Path(path)


def _load_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, error=LoadsError, invalid="not valid TOML")[0]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_citation(where: str, key: str, citations: Mapping[str, Any]) -> None:
    text = citations.get(key)
    if not isinstance(text, str) or not text.strip():
        raise LoadsError(
            f"{where}: number {key!r} has no citation; expected citations.{key} = "
            '"<publication>" or "estimate: <method>"'
        )
    body = text.strip()
    if body.lower().startswith("estimate") and len(body.rstrip(".:; ")) <= len("estimate"):
        raise LoadsError(
            f"{where}: citations.{key} says 'estimate' without the method; expected "
            '"estimate: <how it was estimated>"'
        )


def _check_unknown(where: str, keys: Sequence[str], allowed: Sequence[str]) -> None:
    for key in keys:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise LoadsError(f"{where}: unknown key {key!r}{hint}; allowed: {sorted(allowed)}")


def _validate_source(where: str, row: Mapping[str, Any]) -> None:
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        raise LoadsError(f"{where}: missing key(s) {missing}; every source needs {list(_REQUIRED)}")
    _check_unknown(where, list(row), _REQUIRED + _OPTIONAL)
    for key in _TEXT:
        if key in row and not isinstance(row[key], str):
            raise LoadsError(f"{where}: {key} must be a string, got {row[key]!r}")
    if "name_zh" not in row and "name_vi" not in row:
        raise LoadsError(f"{where}: needs a local name, name_zh (Chinese) or name_vi (Vietnamese)")
    if row["kind"] not in KINDS:
        raise LoadsError(
            f"{where}: kind must be one of {list(KINDS)}, got {row['kind']!r}"
            + did_you_mean(row["kind"], KINDS)
        )
    if row["province"] not in PROVINCES:
        raise LoadsError(
            f"{where}: province must be one of {list(PROVINCES)}, got {row['province']!r}"
            + did_you_mean(row["province"], PROVINCES)
        )
    cit = row["citations"]
    if not isinstance(cit, Mapping):
        raise LoadsError(f"{where}: citations must be a table [source.citations]")
    for key, (lo, hi) in (("lon", LON_RANGE), ("lat", LAT_RANGE)):
        value = row[key]
        if not _is_number(value) or not lo <= value <= hi:
            raise LoadsError(
                f"{where}: {key} must be a number in [{lo}, {hi}] degrees "
                f"(the bbw_bay domain), got {value!r}"
            )
    _check_citation(where, "position", cit)
    q = row["discharge_m3_per_s"]
    if not _is_number(q) or not 0 <= q <= MAX_DISCHARGE_M3_PER_S:
        raise LoadsError(
            f"{where}: discharge_m3_per_s must be a number in "
            f"[0, {MAX_DISCHARGE_M3_PER_S:g}] m³/s, got {q!r}"
        )
    _check_citation(where, "discharge", cit)
    if "monthly_discharge_fraction" in row:
        frac = row["monthly_discharge_fraction"]
        if (
            not isinstance(frac, list)
            or len(frac) != 12
            or not all(map(_is_number, frac))
            or any(f < 0 for f in frac)
        ):
            raise LoadsError(
                f"{where}: monthly_discharge_fraction must be 12 numbers >= 0 "
                f"(Jan..Dec), got {frac!r}"
            )
        if abs(math.fsum(frac) - 1.0) > 1e-6:
            raise LoadsError(
                f"{where}: monthly_discharge_fraction must sum to 1 within 1e-6, "
                f"sums to {math.fsum(frac):.9f}"
            )
        _check_citation(where, "monthly_discharge_fraction", cit)
    loads = row["loads_t_per_yr"]
    if not isinstance(loads, Mapping):
        raise LoadsError(f"{where}: loads_t_per_yr must be a table [source.loads_t_per_yr]")
    missing = [t for t in TRACERS if t not in loads]
    if missing:
        raise LoadsError(
            f"{where}: loads_t_per_yr lacks {missing}; expected all of {list(TRACERS)}"
        )
    _check_unknown(f"{where} loads_t_per_yr", list(loads), TRACERS + REFERENCE_LOADS)
    for tracer, value in loads.items():
        cap = MAX_LOAD_T_PER_YR[tracer]
        if not _is_number(value) or not 0 <= value <= cap:
            raise LoadsError(
                f"{where}: loads_t_per_yr.{tracer} must be a number in [0, {cap:g}] "
                f"t/yr, got {value!r}"
            )
        _check_citation(where, tracer, cit)
    numbered = {"position", "discharge", *loads}
    if "monthly_discharge_fraction" in row:
        numbered.add("monthly_discharge_fraction")
    extra = sorted(set(cit) - numbered)
    if extra:
        raise LoadsError(
            f"{where}: citations for {extra}, which are not numbers of this source "
            f"(cited numbers: {sorted(numbered)})"
        )


def read_source_table(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Validated raw rows of a sources file, citations included (for reports).

    Parameters
    ----------
    path : sources TOML; None reads the shipped ``forcing/sources.toml``.

    Returns
    -------
    list of dicts with the file's keys (loads in t/yr, discharge in m³/s, lon/lat in degrees).
    """
    file = _resolve(path, "sources.toml")
    data = _load_toml(file)
    rows = data.get("source")
    if not isinstance(rows, list) or not rows:
        raise LoadsError(f"{file}: expected one or more [[source]] tables")
    _check_unknown(str(file), [k for k in data if k != "source"], [])
    for k, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise LoadsError(f"{file}: source[{k}] must be a table ([[source]])")
        _validate_source(f"{file}: source[{k}] {row.get('name', '<no name>')!r}", row)
    check_source_names([row["name"] for row in rows], where=str(file), error=LoadsError)
    return [dict(row) for row in rows]


def monthly_factors(fractions: Sequence[float]) -> tuple[float, ...]:
    """Monthly multipliers (mean 1) from 12 monthly fractions of the annual total (sum 1)."""
    return tuple(12.0 * f for f in fractions)


def to_point_source(row: Mapping[str, Any], *, snap: bool = True) -> PointSource:
    """One validated table row as a :class:`PointSource` (loads in g/s, x = lon, y = lat)."""
    loads = {t: float(row["loads_t_per_yr"][t]) * TONNE_PER_YEAR for t in TRACERS}
    factors = None
    if "monthly_discharge_fraction" in row:
        factors = monthly_factors(row["monthly_discharge_fraction"])
    return PointSource(
        name=row["name"],
        x=float(row["lon"]),
        y=float(row["lat"]),
        loads=loads,
        discharge=float(row["discharge_m3_per_s"]),
        groups=(row["province"], row["kind"], row["name"]),
        monthly_load_factor=factors,
        monthly_discharge_factor=factors,
        snap=snap,
        geographic=True,
    )


def read_sources(path: str | os.PathLike | None = None, *, snap: bool = True) -> list[PointSource]:
    """The sources of a TOML file as model point sources.

    Parameters
    ----------
    path : sources TOML; None reads the shipped ``forcing/sources.toml``.
    snap : let a source on land move to the nearest wet cell (with a warning) when placed.

    Returns
    -------
    list of PointSource with loads of DIN, PO4, COD, oil in g/s, discharge in m³/s, groups
    ``(province, kind, name)`` and monthly factors (mean 1) where the file gives fractions.
    """
    rows = read_source_table(path)
    log.info("read %d pollution sources from %s", len(rows), _resolve(path, "sources.toml"))
    return [to_point_source(row, snap=snap) for row in rows]


def totals_t_per_yr(
    rows: Sequence[Mapping[str, Any]], *, by: str = "province"
) -> dict[str, dict[str, float]]:
    """Sum of loads [t/yr] and discharge [m³/s] over rows, grouped by a row key (e.g. province)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        acc = out.setdefault(str(row[by]), {})
        acc["discharge_m3_per_s"] = acc.get("discharge_m3_per_s", 0.0) + row["discharge_m3_per_s"]
        for key, value in row["loads_t_per_yr"].items():
            acc[key] = acc.get(key, 0.0) + float(value)
    return out


def read_background(
    path: str | os.PathLike | None = None, *, season: str = "annual"
) -> dict[str, float]:
    """Open-boundary background concentrations [mg/L] per tracer for one season.

    Parameters
    ----------
    path : boundary TOML; None reads the shipped ``forcing/boundary.toml``.
    season : "winter" (Oct-Mar), "summer" (Apr-Sep) or "annual".
    """
    if season not in BACKGROUND_SEASONS:
        raise LoadsError(
            f"unknown season {season!r}; valid seasons: {list(BACKGROUND_SEASONS)}"
            + did_you_mean(season, BACKGROUND_SEASONS)
        )
    file = _resolve(path, "boundary.toml")
    data = _load_toml(file)
    tracers = data.get("tracer")
    if not isinstance(tracers, Mapping) or not tracers:
        raise LoadsError(f"{file}: expected [tracer.<name>] tables")
    missing = [t for t in TRACERS if t not in tracers]
    if missing:
        raise LoadsError(f"{file}: no background for {missing}; expected all of {list(TRACERS)}")
    out = {}
    for name, table in tracers.items():
        where = f"{file}: tracer {name!r}"
        if not isinstance(table, Mapping):
            raise LoadsError(f"{where}: expected a table [tracer.{name}], found {table!r}")
        _check_unknown(where, list(table), BACKGROUND_SEASONS + ("citations",))
        cit = table.get("citations", {})
        if not isinstance(cit, Mapping):
            raise LoadsError(f"{where}: citations must be a table [tracer.{name}.citations]")
        for s in BACKGROUND_SEASONS:
            value: Any = table.get(s)
            if not _is_number(value) or not 0 <= value < 1e3:
                raise LoadsError(f"{where}: {s} must be a number in [0, 1000) mg/L, got {value!r}")
            _check_citation(where, s, cit)
        out[name] = float(table[season])
    return out
