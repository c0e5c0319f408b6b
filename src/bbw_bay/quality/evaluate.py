"""Zones -> GB 3097-1997 statistics and pass/fail.

Definitions (all area-weighted with ``ds["cell_area"]``, over the wet cells of a zone that hold a
value):

- The **evaluated field** of a tracer is the field itself for a steady state and its time mean
  for a run (a ``time`` dimension; every output record weighs the same, so records should be
  equally spaced and the spin-up cut off beforehand, e.g. ``ds.isel(time=slice(k, None))``).
- ``class_share`` (zone, tracer, class): area share of the evaluated field in each single-factor
  class 1..5 (5 = worse than Class IV, 劣四类). ``good_share`` is the Class I+II share
  (优良水质比例). ``target_share`` is the share meeting the zone's target class or better.
- ``mean``, ``p95``, ``max``: area-weighted mean, area-weighted 95th percentile and maximum of
  the evaluated field [mg/L]. The percentile is the lower weighted quantile: the smallest cell
  value v such that cells with values <= v cover at least 95 % of the zone's area (no
  interpolation). ``peak`` is the maximum over every cell and record.
- ``fraction_time_above_target``: the area- and time-weighted fraction of (cell, record) pairs
  whose single-factor class is worse than the zone's target; for a steady state it equals
  1 - target_share.
- ``passes``: a zone passes for a tracer when ``target_share >= pass_share``. The default
  ``pass_share = 1.0`` means every wet cell of the zone meets the target in the evaluated field:
  GB 3097 states a class as a requirement on the water of a functional zone, with no area
  allowance. Pass a smaller share (e.g. 0.95) to allow mixing zones around outfalls.
- ``overall_*``: the same shares and pass/fail for the worst single factor over the tracers
  (单因子评价 of the water as a whole).

Zones are `bbw_bay.quality.zones.Zone` objects (a polygon or a boolean (Y, X) mask);
`bbw_bay.quality.zones.load_zones` reads ``forcing/zones.toml``.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.core.output import horizontal_dims
from bbw_bay.quality.standards import (
    CLASSES,
    NO_VALUE,
    TRACER_PARAMETERS,
    class_attributes,
    classify,
    overall_class,
    parameter,
)
from bbw_bay.quality.zones import Zone, ZoneError, as_zones, load_zones, zone_masks

log = logging.getLogger(__name__)

#: Percentile reported as ``p95``.
PERCENTILE = 95.0


def _tracer_map(ds: xr.Dataset, tracers) -> dict[str, str]:
    """{data variable: GB 3097 parameter key}."""
    if tracers is None:
        found = {v: TRACER_PARAMETERS[v] for v in ds.data_vars if v in TRACER_PARAMETERS}
        if not found:
            raise ValueError(
                f"no GB 3097 tracer among the dataset's variables "
                f"{list(ds.data_vars)}; expected some of {list(TRACER_PARAMETERS)}"
            )
        return found
    pairs = tracers.items() if isinstance(tracers, Mapping) else ((t, t) for t in tracers)
    out = {}
    for var, name in pairs:
        if var not in ds:
            raise KeyError(f"tracer {var!r} is not in the dataset (has {list(ds.data_vars)})")
        out[var] = parameter(name).key
    return out


def _targets(zones: Sequence[Zone], targets) -> dict[str, int]:
    result = {z.key: z.target_class for z in zones}
    if targets is None:
        return result
    if isinstance(targets, Mapping):
        for key, klass in targets.items():
            if key not in result:
                raise ZoneError(f"targets names unknown zone {key!r} (zones: {list(result)})")
            result[key] = klass
    else:
        result = dict.fromkeys(result, targets)
    for key, klass in result.items():
        if isinstance(klass, bool) or klass not in (1, 2, 3, 4):
            raise ZoneError(f"target class of zone {key!r} must be 1..4; got {klass!r}")
    return result


def _fields(ds: xr.Dataset, var: str, ydim: str, xdim: str) -> tuple[np.ndarray, np.ndarray]:
    """(records (nt, ny, nx), evaluated field (ny, nx)) of a tracer; nt = 1 for a steady state."""
    da = ds[var]
    if "time" in da.dims:
        rec = da.transpose("time", ydim, xdim).values.astype(float)
        if rec.shape[0] == 0:
            raise ValueError(f"tracer {var!r} has no time records")
        return rec, rec.mean(axis=0)
    field2d = da.transpose(ydim, xdim).values.astype(float)
    return field2d[None], field2d


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Lower weighted quantile: smallest v with (weight of values <= v) >= q * total weight."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, q * cum[-1] * (1.0 - 1e-12), side="left"))
    return float(values[order][min(k, values.size - 1)])


def _area(ds: xr.Dataset, ydim: str, xdim: str) -> np.ndarray:
    if "cell_area" not in ds:
        raise KeyError("dataset has no 'cell_area' variable [m²] to weight the statistics")
    area = ds["cell_area"].transpose(ydim, xdim).values.astype(float)
    if np.any(area[np.isfinite(area)] < 0):
        raise ValueError("cell_area has negative values")
    return area


def zone_means(ds: xr.Dataset, variables: Sequence[str], *, zones=None) -> xr.DataArray:
    """Area-weighted mean over each zone of the time-mean of each variable, (variable, zone).

    For diagnostics without a GB 3097 standard: mean water age [days], a tagged tracer's
    contribution [mg/L]. NaN cells (no water of that origin yet) are left out of the mean.
    """
    ydim, xdim, geographic = horizontal_dims(ds)
    zones = as_zones(load_zones() if zones is None else zones, geographic=geographic)
    masks = zone_masks(ds, zones)
    area = _area(ds, ydim, xdim)
    values = np.full((len(variables), len(zones)), np.nan)
    for a, var in enumerate(variables):
        records = _fields(ds, var, ydim, xdim)[0]
        # time mean over the records where the cell has a value (age is NaN before water arrives)
        finite = np.isfinite(records)
        count = finite.sum(axis=0)
        total = np.where(finite, records, 0.0).sum(axis=0)
        field = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        for b, zone in enumerate(zones):
            ok = masks[zone.key] & np.isfinite(field)
            if ok.any():
                values[a, b] = float(np.sum(field[ok] * area[ok]) / np.sum(area[ok]))
    return xr.DataArray(
        values,
        dims=("variable", "zone"),
        coords={"variable": list(variables), "zone": [z.key for z in zones]},
    )


# ----------------------------------------------------------------------------- evaluation
def evaluate(
    ds: xr.Dataset, *, zones=None, tracers=None, targets=None, pass_share: float = 1.0
) -> xr.Dataset:
    """GB 3097-1997 statistics of each zone and tracer (definitions in the module docstring).

    Parameters
    ----------
    ds : model output (tracer variables in mg/L, ``cell_area`` [m²], ``wet``; dims (time,) Y, X)
    zones : list of `Zone`, or {key: (Y, X) bool mask}; None reads ``forcing/zones.toml``
        (lon/lat datasets only)
    tracers : variable names (each a tracer name known to `bbw_bay.quality.standards`), or
        {variable: parameter}; None takes every known tracer in `ds`
    targets : None (each zone's own target), one class (1..4) for all zones, or
        {zone key: class}
    pass_share : area share [0..1] within the target class needed to pass (default 1.0: every
        cell)

    Returns
    -------
    xr.Dataset with dims (zone, tracer, class): class_share, good_share, target_share [1],
    mean, p95, max, peak [mg/L], fraction_time_above_target [1], passes; overall_class_share,
    overall_good_share, overall_target_share, overall_passes (the worst single factor); zone
    coordinates (name, target_class, area [m²], ...).

    Examples
    --------
    >>> result = evaluate(model.steady_state())  # doctest: +SKIP
    >>> print(evaluation_table(result))  # doctest: +SKIP
    """
    if not 0.0 <= pass_share <= 1.0:
        raise ValueError(f"pass_share must lie in [0, 1]; got {pass_share}")
    ydim, xdim, geographic = horizontal_dims(ds)
    zone_list = as_zones(zones, geographic=geographic)
    masks = zone_masks(ds, zone_list)
    tmap = _tracer_map(ds, tracers)
    target = _targets(zone_list, targets)
    area = _area(ds, ydim, xdim)

    nz, ntr, nc = len(zone_list), len(tmap), len(CLASSES)
    share = np.full((nz, ntr, nc), np.nan)
    stats = {k: np.full((nz, ntr), np.nan) for k in ("mean", "p95", "max", "peak", "time")}
    valid_all = np.ones(area.shape, dtype=bool)
    classes_tm = {}
    records_n = 1
    for t, (var, key) in enumerate(tmap.items()):
        rec, tm = _fields(ds, var, ydim, xdim)
        records_n = rec.shape[0]
        valid_all &= np.isfinite(tm)
        klass_tm = classify(tm, key)
        klass_rec = classify(rec, key)
        classes_tm[var] = klass_tm
        for z, zone in enumerate(zone_list):
            cells = masks[zone.key] & np.isfinite(tm)
            if cells.sum() < masks[zone.key].sum():
                log.warning(
                    "zone %r: %d wet cells have no %s value and are left out",
                    zone.key,
                    int(masks[zone.key].sum() - cells.sum()),
                    var,
                )
            w = area[cells]
            total = w.sum()
            if total <= 0:
                continue
            kz = klass_tm[cells]
            share[z, t] = [w[kz == c].sum() / total for c in CLASSES]
            v = tm[cells]
            stats["mean"][z, t] = float(np.sum(w * v) / total)
            stats["p95"][z, t] = weighted_quantile(v, w, PERCENTILE / 100.0)
            stats["max"][z, t] = float(v.max())
            stats["peak"][z, t] = float(np.nanmax(rec[:, cells]))
            above = (klass_rec[:, cells] > target[zone.key]) & (klass_rec[:, cells] != NO_VALUE)
            stats["time"][z, t] = float((above * w).sum() / (total * rec.shape[0]))

    overall = overall_class(classes_tm)
    overall_share = np.full((nz, nc), np.nan)
    for z, zone in enumerate(zone_list):
        cells = masks[zone.key] & valid_all
        total = area[cells].sum()
        if total <= 0:
            log.warning("zone %r has no wet cell with values in this dataset", zone.key)
            continue
        overall_share[z] = [area[cells & (overall == c)].sum() / total for c in CLASSES]

    tgt = np.array([target[z.key] for z in zone_list])
    cls = np.array(CLASSES)
    within = cls[None, None, :] <= tgt[:, None, None]
    target_share = np.where(np.isnan(share[..., 0]), np.nan, (share * within).sum(axis=-1))
    overall_target = np.where(
        np.isnan(overall_share[:, 0]), np.nan, (overall_share * within[:, 0, :]).sum(axis=-1)
    )
    has_time = any("time" in ds[v].dims for v in tmap)
    tol = 1e-9  # shares are sums of float areas: allow round-off when comparing with 1.0
    out = xr.Dataset(
        {
            "class_share": (("zone", "tracer", "class"), share),
            "good_share": (("zone", "tracer"), share[..., 0] + share[..., 1]),
            "target_share": (("zone", "tracer"), target_share),
            "mean": (("zone", "tracer"), stats["mean"]),
            "p95": (("zone", "tracer"), stats["p95"]),
            "max": (("zone", "tracer"), stats["max"]),
            "peak": (("zone", "tracer"), stats["peak"]),
            "fraction_time_above_target": (("zone", "tracer"), stats["time"]),
            "passes": (
                ("zone", "tracer"),
                np.nan_to_num(target_share, nan=-1.0) >= pass_share - tol,
            ),
            "overall_class_share": (("zone", "class"), overall_share),
            "overall_good_share": (("zone",), overall_share[:, 0] + overall_share[:, 1]),
            "overall_target_share": (("zone",), overall_target),
            "overall_passes": (
                ("zone",),
                np.nan_to_num(overall_target, nan=-1.0) >= pass_share - tol,
            ),
        },
        coords={
            "zone": [z.key for z in zone_list],
            "tracer": list(tmap),
            "class": list(CLASSES),
            "parameter": ("tracer", list(tmap.values())),
            "target_class": ("zone", tgt),
            "zone_name": ("zone", [z.name or z.key for z in zone_list]),
            "zone_name_zh": ("zone", [z.name_zh for z in zone_list]),
            "province": ("zone", [z.province for z in zone_list]),
            "kind": ("zone", [z.kind for z in zone_list]),
            "area": ("zone", [float(area[masks[z.key] & valid_all].sum()) for z in zone_list]),
            "n_cells": ("zone", [int((masks[z.key] & valid_all).sum()) for z in zone_list]),
        },
        attrs={
            "standard": "GB 3097-1997 Sea water quality standard, single-factor evaluation",
            "pass_share": pass_share,
            "time_records": records_n,
            "evaluated_field": "time mean over equally weighted records"
            if has_time
            else "steady state",
            "percentile": "lower area-weighted quantile, no interpolation",
        },
    )
    for name, units in (
        ("mean", "mg L-1"),
        ("p95", "mg L-1"),
        ("max", "mg L-1"),
        ("peak", "mg L-1"),
        ("area", "m2"),
    ):
        out[name].attrs["units"] = units
    for name in (
        "class_share",
        "good_share",
        "target_share",
        "fraction_time_above_target",
        "overall_class_share",
        "overall_good_share",
        "overall_target_share",
    ):
        out[name].attrs["units"] = "1"
    return out


def class_map(ds: xr.Dataset, tracer: str | None = None) -> xr.DataArray:
    """(Y, X) int8 GB 3097 class of the evaluated field (time mean for runs); 0 on land.

    `tracer` None gives the worst class over every known tracer present in `ds`.
    """
    ydim, xdim, _ = horizontal_dims(ds)
    tmap = _tracer_map(ds, None if tracer is None else [tracer])
    classes = {var: classify(_fields(ds, var, ydim, xdim)[1], key) for var, key in tmap.items()}
    klass = overall_class(classes) if tracer is None else classes[tracer]
    if "wet" in ds:
        klass = np.where(ds["wet"].transpose(ydim, xdim).values != 0, klass, NO_VALUE)
    da = xr.DataArray(
        np.asarray(klass, dtype=np.int8),
        dims=(ydim, xdim),
        coords={ydim: ds[ydim], xdim: ds[xdim]},
        name=f"{tracer}_class" if tracer else "water_quality_class",
    )
    da.attrs.update(class_attributes(tracer))
    return da


# ----------------------------------------------------------------------------- reporting
_COLUMNS = (
    "zone",
    "tracer",
    "target",
    "I%",
    "II%",
    "III%",
    "IV%",
    ">IV%",
    "I+II%",
    "mean",
    "p95",
    "max",
    "t>tgt%",
    "result",
)


def _rows(result: xr.Dataset) -> list[dict[str, Any]]:
    rows = []
    for z in result["zone"].values:
        r = result.sel(zone=z)
        entries = [(str(t), r.sel(tracer=t)) for t in result["tracer"].values]
        for tracer, s in entries:
            rows.append(
                {
                    "zone": str(z),
                    "tracer": tracer,
                    "target": int(r["target_class"]),
                    "shares": s["class_share"].values,
                    "good": float(s["good_share"]),
                    "mean": float(s["mean"]),
                    "p95": float(s["p95"]),
                    "max": float(s["max"]),
                    "peak": float(s["peak"]),
                    "time": float(s["fraction_time_above_target"]),
                    "target_share": float(s["target_share"]),
                    "passes": bool(s["passes"]),
                    "area": float(r["area"]),
                    "name": str(r["zone_name"].item()),
                    "name_zh": str(r["zone_name_zh"].item()),
                }
            )
        if result.sizes["tracer"] > 1:
            rows.append(
                {
                    "zone": str(z),
                    "tracer": "worst",
                    "target": int(r["target_class"]),
                    "shares": r["overall_class_share"].values,
                    "good": float(r["overall_good_share"]),
                    "mean": np.nan,
                    "p95": np.nan,
                    "max": np.nan,
                    "peak": np.nan,
                    "time": np.nan,
                    "target_share": float(r["overall_target_share"]),
                    "passes": bool(r["overall_passes"]),
                    "area": float(r["area"]),
                    "name": str(r["zone_name"].item()),
                    "name_zh": str(r["zone_name_zh"].item()),
                }
            )
    return rows


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100.0 * x:.1f}"


def _num(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.4g}"


def evaluation_table(result: xr.Dataset) -> str:
    """A plain-text table of `evaluate`'s result: one line per zone and tracer (+ worst factor).

    Parameters
    ----------
    result : the Dataset of `evaluate`

    Returns
    -------
    str: per zone and tracer the target class, the area share [%] in each GB 3097 class and in
    Class I+II, mean, p95 and max [mg/L], the time share above the target [%] and PASS/FAIL

    Examples
    --------
    >>> print(evaluation_table(evaluate(ds)))  # doctest: +SKIP
    """
    lines = []
    for row in _rows(result):
        verdict = (
            "PASS" if row["passes"] else ("no data" if not np.isfinite(row["good"]) else "FAIL")
        )
        lines.append(
            [
                row["zone"],
                row["tracer"],
                str(row["target"]),
                *(_pct(s) for s in row["shares"]),
                _pct(row["good"]),
                _num(row["mean"]),
                _num(row["p95"]),
                _num(row["max"]),
                _pct(row["time"]),
                verdict,
            ]
        )
    widths = [
        max(len(c), *(len(line[i]) for line in lines)) if lines else len(c)
        for i, c in enumerate(_COLUMNS)
    ]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    head = fmt.format(*_COLUMNS)
    note = (
        f"GB 3097-1997 single-factor classes, area shares of the "
        f"{result.attrs.get('evaluated_field', 'evaluated field')}; concentrations mg/L; "
        f"pass = share within target >= {result.attrs.get('pass_share', 1.0):g}"
    )
    return "\n".join([note, head, "-" * len(head), *(fmt.format(*line) for line in lines)])


def to_csv(result: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `evaluate`'s result as CSV (UTF-8, one row per zone and tracer); returns the path."""
    path = Path(path)
    header = [
        "zone",
        "zone_name",
        "zone_name_zh",
        "tracer",
        "target_class",
        "area_km2",
        "share_I",
        "share_II",
        "share_III",
        "share_IV",
        "share_worse_than_IV",
        "good_share_I_II",
        "target_share",
        "mean_mg_per_L",
        "p95_mg_per_L",
        "max_mg_per_L",
        "peak_mg_per_L",
        "fraction_time_above_target",
        "passes",
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in _rows(result):
            values = [
                row["area"] / 1e6,
                *row["shares"],
                row["good"],
                row["target_share"],
                row["mean"],
                row["p95"],
                row["max"],
                row["peak"],
                row["time"],
            ]
            writer.writerow(
                [
                    row["zone"],
                    row["name"],
                    row["name_zh"],
                    row["tracer"],
                    row["target"],
                    *("" if not np.isfinite(v) else f"{v:.6g}" for v in values),
                    int(row["passes"]),
                ]
            )
    return path
