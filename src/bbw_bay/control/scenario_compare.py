"""Scenario comparison: `evaluate` of every case, its change from the baseline, tables and CSV.

The comparison Dataset is `bbw_bay.quality.evaluate.evaluate` of every (scenario, season) case,
concatenated along ``scenario``, with ``delta_<statistic>`` = the case's statistic minus the
baseline's of the same season, the tracer fields of every case and the provenance of the run.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.control.scenario_spec import BASELINE, Case, ScenarioError, ScenarioSpec
from bbw_bay.core.config import load_config
from bbw_bay.core.output import add_provenance
from bbw_bay.quality.evaluate import evaluate
from bbw_bay.quality.zones import Zone
from bbw_bay.units import DAY

#: Statistics of `evaluate` whose change from the baseline is reported as ``delta_<name>``.
DELTA_STATISTICS = (
    "good_share",
    "target_share",
    "mean",
    "p95",
    "max",
    "overall_good_share",
    "overall_target_share",
)


def default_zones(ds: xr.Dataset):
    """None (the shipped zones) on lon/lat grids; a whole-domain Class II zone otherwise."""
    if ds.attrs.get("geographic"):
        return None
    wet = ds["wet"].values != 0
    return [
        Zone(
            key="domain",
            mask=wet,
            target_class=2,
            name="whole domain",
            source="bbw_bay.control.scenarios: every wet cell (no zones given)",
        )
    ]


def evaluated_field(ds: xr.Dataset, *, spinup_days: float = 0.0) -> xr.Dataset:
    """The part of a case that is evaluated: records after the spin-up for runs [days]."""
    if "time" not in ds.dims or spinup_days <= 0:
        return ds
    keep = ds["time"].values >= ds["time"].values[0] + spinup_days * DAY
    if not keep.any():
        raise ScenarioError(f"run.spinup_days = {spinup_days} leaves no output record")
    return ds.isel(time=np.nonzero(keep)[0])


def compare(
    spec: ScenarioSpec, *, cases: Sequence[Case], fields: Sequence[xr.Dataset], zones=None
) -> xr.Dataset:
    """The comparison Dataset of solved cases (see `bbw_bay.control.scenarios.run_scenarios`).

    Parameters
    ----------
    spec : the scenario file the cases come from
    cases : every (scenario, season) case, the baselines included
    fields : each case's concentrations [mg/L] (`bbw_bay.control.scenarios.solve_case`)
    zones : zones for `evaluate` (None: `default_zones`)

    Returns
    -------
    xr.Dataset with a ``scenario`` dimension (see `run_scenarios`)
    """
    first = fields[0]
    tracers = [v for v in first.data_vars if v not in ("depth", "cell_area", "wet")]
    zones = default_zones(first) if zones is None else zones
    results = [
        evaluate(
            evaluated_field(ds, spinup_days=spec.spinup_days),
            zones=zones,
            pass_share=spec.pass_share,
        )
        for ds in fields
    ]
    labels = [c.label for c in cases]
    stats = xr.concat(
        results, dim="scenario", data_vars="all", coords="minimal", compat="override", join="exact"
    )
    stats = stats.assign_coords(scenario=labels)
    baseline = [_baseline_index(cases, c) for c in cases]
    for name in DELTA_STATISTICS:
        delta = stats[name] - stats[name].isel(scenario=baseline).values
        stats[f"delta_{name}"] = delta
        stats[f"delta_{name}"].attrs.update(
            units=stats[name].attrs.get("units", ""),
            long_name=f"{name} minus the baseline's (same season)",
        )
    out = first[["depth", "cell_area", "wet"]].copy()
    for tracer in tracers:
        out[tracer] = xr.concat([ds[tracer] for ds in fields], dim="scenario")
        out[tracer].attrs.update(first[tracer].attrs)
    out = xr.merge(
        [out.assign_coords(scenario=labels), stats], compat="override", combine_attrs="override"
    )
    out = out.assign_coords(
        scenario_name=("scenario", [c.scenario.name for c in cases]),
        season=("scenario", [c.season_label for c in cases]),
        description=("scenario", [c.scenario.description for c in cases]),
    )
    out["steady_iterations"] = (
        "scenario",
        [int(ds.attrs.get("steady_iterations", 0)) for ds in fields],
    )
    out["wall_seconds"] = (
        "scenario",
        [float(ds.attrs.get("wall_seconds", np.nan)) for ds in fields],
    )
    out["wall_seconds"].attrs["units"] = "s"
    out.attrs = {**first.attrs, **results[0].attrs}
    budgets = {
        c.label: json.loads(ds.attrs.get("mass_budget", "{}"))
        for c, ds in zip(cases, fields, strict=True)
    }
    add_provenance(out, config_text=load_config(spec.base).text, budget=budgets)
    regions = {
        c.label: json.loads(ds.attrs["gulf_proper_budget"])
        for c, ds in zip(cases, fields, strict=True)
        if "gulf_proper_budget" in ds.attrs
    }
    out.attrs.pop("gulf_proper_budget", None)
    if regions:  # per case, as the mass budgets
        out.attrs["gulf_proper_budget"] = json.dumps(regions)
    out.attrs.update(
        {
            "title": spec.title or f"bbw_bay scenarios from {spec.where}",
            "scenario_file": spec.where,
            "scenario_spec": spec.text,
            "scenario_mode": spec.mode,
            "pass_share": spec.pass_share,
            "spinup_days": spec.spinup_days,
        }
    )
    for key in ("steady_iterations", "wall_seconds"):
        out.attrs.pop(key, None)
    return out


def _baseline_index(cases: Sequence[Case], case: Case) -> int:
    """The baseline case of the same season (the only baseline for a season operation)."""
    baselines = [k for k, c in enumerate(cases) if c.scenario.name == BASELINE]
    if case.scenario.season is not None:
        return baselines[0]
    return next(k for k in baselines if cases[k].season == case.season)


# ----------------------------------------------------------------------------- reporting
def comparison_rows(ds: xr.Dataset) -> list[dict[str, Any]]:
    """One dict per scenario, zone and tracer (plus "worst", the overall single factor)."""
    rows = []
    for zone in ds["zone"].values:
        for label in ds["scenario"].values:
            r = ds.sel(zone=zone, scenario=label)
            common = {
                "scenario": str(label),
                "scenario_name": str(r["scenario_name"].item()),
                "season": str(r["season"].item()),
                "zone": str(zone),
                "zone_name": str(r["zone_name"].item()),
                "target_class": int(r["target_class"]),
            }
            rows.append(
                {
                    **common,
                    "tracer": "worst",
                    "good_share": float(r["overall_good_share"]),
                    "delta_good_share": float(r["delta_overall_good_share"]),
                    "target_share": float(r["overall_target_share"]),
                    "passes": bool(r["overall_passes"]),
                    **dict.fromkeys(
                        ("p95", "delta_p95", "max", "delta_max", "mean", "delta_mean"), math.nan
                    ),
                }
            )
            for tracer in ds["tracer"].values:
                s = r.sel(tracer=tracer)
                rows.append(
                    {
                        **common,
                        "tracer": str(tracer),
                        **{
                            k: float(s[k])
                            for k in (
                                "good_share",
                                "delta_good_share",
                                "target_share",
                                "p95",
                                "delta_p95",
                                "max",
                                "delta_max",
                                "mean",
                                "delta_mean",
                            )
                        },
                        "passes": bool(s["passes"]),
                    }
                )
    return rows


def comparison_table(ds: xr.Dataset, *, tracers: Sequence[str] | None = None) -> str:
    """Plain-text table, one line per zone and scenario: target class, Class I+II share of the
    worst single factor [%], its change from the baseline [percentage points], pass/fail, and
    per tracer "p95/max (change of p95 from the baseline [%])" [mg/L].

    Parameters
    ----------
    ds : the Dataset of `bbw_bay.control.scenarios.run_scenarios`
    tracers : the tracers given columns (default all)

    Returns
    -------
    str

    Examples
    --------
    >>> print(comparison_table(run_scenarios("configs/scenarios/guangxi_reduction.toml"),
    ...                        tracers=["DIN"]))  # doctest: +SKIP
    """
    tracers = list(ds["tracer"].values) if tracers is None else list(tracers)
    head = ["zone", "scenario", "tgt", "I+II%", "Δpp", "result"]
    head += [f"{t} p95/max (Δp95)" for t in tracers]
    lines = []
    for zone in ds["zone"].values:
        for label in ds["scenario"].values:
            r = ds.sel(zone=zone, scenario=label)
            line = [
                str(zone),
                str(label),
                str(int(r["target_class"])),
                _pct(float(r["overall_good_share"])),
                _signed(100.0 * float(r["delta_overall_good_share"])),
                "PASS" if bool(r["overall_passes"]) else "FAIL",
            ]
            for t in tracers:
                s = r.sel(tracer=t)
                p95, delta = float(s["p95"]), float(s["delta_p95"])
                base = p95 - delta
                change = _signed(100.0 * delta / base) + "%" if base > 0 else "-"
                line.append(f"{_num(p95)}/{_num(float(s['max']))} ({change})")
            lines.append(line)
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if k < 2 else f"{{:>{w}}}" for k, w in enumerate(widths))
    title = (
        f"scenarios vs baseline ({ds.attrs.get('scenario_mode', 'steady')}): GB 3097 "
        f"Class I+II area share of the worst single factor; pass = share within the "
        f"zone's target >= {ds.attrs.get('pass_share', 1.0):g}; p95, max in mg/L"
    )
    rule = "-" * len(fmt.format(*head))
    return "\n".join([title, fmt.format(*head), rule, *(fmt.format(*line) for line in lines)])


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100.0 * x:.1f}"


def _signed(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return "±0" if abs(x) < 0.05 else f"{x:+.1f}"


def _num(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.3g}"


def to_csv(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `comparison_rows` as CSV (UTF-8); shares are fractions, concentrations mg/L."""
    path = Path(path)
    rows = comparison_rows(ds)
    header = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_csv_value(row[k]) for k in header])
    return path


def _csv_value(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value


__all__ = [
    "DELTA_STATISTICS",
    "compare",
    "comparison_rows",
    "comparison_table",
    "default_zones",
    "evaluated_field",
    "to_csv",
]
