"""Monte Carlo ensembles over uncertain inputs: probability that each zone meets its target.

An ensemble file (`bbw_bay.control.ensemble_spec`, docs/scenarios.md) names a base config and
uncertain inputs, each a multiplier on a nominal value. A member is a scenario (operations
``scale``, ``decay``, ``set``) solved to steady state and evaluated by `quality.evaluate`; any
other callable ``member_function(params) -> xr.Dataset`` can replace it (e.g. allowable loads
per member, `bbw_bay.control.capacity_ensemble`, built on `member_model`). Results are gathered
along ``member``; booleans summarise to probabilities, numbers to percentiles over the members.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from bbw_bay.control.ensemble_spec import (
    EnsembleError,
    EnsembleSpec,
    Uncertain,
    config_value,
    draw_members,
    load_ensemble,
)
from bbw_bay.control.executors import run_tasks
from bbw_bay.control.scenario_compare import default_zones
from bbw_bay.control.scenario_ops import default_season
from bbw_bay.control.scenario_spec import Case, Operation, Scenario, ScenarioError
from bbw_bay.control.scenarios import (
    DETERMINISTIC_ERRORS,
    case_model,
    once_per_message,
    plan,
    solve_case,
)
from bbw_bay.core.config import load_config
from bbw_bay.core.model import Model
from bbw_bay.core.output import add_provenance
from bbw_bay.quality.evaluate import evaluate

log = logging.getLogger(__name__)

#: Percentiles [%] of the member statistics reported in the summary.
PERCENTILES = (5.0, 50.0, 95.0)
#: `evaluate` results each default member keeps.
MEMBER_STATISTICS = (
    "good_share",
    "target_share",
    "mean",
    "p95",
    "max",
    "passes",
    "overall_good_share",
    "overall_target_share",
    "overall_passes",
)


def member_operations(spec: EnsembleSpec, *, params: Mapping[str, float]) -> tuple[Operation, ...]:
    """The scenario operations of one member's multipliers."""
    base = load_config(spec.scenarios.base, spec.scenarios.overrides)
    ops = []
    for u in spec.uncertain:
        factor = float(params[u.name])
        at = f"{spec.where}: uncertain {u.name!r}"
        if u.kind == "load":
            ops.append(Operation("scale", {**u.selector, "factor": factor}, at))
        elif u.kind == "decay":
            ops.append(Operation("decay", {**u.selector, "factor": factor}, at))
        else:
            value = float(config_value(base, u.selector["key"])) * factor
            ops.append(Operation("set", {"values": [f"{u.selector['key']}={value!r}"]}, at))
    return tuple(ops)


def member_case(spec: EnsembleSpec, *, params: Mapping[str, float], label: str = "member"):
    """The `Case` (scenario in the ensemble's season) of one member."""
    season = spec.scenarios.seasons[0]
    scenario = Scenario(label, member_operations(spec, params=params))
    base = load_config(spec.scenarios.base, spec.scenarios.overrides)
    return Case(label, scenario, season, season or default_season(base, steady=True))


def member_model(params: Mapping[str, float], *, spec: EnsembleSpec) -> Model:
    """The steady model of one member (for member functions that solve something else)."""
    return case_model(member_case(spec, params=params), spec=spec.scenarios)[1]


def evaluate_member(params: Mapping[str, float], *, spec: EnsembleSpec, zones=None) -> xr.Dataset:
    """The default member: steady state, then `evaluate` statistics (zone[, tracer])."""
    ds = solve_case(member_case(spec, params=params), spec=spec.scenarios)
    result = evaluate(
        ds,
        zones=default_zones(ds) if zones is None else zones,
        pass_share=spec.scenarios.pass_share,
    )
    out = result[list(MEMBER_STATISTICS)]
    out["steady_iterations"] = int(ds.attrs.get("steady_iterations", 0))
    return out


