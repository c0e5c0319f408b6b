"""Observation files: one published value per row, read and checked before any comparison.

The shipped file is ``forcing/observations.csv`` (sources, conversions and what was not found in
``forcing/OBSERVATIONS.md``); users bring their own in the same format. Columns (all required):

==============  ==========================================================================
``id``          unique name of the row
``source``      publication key (leave-one-publication-out cross-validation groups by it)
``lon, lat``    position [degrees east, north]: a station, or a representative point
``start, end``  ISO dates (``2021-04-01``) of the sampling period, ``end >= start``
``depth``       empty, ``surface``, ``bottom`` or a depth [m]
``variable``    a tracer (DIN, PO4, COD, oil, DO, ...), ``salinity``, ``chlorophyll``,
                ``tidal_range``, ``K1_amplitude``, ``K1_phase``, ... (`VARIABLES`)
``value``       the number, in ``unit``
``unit``        one of the units `VARIABLES` accepts for the variable (converted on reading)
``uncertainty`` the stated standard deviation or half-range, in ``unit``; empty if none
``note``        where the number is in the source, how it was converted
==============  ==========================================================================

One optional column, ``region``, names the model region a row describes when its point alone
does not (an area mean): a zone key of ``forcing/zones.toml``, ``gulf_proper``, or ``-`` for a
region the model has no mask of. Empty or absent: the region is the smallest zone that holds the
matched cell. A row that breaks a rule raises `ObservationError` naming the file, the row, the
column, what was expected and what was found.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.gulf.data import forcing_path

log = logging.getLogger(__name__)

#: The shipped observation file (in forcing/).
OBSERVATIONS_FILE = "observations.csv"
#: Required columns, in the order of the shipped file.
COLUMNS = (
    "id",
    "source",
    "lon",
    "lat",
    "start",
    "end",
    "depth",
    "variable",
    "value",
    "unit",
    "uncertainty",
    "note",
)
#: Optional columns.
OPTIONAL_COLUMNS = ("region",)
#: ``region`` value of a row whose region the model has no mask of.
NO_REGION = "-"

#: Molar masses [g/mol] of N and P for µmol/L -> mg/L as N or P.
_N, _P = 14.007, 30.974
#: {variable: (kind, canonical unit, {accepted unit: factor to the canonical unit})}. Kinds:
#: "concentration" (compared with a model field), "tide_amplitude", "tide_phase",
#: "tidal_range", "flushing" (residence and half-exchange times), "share" (GB 3097 class area
#: share of a zone), "other" (read and listed; compared only where the model carries it).
_CONC = {"mg/L": 1.0, "mg/l": 1.0, "g/m3": 1.0}
VARIABLES: dict[str, tuple[str, str, dict[str, float]]] = {
    "DIN": (
        "concentration",
        "mg/L as N",
        {"mg/L as N": 1.0, **_CONC, "ug/L as N": 1e-3, "umol/L": _N / 1000},
    ),
    "PO4": (
        "concentration",
        "mg/L as P",
        {"mg/L as P": 1.0, **_CONC, "ug/L as P": 1e-3, "umol/L": _P / 1000},
    ),
    "COD": ("concentration", "mg/L", dict(_CONC)),
    "oil": ("concentration", "mg/L", {**_CONC, "ug/L": 1e-3}),
    "DO": ("concentration", "mg/L", dict(_CONC)),
    "salinity": ("other", "PSU", {"PSU": 1.0, "psu": 1.0, "g/kg": 1.0}),
    "temperature": ("other", "degC", {"degC": 1.0}),
    "chlorophyll": ("other", "ug/L", {"ug/L": 1.0, "µg/L": 1.0, "mg/m3": 1.0}),
    "tidal_range": ("tidal_range", "m", {"m": 1.0, "cm": 0.01}),
    "residence_days": ("flushing", "d", {"d": 1.0, "days": 1.0}),
    "half_exchange_days": ("flushing", "d", {"d": 1.0, "days": 1.0}),
    "class_I_II_share": ("share", "percent", {"percent": 1.0, "%": 1.0}),
}
#: Tidal constituents whose ``<name>_amplitude`` / ``<name>_phase`` rows are recognised.
CONSTITUENTS = ("K1", "O1", "P1", "Q1", "M2", "S2", "N2")
for _c in CONSTITUENTS:
    VARIABLES[f"{_c}_amplitude"] = ("tide_amplitude", "m", {"m": 1.0, "cm": 0.01})
    VARIABLES[f"{_c}_phase"] = ("tide_phase", "deg", {"deg": 1.0, "degrees": 1.0})
del _c
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DEPTH_WORDS = ("", "surface", "bottom")


class ObservationError(BadInputError):
    """An observation file or row that cannot be used (names file, row, column, expected)."""


@dataclass(frozen=True)
class Observation:
    """One row of an observation file, checked and converted.

    Attributes
    ----------
    id, source : the row's name and publication key
    lon, lat : position [degrees]
    start, end : sampling period (dates, ``end >= start``)
    depth : "" (depth-averaged or not stated), "surface", "bottom" or a depth "5" [m]
    variable : the variable (see `VARIABLES`)
    value : the value in ``unit``
    unit : the canonical unit of the variable (the row's own unit if the variable is unknown)
    uncertainty : stated standard deviation or half-range in ``unit``; None if not stated
    note : the citation note
    region : the ``region`` column ("" when empty or absent)
    row : data row number in the file (1 = the first row under the header)
    original_unit : the unit as written in the file
    file : the file it was read from
    """

    id: str
    source: str
    lon: float
    lat: float
    start: dt.date
    end: dt.date
    depth: str
    variable: str
    value: float
    unit: str
    uncertainty: float | None
    note: str
    region: str = ""
    row: int = 0
    original_unit: str = ""
    file: str = ""

    @property
    def kind(self) -> str:
        """What the value is compared with (see `VARIABLES`); "other" for unknown variables."""
        return kind_of(self.variable)

    @property
    def days(self) -> int:
        """Length of the sampling period [days], both ends included."""
        return (self.end - self.start).days + 1


def kind_of(variable: str) -> str:
    """The kind of a variable (`VARIABLES`); "other" when the variable is not listed."""
    entry = VARIABLES.get(variable)
    return entry[0] if entry else "other"


def default_path() -> Path:
    """The shipped ``forcing/observations.csv``."""
    return forcing_path(OBSERVATIONS_FILE)


def file_digest(path: str | os.PathLike | None = None) -> str:
    """sha256 of an observation file (the shipped one for None), for provenance."""
    with open(default_path() if path is None else path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class _Row:
    """One raw CSV row and where it is, for error messages."""

    def __init__(self, path: Path, number: int, line: int, values: dict[str, str]) -> None:
        self.path, self.number, self.line, self.values = path, number, line, values

    def fail(self, column: str, expected: str) -> ObservationError:
        found = self.values.get(column, "")
        ident = self.values.get("id", "")
        where = f"{self.path}: row {self.number} (line {self.line}"
        where += f", id {ident!r})" if ident else ")"
        return ObservationError(f"{where}, column {column!r}: expected {expected}, found {found!r}")

    def text(self, column: str) -> str:
        return (self.values.get(column) or "").strip()

    def number_in(self, column: str, lo: float, hi: float, what: str) -> float:
        try:
            value = float(self.text(column))
        except ValueError:
            raise self.fail(column, what) from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise self.fail(column, what)
        return value

    def date(self, column: str) -> dt.date:
        try:
            return dt.date.fromisoformat(self.text(column))
        except ValueError:
            raise self.fail(column, "an ISO date YYYY-MM-DD") from None


def _check_header(path: Path, header: Sequence[str] | None) -> list[str]:
    if not header:
        raise ObservationError(f"{path}: empty file; expected a header row {','.join(COLUMNS)}")
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ObservationError(
            f"{path}: header lacks column(s) {', '.join(missing)}; expected the columns "
            f"{', '.join(COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)}), found "
            f"{', '.join(names)}"
        )
    allowed = COLUMNS + OPTIONAL_COLUMNS
    for name in names:
        if name not in allowed:
            raise ObservationError(
                f"{path}: header has an unknown column {name!r}{did_you_mean(name, allowed)}; "
                f"expected {', '.join(COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})"
            )
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ObservationError(f"{path}: header repeats column(s) {', '.join(duplicated)}")
    return names


def _value_range(kind: str) -> tuple[float, float, str]:
    """(lo, hi, description) of an acceptable value of a kind."""
    if kind == "tide_phase":
        return 0.0, 360.0, "a phase in [0, 360] degrees"
    if kind == "share":
        return 0.0, 100.0, "a share in [0, 100] percent"
    if kind == "other":
        return -math.inf, math.inf, "a finite number"
    return 0.0, math.inf, "a finite number >= 0"


def _parse(row: _Row) -> Observation:
    ident = row.text("id")
    if not ident:
        raise row.fail("id", "a non-empty name")
    source = row.text("source")
    if not source:
        raise row.fail("source", "a publication key (e.g. S90)")
    lon = row.number_in("lon", -180.0, 360.0, "a longitude in [-180, 360] degrees")
    lat = row.number_in("lat", -90.0, 90.0, "a latitude in [-90, 90] degrees")
    start, end = row.date("start"), row.date("end")
    if end < start:
        raise row.fail("end", f"a date on or after start {start.isoformat()}")
    depth = row.text("depth")
    if depth not in _DEPTH_WORDS:
        try:
            metres = float(depth)
        except ValueError:
            metres = -1.0
        if not (math.isfinite(metres) and metres >= 0):
            raise row.fail("depth", "empty, 'surface', 'bottom' or a depth >= 0 [m]")
    variable = row.text("variable")
    if not _NAME.match(variable):
        raise row.fail(
            "variable",
            "a variable name (letters, digits, '_'), e.g. "
            + ", ".join(list(VARIABLES)[:6])
            + did_you_mean(variable, VARIABLES),
        )
    unit = row.text("unit")
    factor = 1.0
    if variable in VARIABLES:
        kind, canonical, accepted = VARIABLES[variable]
        if unit not in accepted:
            raise row.fail("unit", f"one of {', '.join(repr(u) for u in accepted)} for {variable}")
        factor = accepted[unit]
    else:
        kind, canonical = "other", unit
        close = did_you_mean(variable, VARIABLES)
        if close:
            log.warning("%s row %d: unknown variable %r%s", row.path, row.number, variable, close)
    lo, hi, what = _value_range(kind)
    value = row.number_in("value", lo, hi, what) * factor
    uncertainty = None
    if row.text("uncertainty"):
        uncertainty = row.number_in("uncertainty", 0.0, math.inf, "empty or a number >= 0")
        uncertainty *= factor
    region = row.text("region")
    if region and region != NO_REGION and not _NAME.match(region):
        raise row.fail("region", f"empty, {NO_REGION!r}, gulf_proper or a zone key")
    return Observation(
        ident,
        source,
        lon,
        lat,
        start,
        end,
        depth,
        variable,
        value,
        canonical,
        uncertainty,
        row.text("note"),
        region,
        row.number,
        unit,
        str(row.path),
    )


def read_observations(path: str | os.PathLike | None = None) -> list[Observation]:
    """Read and check an observation CSV (UTF-8; the shipped file for None).

    Parameters
    ----------
    path : the CSV file; None reads ``forcing/observations.csv``

    Returns
    -------
    list of Observation, in file order, values converted to the canonical units of `VARIABLES`

    Raises
    ------
    ObservationError
        A missing or unknown column, or a row that breaks a rule: the message names the file,
        the row number (and line), the column, what was expected and what was found.
    """
    file = default_path() if path is None else Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ObservationError(f"{file}: file not found; expected an observation CSV") from None
    except IsADirectoryError:
        raise ObservationError(f"{file} is a folder; expected an observation CSV") from None
    except UnicodeDecodeError as err:
        raise ObservationError(f"{file}: not UTF-8 text (byte {err.start})") from None
    reader = csv.reader(text.splitlines(keepends=True))
    names = _check_header(file, next(reader, None))
    out: list[Observation] = []
    seen: dict[str, int] = {}
    for number, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        raw = _Row(file, number, reader.line_num, dict(zip(names, values, strict=False)))
        if len(values) != len(names):
            raise raw.fail(
                names[min(len(values), len(names)) - 1],
                f"{len(names)} fields (a comma inside a note needs quotes), found {len(values)}",
            )
        obs = _parse(raw)
        if obs.id in seen:
            raise raw.fail("id", f"a unique id (row {seen[obs.id]} has the same)")
        seen[obs.id] = number
        out.append(obs)
    if not out:
        raise ObservationError(f"{file}: no data rows under the header")
    log.info("read %d observations from %s", len(out), file)
    return out


__all__ = [
    "COLUMNS",
    "CONSTITUENTS",
    "NO_REGION",
    "OPTIONAL_COLUMNS",
    "Observation",
    "ObservationError",
    "VARIABLES",
    "default_path",
    "file_digest",
    "kind_of",
    "read_observations",
]
