"""Confidence bands on allowable loads: the capacity LP solved for every ensemble member.

`run_capacity_ensemble` solves, for every member of an ensemble (`bbw_bay.control.ensembles`),
the capacity LP of `bbw_bay.control.capacity.allowable_loads` on the member's model (its loads,
decay rates, dispersion and flow), and reports per controlled source the 5/50/95th percentiles
of its allowable load [t/yr] over the members with an answer, and the fraction of members that
have one (a member whose receptors cannot meet their limits is an outcome, not a failure).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.control.capacity import CapacityError, allowable_loads, check_options, tracer_limit
from bbw_bay.control.capacity_report import capacity_dataset
from bbw_bay.control.ensemble_spec import EnsembleSpec, load_ensemble
from bbw_bay.control.ensembles import check, member_model, run_ensemble
from bbw_bay.control.response import select_sources
from bbw_bay.control.scenarios import DETERMINISTIC_ERRORS, once_per_message
from bbw_bay.quality.receptors import Receptor, default_receptors


def neutral_member(spec: EnsembleSpec) -> dict[str, float]:
    """The member with every multiplier 1 (the base config's nominal values)."""
    return {u.name: 1.0 for u in spec.uncertain}


def check_capacity(
    spec: EnsembleSpec,
    *,
    tracer: str,
    sources: str | Sequence[str] | None,
    mode: str,
    growth: float,
    receptors: Sequence[Receptor] | None = None,
) -> None:
    """Check a capacity ensemble's inputs before any member runs (builds the nominal model once).

    Raises EnsembleError (inputs of the file) or CapacityError / ResponseError (tracer without a
    GB 3097 upper limit or not in the model, unknown mode, growth < 0, a source selector that
    matches nothing, no receptors given for a cartesian grid).
    """
    with once_per_message("bbw_bay.core.sources"):
        check(spec)
        tracer_limit(tracer, 2)
        check_options(mode=mode, growth=growth)
        model = member_model(neutral_member(spec), spec=spec)
    if tracer not in model.names:
        raise CapacityError(
            f"tracer {tracer!r} is not in the model (tracers: {', '.join(model.names)})"
        )
    select_sources(model, sources)
    if receptors is None:
        default_receptors(model.grid)


def capacity_member(
    params: Mapping[str, float],
    *,
    spec: EnsembleSpec,
    tracer: str = "DIN",
    sources: str | Sequence[str] | None = None,
    mode: str = "max",
    growth: float = 0.2,
    skip_unattainable: bool = False,
    receptors: Sequence[Receptor] | None = None,
) -> xr.Dataset:
    """One member's allowable loads: `allowable_loads` on `member_model`.

    Returns
    -------
    xr.Dataset over the controlled ``source``s: ``today`` (the member's loads) and ``allowable``
    [t/yr], ``cut_percent`` [%]; ``total_today``, ``total_allowable`` [t/yr]; ``feasible``
    (bool); over ``constraint``: ``binding`` and ``unattainable`` (bool); ``status`` (text).
    An infeasible member has NaN allowable loads and ``feasible`` False.
    """
    model = member_model(params, spec=spec)
    result = allowable_loads(
        model,
        tracer=tracer,
        receptors=receptors,
        sources=sources,
        mode=mode,
        growth=growth,
        skip_unattainable=skip_unattainable,
    )
    full = capacity_dataset(result)
    controlled = full.isel(source=np.nonzero(result.problem.controlled)[0])
    ds = controlled[["today", "allowable", "cut_percent", "binding", "unattainable"]]
    ds.attrs = {}
    for name in ("binding", "unattainable"):
        ds[name] = ds[name].astype(bool)
    # numpy sums: an infeasible member's total stays NaN (xarray's sum would skip the NaNs)
    ds["total_today"] = (
        (),
        float(np.sum(controlled["today"].values)),
        {"units": "t yr-1", "long_name": "today's load of the controlled sources"},
    )
    ds["total_allowable"] = (
        (),
        float(np.sum(controlled["allowable"].values)),
        {"units": "t yr-1", "long_name": "allowable load of the controlled sources"},
    )
    ds["feasible"] = ((), bool(result.feasible))
    ds["status"] = ((), result.status)
    return ds


def run_capacity_ensemble(
    spec: EnsembleSpec | str | os.PathLike,
    *,
    members: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    retries: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    tracer: str = "DIN",
    sources: str | Sequence[str] | None = None,
    mode: str = "max",
    growth: float = 0.2,
    skip_unattainable: bool = False,
    receptors: Sequence[Receptor] | None = None,
) -> xr.Dataset:
    """Confidence bands on allowable loads: the capacity LP solved for every member.

    Parameters
    ----------
    spec, members, seed, executor, retries, progress : as `run_ensemble` (same seeded draws)
    tracer, sources, mode, growth, skip_unattainable, receptors : as
        `control.capacity.allowable_loads` (default receptors: the shipped control points and
        zones, lon/lat grids only)

    Returns
    -------
    xr.Dataset: each member's `capacity_member` results (member, ...), ``multiplier``, and the
    summary: ``percentiles_of_allowable`` (percentile, source), ``percentiles_of_total_allowable``
    (percentile) [t/yr] over the feasible members (NaN where none is), ``probability_feasible``,
    ``probability_binding`` (constraint); attrs tracer, mode, growth, sources, skip_unattainable.
    """
    if not isinstance(spec, EnsembleSpec):
        spec = load_ensemble(spec)
    check_capacity(
        spec, tracer=tracer, sources=sources, mode=mode, growth=growth, receptors=receptors
    )
    member_function = functools.partial(
        capacity_member,
        spec=spec,
        tracer=tracer,
        sources=sources,
        mode=mode,
        growth=growth,
        skip_unattainable=skip_unattainable,
        receptors=None if receptors is None else tuple(receptors),
    )
    ds = run_ensemble(
        spec,
        members=members,
        seed=seed,
        executor=executor,
        retries=retries,
        member_function=member_function,
        progress=progress,
        permanent=DETERMINISTIC_ERRORS,
    )
    for name, over in (
        ("allowable", "the feasible"),
        ("total_allowable", "the feasible"),
        ("cut_percent", "the feasible"),
        ("today", "all"),
        ("total_today", "all"),
    ):
        ds[f"percentiles_of_{name}"].attrs["long_name"] = (
            f"percentiles over {over} members of {ds[name].attrs.get('long_name', name)}"
        )
    ds.attrs.pop("pass_share", None)
    ds.attrs.update(
        {
            "title": (spec.title or f"bbw_bay ensemble from {spec.where}")
            + f": allowable {tracer} loads ({mode})",
            "tracer": tracer,
            "mode": mode,
            "growth": growth,
            "sources": sources if isinstance(sources, str) else ",".join(sources or ["all"]),
            "skip_unattainable": int(skip_unattainable),
        }
    )
    return ds


def capacity_band_table(ds: xr.Dataset) -> str:
    """Plain-text bands: per controlled source and in total, the 5/50/95th percentiles of the
    members' loads today (all members), of the allowable load [t/yr] and the cut [%] (feasible
    members; each column's percentiles on its own), the fraction of feasible members, and how
    often each constraint binds."""
    pct = "/".join(f"{p:g}" for p in ds["percentile"].values)
    feasible = ds["feasible"].values
    head = ["source", f"today t/yr ({pct})", f"allowable t/yr ({pct})", f"cut % ({pct})"]

    def band(values, digits: str = "load") -> str:
        def text(v: float) -> str:
            if digits == "load":
                return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
            return format(v, digits)

        return "/".join("-" if not np.isfinite(v) else text(v) for v in values)

    lines = []
    for name in ds["source"].values:
        lines.append(
            [
                str(name),
                band(ds["percentiles_of_today"].sel(source=name).values),
                band(ds["percentiles_of_allowable"].sel(source=name).values),
                band(ds["percentiles_of_cut_percent"].sel(source=name).values, ".1f"),
            ]
        )
    today = ds["total_today"].values
    allowed = ds["total_allowable"].values
    with np.errstate(invalid="ignore", divide="ignore"):
        total_cut = np.where(today > 0, 100.0 * (today - allowed) / today, np.nan)
    kept = total_cut[feasible]
    cut_band = (
        np.percentile(kept, ds["percentile"].values)
        if kept.size
        else np.full(ds.sizes["percentile"], np.nan)
    )
    lines.append(
        [
            "total controlled",
            band(ds["percentiles_of_total_today"].values),
            band(ds["percentiles_of_total_allowable"].values),
            band(cut_band, ".1f"),
        ]
    )
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if k == 0 else f"{{:>{w}}}" for k, w in enumerate(widths))
    title = (
        f"allowable {ds.attrs.get('tracer', '?')} loads ({ds.attrs.get('mode', '?')}) over "
        f"{ds.sizes['member']} members (seed {ds.attrs.get('seed', '?')}): an answer in "
        f"{int(feasible.sum())} of {feasible.size} members (P = "
        f"{float(ds['probability_feasible']):.2f}); allowable and cut: percentiles over "
        f"those members"
    )
    rule = "-" * len(fmt.format(*head))
    out = [
        title,
        fmt.format(*head),
        rule,
        *(fmt.format(*line) for line in lines[:-1]),
        rule,
        fmt.format(*lines[-1]),
    ]
    binding = ds["probability_binding"]
    order = np.argsort(-binding.values, kind="stable")
    often = [
        f"{ds['constraint'].values[k]} {100 * binding.values[k]:.0f}%"
        for k in order
        if binding.values[k] > 0
    ]
    out.append("binding constraints (share of members): " + (", ".join(often) or "none"))
    left = ds["probability_unattainable"]
    never = [
        f"{c} {100 * v:.0f}%"
        for c, v in zip(ds["constraint"].values, left.values, strict=True)
        if v > 0
    ]
    if never:
        out.append(
            "unattainable whatever the controlled loads (share of members): " + ", ".join(never)
        )
    return "\n".join(out)


__all__ = [
    "capacity_band_table",
    "capacity_member",
    "check_capacity",
    "neutral_member",
    "run_capacity_ensemble",
]
