"""GB 3097-1997 《海水水质标准》 (Sea water quality standard) as data; single-factor classification.

Classes 1..4 are the standard's Class I-IV; 5 means worse than Class IV (劣四类) and 0 means no
value (NaN, land). Single-factor evaluation (单因子评价): a water's class for one parameter is the
best class whose limit it meets; its overall class is the worst over its parameters.

Boundaries are taken exactly as the standard writes them: "≤ limit" for pollutants (a value equal
to the Class II limit is Class II), "> limit" for dissolved oxygen (DO equal to 5 mg/L is not
Class II), and a closed range for pH. Where two classes share a limit the better class wins:
oil ≤ 0.05 mg/L is Class I, active phosphate ≤ 0.030 mg/L is Class II (never III). Values within
`REL_TOL` (one part per million) of a limit count as equal to it, so that a float32 0.3 (stored
as 0.30000001) is still Class II for DIN; the standard's limits have at most three significant
figures, so this never changes a classification a laboratory would make.

Sources for the limits (``Parameter.source``):

- [P2020] 李海涛, 王博睿 2020, 基于粒子群优化的BP神经网络在海水水质评价中的应用, 海洋科学 44(6):
  30-36, Table 1 "水质评价指标的标准值" (GB 3097-1997): DO 6/5/4/3, COD 2/3/4/5, 无机氮
  0.2/0.3/0.4/0.5, 活性磷酸盐 0.015/0.030/0.030/0.045, 石油类 0.05/0.05/0.30/0.50 — all four
  classes seen verbatim (a text copy in a public GitHub repository, found by full-text search).
- [S5] 百检 海水水质检测标准参数表, http://www.electrictest.cn/jczs/show-81153.html (Class I
  values), and [S6] Quanzhou Bay EIA table 2-1, https://wanglu.net/thread/t12-172215-3.html (Class
  II values), as recorded in the project's research notes (domain.md §1).
- [S4] 科普中国 海水质量, https://cloud.kepuchina.cn/search/imgText?from=group&id=450610&type=1
  (class uses, suspended matter).
- [JS35] a 35-item GB 3097-1997 lookup table ("seawaterQualityStandards") in a public GitHub
  repository, found by full-text search: gives all four classes of every item below; it agrees
  with [P2020], [S5] and [S6] wherever they overlap. Values resting on it alone are marked
  "secondary" in their source string: they are the standard's Table 1 values as widely
  reproduced, not checked against the official text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from bbw_bay.errors import BadInputError, unknown_name

#: Class codes: 1..4 = GB 3097 Class I..IV, 5 = worse than Class IV, 0 = no value (NaN or land).
NO_VALUE = 0
WORSE_THAN_IV = 5
CLASSES = (1, 2, 3, 4, 5)
CLASS_LABELS: dict[int, str] = {
    0: "no value",
    1: "Class I (第一类)",
    2: "Class II (第二类)",
    3: "Class III (第三类)",
    4: "Class IV (第四类)",
    5: "worse than Class IV (劣四类)",
}
#: Relative tolerance within which a value counts as equal to a limit (float32 round-off).
REL_TOL = 1.0e-6

#: What each class is for (GB 3097-1997 §3.1, seen in [S4] and the standard's text mirrors).
CLASS_USES: dict[int, str] = {
    1: "marine fishery waters, marine nature reserves, rare and endangered species reserves",
    2: "mariculture, bathing beaches, marine sports or recreation with direct human contact, "
    "industrial water directly related to human food",
    3: "general industrial water, coastal scenic and tourist areas",
    4: "harbour waters, marine development and operation areas",
}


class StandardsError(BadInputError, KeyError):
    """An unknown parameter or class was asked for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Parameter:
    """One row of GB 3097-1997 Table 1.

    Attributes
    ----------
    key : short name used in bbw_bay ("DIN", "PO4", ...)
    name_zh, name_en : the standard's Chinese item name and an English name
    unit : unit of the limits (mg/L for every row here; pH dimensionless)
    limits : Class I..IV limits; the upper limit ("≤") or, for DO, the lower limit (">")
    direction : "upper" (value ≤ limit), "lower" (value > limit) or "range" (lower ≤ value ≤ upper)
    lower_limits : Class I..IV lower ends of the pH range (None for other rows)
    note : the standard's note for the row, and modelling remarks
    source : where each class's value was verified
    """

    key: str
    name_zh: str
    name_en: str
    unit: str
    limits: tuple[float, float, float, float]
    direction: str = "upper"
    lower_limits: tuple[float, float, float, float] | None = None
    note: str = ""
    source: str = ""


_P2020 = "[P2020] 海洋科学 44(6) Table 1, all four classes verbatim"
_S5S6_JS = (
    "Class I verbatim in [S5], Class II verbatim in [S6]; Classes III-IV from [JS35] (secondary)"
)
_S5_JS = "Class I verbatim in [S5]; Classes II-IV from [JS35] (secondary)"

