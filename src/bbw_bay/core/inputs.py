"""Reading user input safely: TOML text, the numbers in it, and the names users choose.

Every TOML file bbw_bay reads (configs through `bbw_bay.core.config.load_config`, data files
through `bbw_bay.gulf.data.read_toml`) goes through `parse_toml`, so a file either parses into
values Python can use or raises a `bbw_bay.errors.BadInputError` naming the file and the key:

- tomllib's own failures: malformed TOML; an integer of more than 4300 digits (Python's
  int-to-str limit, which tomllib hits as a ``ValueError``); arrays or inline tables nested
  deeper than the parser's recursion allows (``RecursionError``);
- values TOML accepts but no bbw_bay key can use: ``nan`` and ``inf`` (and floats beyond
  ±1.8e308, which read as ``inf``), integers beyond TOML's own 64-bit range (tomllib accepts
  them; numpy cannot hold them and ``float()`` overflows beyond 1.8e308), nesting deeper than
  `MAX_TOML_DEPTH`.

Booleans are an ``int`` subclass in Python: `as_number` refuses them where a number is expected.
Names: `tracer_name_problem` says why a tracer name cannot be a variable of bbw_bay's outputs
(`RESERVED_NAMES`), and `source_key` gives the label a source's name becomes in tags, so two
names that differ only in case, spaces or punctuation can be refused (`check_source_names`).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bbw_bay.errors import BadInputError

#: Deepest nesting of arrays and tables any bbw_bay file needs: a zone's ``polygons`` is an
#: array of polygons of [lon, lat] vertices inside a ``[[zone]]`` array of tables (depth 5).
MAX_TOML_DEPTH = 32
#: TOML integers are 64-bit signed (toml.io, "Integer"); tomllib accepts more.
MAX_TOML_INTEGER = 2**63 - 1
#: Python's limit on digits in an int <-> str conversion (sys.get_int_max_str_digits default).
INT_STR_DIGITS = 4300

#: Names of the variables, coordinates and dimensions bbw_bay writes beside tracer fields, in
#: every output kind: a run or steady state (`bbw_bay.core.output.CF_ATTRIBUTES` and the grid
#: dataset: coordinates, depth, cell_area, wet, time, time_bnds and their bounds), the land-water
#: age pair, scenario comparisons and ensembles (zone statistics from `bbw_bay.quality.evaluate`,
#: scenario and member coordinates). A tracer of one of these names would replace that variable.
#: tests/core/test_bad_inputs_library.py checks that every name in those outputs is listed.
RESERVED_NAMES = frozenset(
    {
        # grid, coordinates and CF bounds (core.output)
        "x",
        "y",
        "lon",
        "lat",
        "time",
        "time_bnds",
        "lon_bnds",
        "lat_bnds",
        "x_bnds",
        "y_bnds",
        "bnds",
        "nv",
        "crs",
        "depth",
        "cell_area",
        "wet",
        "u",
        "v",
        "age",
        # diagnostics of run.water_age (gulf.assemble)
        "land_water",
        "land_water_age",
        # scenario comparisons, evaluations and ensembles
        "scenario",
        "scenario_name",
        "season",
        "description",
        "steady_iterations",
        "wall_seconds",
        "zone",
        "zone_name",
        "zone_name_zh",
        "tracer",
        "class",
        "area",
        "n_cells",
        "kind",
        "province",
        "target_class",
        "mean",
        "max",
        "p95",
        "peak",
        "passes",
        "class_share",
        "good_share",
        "target_share",
        "overall_class_share",
        "overall_good_share",
        "overall_target_share",
        "overall_passes",
        "fraction_time_above_target",
        "member",
        "parameter",
        "parameter_kind",
        "distribution",
        "basis",
        "multiplier",
        "percentile",
        "source",
        "receptor",
        "constraint",
        "variable",
        "status",
    }
)
#: Endings of derived variables: an age tracer ("<tracer>_age"), its mean age
#: ("<tracer>_mean_days"), CF bounds ("<coordinate>_bnds"), a class map ("<tracer>_class").
RESERVED_SUFFIXES = ("_age", "_mean_days", "_bnds", "_class")
#: Beginnings of derived variables of scenario and ensemble files.
RESERVED_PREFIXES = ("delta_", "probability_", "percentiles_of_")
#: A tracer name: a letter, then letters, digits or underscores (CF-1.8 section 2.3, which
#: every netCDF library and CF tool accepts); "@" is left for source tags ("DIN@nanliu").
TRACER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 64


def number_text(value: Any) -> str:
    """A short text of a value for messages: huge integers as ``~1e+400 (an integer of 1330
    bits)`` instead of thousands of digits (which ``str`` refuses beyond 4300)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TOML_INTEGER:
        exponent = int(abs(value).bit_length() * math.log10(2))
        sign = "-" if value < 0 else ""
        return f"{sign}~1e+{exponent} (an integer of {abs(value).bit_length()} bits)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def key_path(path: Sequence[str | int]) -> str:
    """``("source", 3, "loads_t_per_yr", "DIN")`` as ``source[3].loads_t_per_yr.DIN``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z0-9_*-]+", part) else repr(part)
            out += ("." if out else "") + text
    return out or "the file"


def _long_number_line(text: str) -> str:
    """' (line N)' of the longest run of digits in ``text``, for the int-to-str limit message."""
    best, line = 0, 0
    for number, row in enumerate(text.splitlines(), start=1):
        for match in re.finditer(r"[0-9A-Fa-f_]{100,}", row):
            if len(match.group()) > best:
                best, line = len(match.group()), number
    return f" (line {line})" if line else ""


def parse_toml(
    text: str,
    *,
    where: str,
    error: type[BadInputError] = BadInputError,
    invalid: str = "malformed TOML",
    expect: Callable[[tuple], str | tuple[tuple, str]] | None = None,
    check: bool = True,
) -> dict:
    """``tomllib.loads(text)`` with every failure as ``error`` naming ``where``.

    Parameters
    ----------
    text : the TOML text
    where : the file (or argument) the text came from, first in every message
    error : the `BadInputError` subclass to raise
    invalid : what a parse error is called (``"{where}: {invalid}: {reason}"``)
    expect : what a key expects, for `check_values` messages (default "a finite number")
    check : run `check_values` on the result (False: the caller checks after merging)

    Returns
    -------
    the parsed mapping
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise error(f"{where}: {invalid}: {err}") from None
    except RecursionError:
        raise error(
            f"{where}: {invalid}: arrays or inline tables nested too deeply for the TOML "
            f"parser; expected at most {MAX_TOML_DEPTH} levels"
        ) from None
    except ValueError:  # int() of more than INT_STR_DIGITS digits
        raise error(
            f"{where}: {invalid}: an integer of more than {INT_STR_DIGITS} digits"
            f"{_long_number_line(text)}; TOML integers are 64-bit (at most 19 digits), and a "
            "real number is written with a decimal point or an exponent"
        ) from None
    if check:
        check_values(raw, where=where, error=error, expect=expect)
    return raw