def check(spec: EnsembleSpec) -> None:
    """Check every input against the base config (sources, tracers, keys) without solving."""
    neutral = {u.name: 1.0 for u in spec.uncertain}
    template = Scenario("check", member_operations(spec, params=neutral))
    try:
        plan(replace(spec.scenarios, scenarios=(template,)))
    except ScenarioError as err:
        raise EnsembleError(str(err).replace("scenario 'check': ", "")) from None


# ----------------------------------------------------------------------------- running
def run_ensemble(
    spec: EnsembleSpec | str | os.PathLike,
    *,
    members: int | None = None,
    seed: int | None = None,
    executor: Any = None,
    retries: int | None = None,
    member_function: Callable[[Mapping[str, float]], xr.Dataset] | None = None,
    zones=None,
    progress: Callable[[int, int], None] | None = None,
    permanent: tuple[type[BaseException], ...] | None = None,
) -> xr.Dataset:
    """Run a Monte Carlo ensemble and summarise it.

    Parameters
    ----------
    spec : an ensemble file or a parsed `EnsembleSpec`
    members, seed, retries : override the file's [run] values
    executor : None (serial), a concurrent.futures executor or a dask.distributed Client
    member_function : params -> xr.Dataset (default `evaluate_member`); picklable for
        process-based executors
    zones : zones for the default member (see `bbw_bay.control.scenarios.run_scenarios`)
    progress : called as progress(done, total) after each member
    permanent : exception types of a member reported at once, not retried (default: the
        deterministic bad-input and no-steady-state errors for the default member, none for
        another member function)

    Returns
    -------
    xr.Dataset: each member's results (member, ...), ``multiplier`` (member, parameter), and
    the summary of `summarise` (``probability_*``, ``percentiles_of_*``); attrs seed, members.

    Raises
    ------
    TaskFailure listing every member (with its parameters) that failed all its attempts.
    """
    if not isinstance(spec, EnsembleSpec):
        spec = load_ensemble(spec)
    members = spec.members if members is None else members
    seed = spec.seed if seed is None else seed
    retries = spec.retries if retries is None else retries
    default_member = member_function is None
    if default_member:
        with once_per_message("bbw_bay.core.sources"):
            check(spec)
        member_function = functools.partial(evaluate_member, spec=spec, zones=zones)
    assert member_function is not None  # for the type checker: set just above when absent
    draws = draw_members(spec, members=members, seed=seed)
    log.info("%d members, seed %d, %d uncertain inputs", members, seed, len(spec.uncertain))
    with once_per_message("bbw_bay.core.sources"):
        results = run_tasks(
            member_function,
            items=draws,
            executor=executor,
            retries=retries,
            describe=lambda k: f"member {k} ({describe_member(draws[k])})",
            name="member",
            progress=progress,
            permanent=(DETERMINISTIC_ERRORS if default_member else ())
            if permanent is None
            else permanent,
        )
    ds = xr.concat(
        results, dim="member", data_vars="all", coords="minimal", compat="override", join="exact"
    )
    ds = ds.assign_coords(member=np.arange(members))
    ds["multiplier"] = (
        ("member", "parameter"),
        np.array([[d[u.name] for u in spec.uncertain] for d in draws]),
    )
    ds = ds.assign_coords(
        parameter=[u.name for u in spec.uncertain],
        parameter_kind=("parameter", [u.kind for u in spec.uncertain]),
        distribution=("parameter", [_distribution_text(u) for u in spec.uncertain]),
        basis=("parameter", [u.basis for u in spec.uncertain]),
    )
    ds["multiplier"].attrs.update(units="1", long_name="drawn multiplier on the nominal value")
    ds = xr.merge([ds, summarise(ds)], combine_attrs="override")
    add_provenance(ds, config_text=load_config(spec.scenarios.base).text)
    ds.attrs.update(
        {
            "title": spec.title or f"bbw_bay ensemble from {spec.where}",
            "ensemble_file": spec.where,
            "ensemble_spec": spec.text,
            "seed": seed,
            "members": members,
            "percentiles": ", ".join(f"{p:g}" for p in PERCENTILES),
            "pass_share": spec.scenarios.pass_share,
        }
    )
    return ds