#: GB 3097-1997 Table 1 (the rows bbw_bay uses), keyed by `Parameter.key`.
PARAMETERS: dict[str, Parameter] = {
    p.key: p
    for p in (
        Parameter(
            "DIN",
            "无机氮（以N计）",
            "inorganic nitrogen (as N)",
            "mg/L",
            (0.20, 0.30, 0.40, 0.50),
            note="NH4-N + NO2-N + NO3-N (dissolved inorganic nitrogen).",
            source=f"{_P2020}; I and II also in [S5]/[S6]",
        ),
        Parameter(
            "PO4",
            "活性磷酸盐（以P计）",
            "active (reactive) phosphate (as P)",
            "mg/L",
            (0.015, 0.030, 0.030, 0.045),
            note=(
                "Classes II and III share 0.030: a value ≤ 0.030 is Class II, above it Class IV."
            ),
            source=f"{_P2020}; I and II also in [S5]/[S6]",
        ),
        Parameter(
            "COD",
            "化学需氧量（COD）",
            "chemical oxygen demand",
            "mg/L",
            (2.0, 3.0, 4.0, 5.0),
            note=(
                "Alkaline permanganate method (碱性高锰酸钾法, COD_Mn-type; GB 3097-1997 "
                "Table 2 / GB 17378.4). Not comparable with the dichromate COD_Cr of river "
                "and effluent data, which is typically several times larger."
            ),
            source=f"{_P2020}; I and II also in [S5]/[S6]; method: standard's Table 2 "
            "(from memory, consistent with [JS35] listing COD as CODMn)",
        ),
        Parameter(
            "oil",
            "石油类",
            "petroleum hydrocarbons (oil)",
            "mg/L",
            (0.05, 0.05, 0.30, 0.50),
            note="Classes I and II share 0.05: a value ≤ 0.05 is Class I.",
            source=f"{_P2020}; II also in [S6]",
        ),
        Parameter(
            "DO",
            "溶解氧",
            "dissolved oxygen",
            "mg/L",
            (6.0, 5.0, 4.0, 3.0),
            direction="lower",
            note="Lower limit: Class k requires DO > limit (strictly); DO ≤ 3 is worse than IV.",
            source=f"{_P2020}; I and II also in [S5]/[S6]",
        ),
        Parameter(
            "pH",
            "pH",
            "pH",
            "1",
            (8.5, 8.5, 8.8, 8.8),
            direction="range",
            lower_limits=(7.8, 7.8, 6.8, 6.8),
            note=(
                "Classes I-II: 7.8-8.5 and within 0.2 pH units of the area's normal range; "
                "Classes III-IV: 6.8-8.8 and within 0.5 units. Only the fixed range is "
                "checked here."
            ),
            source=(
                "Class I range verbatim in [S5]; Classes II-IV from [JS35] (secondary); "
                "[S6] prints Class II as 7.5~8.5, taken to be a typo"
            ),
        ),
        Parameter(
            "BOD5",
            "生化需氧量（BOD5）",
            "five-day biochemical oxygen demand",
            "mg/L",
            (1.0, 3.0, 4.0, 5.0),
            source=_S5S6_JS,
        ),
        Parameter(
            "NH3",
            "非离子氨（以N计）",
            "non-ionic (un-ionised) ammonia (as N)",
            "mg/L",
            (0.020, 0.020, 0.020, 0.020),
            note="Same limit for all classes: a value above 0.020 is worse than Class IV.",
            source=_S5_JS,
        ),
        Parameter("Hg", "汞", "mercury", "mg/L", (0.00005, 0.0002, 0.0002, 0.0005), source=_S5_JS),
        Parameter("Cd", "镉", "cadmium", "mg/L", (0.001, 0.005, 0.010, 0.010), source=_S5_JS),
        Parameter("Pb", "铅", "lead", "mg/L", (0.001, 0.005, 0.010, 0.050), source=_S5_JS),
        Parameter(
            "Cr6",
            "六价铬",
            "hexavalent chromium",
            "mg/L",
            (0.005, 0.010, 0.020, 0.050),
            source=_S5_JS,
        ),
        Parameter("Cr", "总铬", "total chromium", "mg/L", (0.05, 0.10, 0.20, 0.50), source=_S5_JS),
        Parameter("As", "砷", "arsenic", "mg/L", (0.020, 0.030, 0.050, 0.050), source=_S5_JS),
        Parameter("Cu", "铜", "copper", "mg/L", (0.005, 0.010, 0.050, 0.050), source=_S5_JS),
        Parameter("Zn", "锌", "zinc", "mg/L", (0.020, 0.050, 0.10, 0.50), source=_S5_JS),
        Parameter(
            "Se",
            "硒",
            "selenium",
            "mg/L",
            (0.010, 0.020, 0.020, 0.050),
            source="[JS35] only (secondary)",
        ),
        Parameter(
            "Ni",
            "镍",
            "nickel",
            "mg/L",
            (0.005, 0.010, 0.020, 0.050),
            source="[JS35] only (secondary)",
        ),
    )
}