def check_values(
    value: Any,
    *,
    where: str,
    error: type[BadInputError] = BadInputError,
    path: tuple = (),
    expect: Callable[[tuple], str | tuple[tuple, str]] | None = None,
) -> None:
    """Raise ``error`` for a value no bbw_bay key can use, anywhere inside ``value``.

    Refused: a float that is NaN or infinite; an integer beyond ±(2**63 − 1); nesting of lists
    and tables deeper than `MAX_TOML_DEPTH`. The message names ``where`` and the key path, and
    says what was expected (``expect(path)``, default "a finite number"; a tuple ``(shown
    path, expected)`` names an enclosing key instead) and what was found.
    Walks with an explicit stack, so any depth is safe.
    """
    stack = [(tuple(path), value)]
    while stack:
        here, item = stack.pop()
        if len(here) - len(path) > MAX_TOML_DEPTH:
            top = next(
                (k for k, part in enumerate(here) if k >= len(path) and isinstance(part, int)),
                len(here),
            )
            raise error(
                f"{where}: {key_path(here[:top])} nests arrays or tables more than "
                f"{MAX_TOML_DEPTH} levels deep; no bbw_bay key needs more than 5"
            )
        if isinstance(item, dict):
            stack.extend((here + (str(k),), v) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((here + (k,), v) for k, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            expected = expect(here) if expect else "a finite number"
            shown = here
            if isinstance(expected, tuple):  # the caller names an enclosing key
                shown, expected = expected
            raise error(
                f"{where}: {key_path(shown)} must be {expected}, found {item!r} (TOML's nan "
                "and inf are not accepted; a number beyond ±1.8e308 reads as inf)"
            )
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_TOML_INTEGER:
            raise error(
                f"{where}: {key_path(here)} = {number_text(item)} is beyond the 64-bit integers "
                f"TOML allows (±{MAX_TOML_INTEGER:.3g}); expected a number in the key's range"
            )


def as_number(
    value: Any,
    *,
    where: str,
    key: str,
    error: type[BadInputError] = BadInputError,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    unit: str = "",
) -> float:
    """``value`` as a float (an int when ``integer``) after checking it is a finite number in
    [minimum, maximum]: booleans, strings, NaN, infinities and out-of-range values raise
    ``error`` with ``"{where}: {key} must be ..., found ..."``.
    """
    kind = "an integer" if integer else "a number"
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    expected = f"{kind}{' ' + ' and '.join(bounds) if bounds else ''}{' ' + unit if unit else ''}"
    types = (int,) if integer else (int, float)
    ok = (
        not isinstance(value, bool)
        and isinstance(value, types)
        and abs(value) <= (MAX_TOML_INTEGER if integer else math.inf)
        and math.isfinite(value)
        and (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
    )
    if not ok:
        found = f"{number_text(value)} ({type(value).__name__})"
        raise error(f"{where}: {key} must be {expected}, found {found}")
    return int(value) if integer else float(value)


# ----------------------------------------------------------------------------- names
def tracer_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a tracer (None if it can): not CF-1.8 letters, digits and
    underscores, too long, or the name of a variable bbw_bay writes beside the tracers."""
    if not isinstance(name, str) or not name:
        return "a tracer name must be a non-empty string"
    shown = number_text(name)
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"tracer name {shown} is {len(name)} characters long; expected at most "
            f"{MAX_NAME_LENGTH}"
        )
    if "@" in name:
        return (
            f"tracer name {shown} contains '@', which marks source tags (DIN@nanliu, "
            "run.tag_sources)"
        )
    if not TRACER_NAME.fullmatch(name):
        return (
            f"tracer name {shown} must begin with a letter and hold only letters, digits and "
            "underscores (CF-1.8 names, which every netCDF tool reads)"
        )
    if name in RESERVED_NAMES:
        return (
            f"tracer name {shown} is the name of a variable or coordinate bbw_bay writes beside "
            "the tracers (it would replace it); choose another name"
        )
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return (
                f"tracer name {shown} ends in {suffix!r}, which bbw_bay uses for derived "
                "variables (age tracers, mean ages, CF bounds, class maps); choose another name"
            )
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return (
                f"tracer name {shown} begins with {prefix!r}, which bbw_bay uses for derived "
                "variables of scenario and ensemble files; choose another name"
            )
    return None


def source_key(name: str) -> str:
    """A source's name as it appears in tags and selectors: lower case, every run of characters
    that are not letters or digits one ``_``, none at the ends ("Nan-liu River" ->
    "nan_liu_river")."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
    return "_".join(part for part in slug.split("_") if part)


def check_source_names(
    names: Iterable[str],
    *,
    where: str,
    labels: Sequence[str] | None = None,
    error: type[BadInputError] = BadInputError,
) -> None:
    """Raise ``error`` for a source name without a letter or digit, or two names with one
    `source_key` (duplicates included), naming both rows (``labels[k]``, default ``source[k]``)."""
    names = list(names)
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        label = labels[k] if labels is not None else f"source[{k}]"
        key = source_key(name) if isinstance(name, str) else ""
        if not key:
            raise error(
                f"{where}: {label} name {number_text(name)} has no letter or digit; expected "
                'a name such as "Nanliu River"'
            )
        if key in seen:
            first = seen[key]
            other = labels[first] if labels is not None else f"source[{first}]"
            same = "the same name" if name == names[first] else f"one label {key!r}"
            raise error(
                f"{where}: {label} {name!r} and {other} {names[first]!r} have {same} "
                "(names that differ only in case, spaces or punctuation share one source tag "
                "and one row of every table); expected unique source names"
            )
        seen[key] = k