def describe_member(params: Mapping[str, float]) -> str:
    """ "name=value, ..." of a member's multipliers."""
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def _distribution_text(u: Uncertain) -> str:
    if u.distribution == "lognormal":
        return f"lognormal multiplier, mean 1, cv {u.cv:g}"
    return f"uniform multiplier on [{u.low:g}, {u.high:g}]"


def summarise(ds: xr.Dataset, *, percentiles: Sequence[float] = PERCENTILES) -> xr.Dataset:
    """Over ``member``: ``probability_<v>`` for boolean variables (the fraction of members where
    it holds), ``percentiles_of_<v>`` (percentile, ...) for numeric ones (linear interpolation);
    ``probability_meets_target`` (zone) is ``probability_overall_passes``."""
    out = xr.Dataset()
    q = np.asarray(percentiles, dtype=float) / 100.0
    for name, da in ds.data_vars.items():
        if "member" not in da.dims or name == "multiplier":
            continue
        if da.dtype == bool:
            out[f"probability_{name}"] = da.astype(float).mean("member")
            out[f"probability_{name}"].attrs.update(
                units="1", long_name=f"fraction of members where {name} holds"
            )
        elif np.issubdtype(da.dtype, np.number):
            pct = da.quantile(q, dim="member").rename(quantile="percentile")
            out[f"percentiles_of_{name}"] = pct.assign_coords(percentile=list(percentiles))
            out[f"percentiles_of_{name}"].attrs.update(units=da.attrs.get("units", ""))
    if "probability_overall_passes" in out:
        out["probability_meets_target"] = out["probability_overall_passes"]
        out["probability_meets_target"].attrs["long_name"] = (
            "fraction of members in which the zone meets its target class for every tracer"
        )
    return out


def ensemble_table(ds: xr.Dataset, *, tracers: Sequence[str] | None = None) -> str:
    """Plain-text summary per zone: target class, probability of meeting it, and the 5/50/95th
    percentiles over members of the Class I+II share and of each tracer's p95 [mg/L]."""
    tracers = list(ds["tracer"].values) if tracers is None else list(tracers)
    pct = [f"{p:g}" for p in ds["percentile"].values]
    head = ["zone", "tgt", "P(meets)", f"I+II% ({'/'.join(pct)})"]
    head += [f"{t} p95 ({'/'.join(pct)})" for t in tracers]
    lines = []
    for zone in ds["zone"].values:
        r = ds.sel(zone=zone)
        good = r["percentiles_of_overall_good_share"].values
        line = [
            str(zone),
            str(int(r["target_class"])),
            f"{float(r['probability_meets_target']):.2f}",
            "/".join("-" if not np.isfinite(v) else f"{100 * v:.1f}" for v in good),
        ]
        for t in tracers:
            p95 = r["percentiles_of_p95"].sel(tracer=t).values
            line.append("/".join("-" if not np.isfinite(v) else f"{v:.3g}" for v in p95))
        lines.append(line)
    widths = [max(len(h), *(len(line[k]) for line in lines)) for k, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if k == 0 else f"{{:>{w}}}" for k, w in enumerate(widths))
    title = (
        f"ensemble of {ds.attrs.get('members', ds.sizes['member'])} members "
        f"(seed {ds.attrs.get('seed', '?')}): probability that each zone meets its GB 3097 "
        f"target class for every tracer, and percentiles over members"
    )
    rule = "-" * len(fmt.format(*head))
    return "\n".join([title, fmt.format(*head), rule, *(fmt.format(*line) for line in lines)])


__all__ = [
    "MEMBER_STATISTICS",
    "PERCENTILES",
    "check",
    "describe_member",
    "ensemble_table",
    "evaluate_member",
    "member_case",
    "member_model",
    "member_operations",
    "run_ensemble",
    "summarise",
]