#: bbw_bay tracer names -> GB 3097 parameter keys (the model's tracers are named as in forcing/).
TRACER_PARAMETERS: dict[str, str] = {
    "DIN": "DIN",
    "PO4": "PO4",
    "COD": "COD",
    "oil": "oil",
    "DIP": "PO4",
    "COD_Mn": "COD",
    "CODMn": "COD",
    "TPH": "oil",
}


def parameter(name: str) -> Parameter:
    """The `Parameter` for a parameter key or a tracer name ("DIN", "PO4", "COD", "oil", ...)."""
    key = TRACER_PARAMETERS.get(name, name)
    if key in PARAMETERS:
        return PARAMETERS[key]
    known = sorted(set(PARAMETERS) | set(TRACER_PARAMETERS))
    raise StandardsError(
        unknown_name("GB 3097-1997 parameter", name, known) + ". "
        "COD_Cr (dichromate) has no GB 3097 limit: convert it to the permanganate COD first."
    )


def _check_class(klass: int) -> int:
    if klass not in (1, 2, 3, 4):
        raise StandardsError(f"GB 3097-1997 classes are 1..4 (Class I..IV); got {klass!r}")
    return int(klass)


def limit(name: str, klass: int) -> float | tuple[float, float]:
    """The Class `klass` (1..4) limit of a parameter [its unit]; (low, high) for pH."""
    p = parameter(name)
    k = _check_class(klass) - 1
    if p.direction == "range":
        assert p.lower_limits is not None  # a range parameter always has them (PARAMETERS)
        return (p.lower_limits[k], p.limits[k])
    return p.limits[k]


def classify(concentration, name: str):
    """Single-factor GB 3097-1997 class of each value.

    Parameters
    ----------
    concentration : array_like or xr.DataArray, values in the parameter's unit (mg/L; pH units)
    name : parameter key or tracer name

    Returns
    -------
    int8 array of the same shape (a DataArray if given one): 1..4 Class I..IV, 5 worse than
    Class IV, 0 where the value is NaN.
    """
    if isinstance(concentration, xr.DataArray):
        out = classify(concentration.values, name)
        result = xr.DataArray(
            out,
            coords=concentration.coords,
            dims=concentration.dims,
            name=f"{concentration.name or name}_class",
        )
        result.attrs.update(class_attributes(name))
        return result
    p = parameter(name)
    c = np.asarray(concentration, dtype=float)
    klass = np.full(c.shape, WORSE_THAN_IV, dtype=np.int8)
    # walk from the worst class to the best so the best class whose limit is met wins
    for k in (3, 2, 1, 0):
        hi = p.limits[k]
        if p.direction == "upper":
            ok = c <= hi * (1.0 + REL_TOL)
        elif p.direction == "lower":
            ok = c > hi * (1.0 + REL_TOL)
        else:
            assert p.lower_limits is not None  # a range parameter always has them (PARAMETERS)
            lo = p.lower_limits[k]
            ok = (c >= lo * (1.0 - REL_TOL)) & (c <= hi * (1.0 + REL_TOL))
        klass[ok] = k + 1
    klass[np.isnan(c)] = NO_VALUE
    return klass


def overall_class(classes: Mapping[str, np.ndarray]):
    """Worst single-factor class over parameters (0 only where every parameter has no value).

    `classes` maps parameter or tracer names to class arrays of one shape (from `classify`).
    """
    if not classes:
        raise ValueError("overall_class needs at least one class array")
    arrays = list(classes.values())
    worst = arrays[0]
    for other in arrays[1:]:
        worst = np.maximum(worst, other)
    if isinstance(worst, xr.DataArray):
        worst = worst.rename("overall_class")
    return worst


def class_attributes(name: str | None = None) -> dict[str, str]:
    """CF flag attributes for a class array (optionally naming the parameter)."""
    what = (
        f"GB 3097-1997 single-factor class of {name}"
        if name
        else ("GB 3097-1997 class, worst single factor")
    )
    return {
        "long_name": what,
        "flag_values": "0 1 2 3 4 5",
        "flag_meanings": "no_value class_I class_II class_III class_IV worse_than_class_IV",
        "units": "1",
    }


def table() -> str:
    """The limits as a plain-text table (for documentation and the CLI)."""
    lines = [f"{'key':<5} {'item':<38} {'unit':<5} {'I':>8} {'II':>8} {'III':>8} {'IV':>8}"]
    for p in PARAMETERS.values():
        if p.direction == "range" and p.lower_limits is not None:
            cells = [f"{lo:g}-{hi:g}" for lo, hi in zip(p.lower_limits, p.limits, strict=True)]
        else:
            sign = ">" if p.direction == "lower" else "≤"
            cells = [f"{sign}{v:g}" for v in p.limits]
        lines.append(
            f"{p.key:<5} {p.name_en[:38]:<38} {p.unit:<5} " + " ".join(f"{c:>8}" for c in cells)
        )
    return "\n".join(lines)
