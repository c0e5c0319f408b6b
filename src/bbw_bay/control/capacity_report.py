"""Allowable loads checked and reported: forward-run verification, Dataset, table and CSV.

`verify` re-runs the steady model (upwind, the model's own background treatment) with the
allowable loads of a `bbw_bay.control.capacity.CapacityResult` and checks every receptor
against its limit within `VERIFY_RTOL`; `capacity_dataset`, `capacity_table` and `capacity_csv`
report a result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from bbw_bay.control.capacity import ROMAN, CapacityError, CapacityResult
from bbw_bay.control.response import annual_sources, receptor_values
from bbw_bay.core.model import Model

#: Forward-run verification: receptors may exceed their limit by this fraction of it (the LP's
#: relative feasibility tolerance 1e-7 with a tenfold margin; the forward solve itself agrees
#: with the response coefficients to ~1e-15).
VERIFY_RTOL = 1e-6


def verify(
    models: Model | Mapping[str, Model], result: CapacityResult, *, rtol: float = VERIFY_RTOL
) -> dict:
    """Forward steady runs with the allowable loads: every kept row ≤ its limit, binding = limit.

    Each model (same labels as the response matrices) is re-solved with first-order upwind
    advection and the annual-mean allowable loads of ``result.problem.tracer``
    (`Model.steady_state`, its own background treatment); the receptor values are compared with
    the limits. Exported as ``bbw_bay.verify_allowable_loads``.

    Parameters
    ----------
    models : the model, or {season label: model}, the result was computed from
    result : a feasible `bbw_bay.control.capacity.CapacityResult`
    rtol : allowed excess over a limit, and gap of a binding row, relative to the limit [-]

    Returns
    -------
    dict: "passed", "rtol", "max_relative_excess" (max over kept rows of (value − limit)/limit
    [-]), "max_binding_gap" (max |value − limit|/limit over binding rows [-]),
    "max_lp_vs_forward" (difference of the forward values from the LP's α-predicted ones,
    relative to the limits [-]), "rows": per row its label, limit and forward value [mg/L]

    Examples
    --------
    >>> check = verify(model, allowable_loads(model, tracer="DIN"))  # doctest: +SKIP
    >>> check["passed"]  # doctest: +SKIP
    True
    """
    if not result.feasible:
        raise CapacityError("nothing to verify: the capacity problem has no solution")
    p = result.problem
    models = {"": models} if isinstance(models, Model) else dict(models)
    labels = [m.label for m in p.matrices]
    missing = [label for label in labels if label not in models]
    if missing:
        raise CapacityError(f"verify needs the models of {missing}")
    loads = {p.tracer: dict(zip(p.sources, result.allowable, strict=True))}
    forward = np.zeros(len(p.limit))
    for k, matrix in enumerate(p.matrices):
        model = models[matrix.label]
        sources = annual_sources(model, loads_t_per_yr=loads)
        ds = model.replace(advection="upwind", sources=sources).steady_state()
        values = receptor_values(matrix, ds, model.grid)[matrix.tracer_index(p.tracer)]
        rows = p.row_matrix == k
        forward[rows] = values[p.row_receptor[rows]]
    kept = ~result.dropped
    relative = (forward - p.limit) / p.limit
    excess = float(relative[kept].max(initial=-np.inf))
    gap = float(np.abs(relative[result.binding]).max(initial=0.0))
    agreement = float((np.abs(forward - result.value) / p.limit).max(initial=0.0))
    rows = [
        {
            "row": p.row_label(r),
            "limit": float(p.limit[r]),
            "forward": float(forward[r]),
            "binding": bool(result.binding[r]),
            "dropped": bool(result.dropped[r]),
        }
        for r in range(len(p.limit))
    ]
    return {
        "passed": bool(excess <= rtol and gap <= rtol),
        "rtol": rtol,
        "max_relative_excess": excess,
        "max_binding_gap": gap,
        "max_lp_vs_forward": agreement,
        "rows": rows,
    }


# ----------------------------------------------------------------------------- reporting
def capacity_dataset(result: CapacityResult) -> xr.Dataset:
    """The result as a Dataset: per source and per constraint (receptor and season).

    Parameters
    ----------
    result : a `bbw_bay.control.capacity.CapacityResult`

    Returns
    -------
    xr.Dataset: over ``source`` today, allowable, cut, upper [t/yr], cut_percent [%],
    controlled; over ``constraint`` limit, background, fixed, value_today, value, slack
    [mg/L], binding, shadow_price [t/yr per mg/L], unattainable; attrs tracer, mode, status

    Examples
    --------
    >>> ds = capacity_dataset(allowable_loads(model, tracer="DIN"))  # doctest: +SKIP
    >>> ds["allowable"].sel(source="Nanliu")  # doctest: +SKIP
    """
    p = result.problem
    rows = [p.row_label(r) for r in range(len(p.limit))]
    today_value = p.background + p.diffuse + p.coefficients @ p.today
    ds = xr.Dataset(
        {
            "today": ("source", p.today, {"units": "t yr-1", "long_name": "today's load"}),
            "allowable": (
                "source",
                result.allowable,
                {"units": "t yr-1", "long_name": "allowable load"},
            ),
            "cut": (
                "source",
                result.cut,
                {
                    "units": "t yr-1",
                    "long_name": "required cut (today - allowable; negative: room to grow)",
                },
            ),
            "cut_percent": ("source", result.cut_percent, {"units": "%"}),
            "upper": ("source", p.upper, {"units": "t yr-1", "long_name": "upper bound"}),
            "controlled": ("source", p.controlled.astype(np.int8)),
            "limit": (
                "constraint",
                p.limit,
                {"units": "mg L-1", "long_name": f"GB 3097 {p.tracer} limit of the target class"},
            ),
            "background": ("constraint", p.background, {"units": "mg L-1"}),
            "fixed": (
                "constraint",
                p.fixed + p.diffuse,
                {
                    "units": "mg L-1",
                    "long_name": "excess from sources outside the controlled set and area loads",
                },
            ),
            "value_today": ("constraint", today_value, {"units": "mg L-1"}),
            "value": (
                "constraint",
                result.value,
                {"units": "mg L-1", "long_name": "concentration with the allowable loads"},
            ),
            "slack": ("constraint", result.slack, {"units": "mg L-1"}),
            "binding": ("constraint", result.binding.astype(np.int8)),
            "shadow_price": (
                "constraint",
                result.shadow_price,
                {
                    "units": "t yr-1 (mg L-1)-1",
                    "long_name": "objective gain per mg/L of relaxed limit",
                },
            ),
            "unattainable": ("constraint", result.unattainable.astype(np.int8)),
        },
        coords={
            "source": list(p.sources),
            "constraint": rows,
            "receptor": ("constraint", [p.receptor(r).key for r in range(len(rows))]),
            "season": ("constraint", [p.matrices[k].label for k in p.row_matrix]),
            "target_class": ("constraint", [int(p.target[r]) for r in range(len(rows))]),
        },
    )
    ds.attrs.update(
        {
            "title": f"bbw_bay allowable loads of {p.tracer} (response-coefficient "
            "method, HiGHS LP)",
            "tracer": p.tracer,
            "mode": p.mode,
            "growth": p.growth,
            "feasible": int(result.feasible),
            "status": result.status,
            "explanations": "\n".join(result.explanations),
        }
    )
    return ds


def capacity_table(result: CapacityResult, *, all_sources: bool = False) -> str:
    """Plain-text report: status, per-source loads and cuts, binding and unattainable rows.

    Parameters
    ----------
    result : a `bbw_bay.control.capacity.CapacityResult`
    all_sources : list the fixed (uncontrolled) sources too

    Returns
    -------
    str: per controlled source today's and the allowable load, the cut [t/yr] and [%] and the
    constraints that limit it; the binding constraints with their shadow prices

    Examples
    --------
    >>> print(capacity_table(allowable_loads(model, tracer="DIN")))  # doctest: +SKIP
    """
    p = result.problem
    lines = [
        f"{p.tracer} ({p.mode}"
        + (f", growth {p.growth:g}" if p.mode == "max" else "")
        + f"): {result.status}"
    ]
    for text in result.explanations:
        lines.append(f"  UNATTAINABLE {text}")
    if not result.feasible:
        return "\n".join(lines)
    lines.append(
        f"  {'source':<36} {'today t/yr':>11} {'allowable':>11} {'cut t/yr':>11} "
        f"{'cut %':>7}  limited by"
    )
    for k, name in enumerate(p.sources):
        if not (p.controlled[k] or all_sources):
            continue
        limited = [p.row_label(r) for r in result.limiting_rows(k)] if p.controlled[k] else []
        if p.controlled[k] and not limited:
            at_bound = result.allowable[k] >= p.upper[k] * (1 - 1e-9)
            limited = ["its upper bound" if at_bound else "-"]
        label = "" if p.controlled[k] else " (fixed)"
        pct = result.cut_percent[k]
        lines.append(
            f"  {name + label:<36} {p.today[k]:11.5g} {result.allowable[k]:11.5g} "
            f"{result.cut[k]:11.5g} {pct:7.1f}  "
            + ", ".join(limited[:3])
            + (" ..." if len(limited) > 3 else "")
        )
    controlled = p.controlled
    today, allowed = p.today[controlled].sum(), result.allowable[controlled].sum()
    lines.append(
        f"  {'total controlled':<36} {today:11.5g} {allowed:11.5g} "
        f"{today - allowed:11.5g} {100 * (today - allowed) / max(today, 1e-300):7.1f}"
    )
    lines.append(
        "  binding constraints (receptor, limit, background + fixed, shadow price t/yr per mg/L):"
    )
    for r in np.nonzero(result.binding)[0]:
        lines.append(
            f"    {p.row_label(r):<34} Class {ROMAN[int(p.target[r])]:<3} "
            f"{p.limit[r]:.4g} mg/L  {p.background[r] + p.diffuse[r] + p.fixed[r]:.4g} "
            f"mg/L  {result.shadow_price[r]:.4g}"
        )
    if not result.binding.any():
        lines.append("    none")
    return "\n".join(lines)


def capacity_csv(results: Sequence[CapacityResult], path: str | os.PathLike) -> Path:
    """Write per-source rows of one or more results (e.g. one per tracer) as CSV, atomically."""
    import csv

    from bbw_bay.core.output import atomic_write

    header = [
        "tracer",
        "mode",
        "growth",
        "feasible",
        "source",
        "controlled",
        "today_t_per_yr",
        "allowable_t_per_yr",
        "cut_t_per_yr",
        "cut_percent",
        "limited_by",
    ]

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(header)
            for result in results:
                p = result.problem
                for k, name in enumerate(p.sources):
                    limited = ";".join(p.row_label(r) for r in result.limiting_rows(k))
                    out.writerow(
                        [
                            p.tracer,
                            p.mode,
                            f"{p.growth:g}",
                            int(result.feasible),
                            name,
                            int(p.controlled[k]),
                            f"{p.today[k]:.6g}",
                            f"{result.allowable[k]:.6g}",
                            f"{result.cut[k]:.6g}",
                            f"{result.cut_percent[k]:.4f}",
                            limited,
                        ]
                    )

    return atomic_write(path, write)


def verification_line(check: Mapping) -> str:
    """One line of a `verify` result: PASS/FAIL, the largest relative excess and binding gap."""
    return (
        f"  forward check (upwind steady run with the allowable loads): "
        f"{'PASS' if check['passed'] else 'FAIL'} — largest (value − limit)/limit "
        f"{check['max_relative_excess']:.1e}, binding rows within "
        f"{check['max_binding_gap']:.1e} of their limit (tolerance "
        f"{check['rtol']:.0e} relative)"
    )


__all__ = [
    "VERIFY_RTOL",
    "capacity_csv",
    "capacity_dataset",
    "capacity_table",
    "verification_line",
    "verify",
]
