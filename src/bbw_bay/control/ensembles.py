"""Monte Carlo ensembles over uncertain inputs: probability that each zone meets its target.

An ensemble file (TOML, docs/scenarios.md) names a base config and lists ``[[uncertain]]``
inputs, each a multiplier on a nominal value drawn from a distribution:

==========  =======================================================================
``load``    loads of sources chosen by ``source`` or ``group`` (as in scenario files),
            optionally only of ``tracer``
``decay``   the decay rate of ``tracer``
``config``  a numeric config ``key`` such as ``transport.tidal_dispersion_scale`` or
            ``flow.strait_transport_scale``
==========  =======================================================================

Distributions of the multiplier: ``lognormal`` with mean 1 and coefficient of variation ``cv``
(σ² = ln(1 + cv²), μ = −σ²/2), or ``uniform`` on [``low``, ``high``]. Every input carries a
``basis``: a citation or "estimate: <method>".

Members are drawn up front from ``numpy.random.default_rng(seed)``: one standard-normal matrix
(member, input) filled member by member, mapped to each distribution. The same seed gives the
same members whatever executor runs them and in whatever order they finish, and the first n
members of a larger ensemble are the n-member ensemble. A member is a scenario (operations
``scale``, ``decay``, ``set``) solved to steady state and evaluated by `quality.evaluate`; any
other callable ``member_function(params) -> xr.Dataset`` can replace it (e.g. allowable loads
per member, built on `member_model`). Results are gathered along ``member``; booleans summarise
to probabilities, numbers to percentiles over the members.

Confidence bands on allowable loads: `run_capacity_ensemble` solves, for every member, the
capacity LP of `control.capacity.allowable_loads` on the member's model (its loads, decay rates,
dispersion and flow), and reports per controlled source the 5/50/95th percentiles of its
allowable load [t/yr] over the members with an answer, and the fraction of members that have one
(a member whose receptors cannot meet their limits is an outcome, not a failure).
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import ndtr

from bbw_bay.control.capacity import (
    MODES,
    CapacityError,
    allowable_loads,
    capacity_dataset,
    tracer_limit,
)
from bbw_bay.control.executors import run_tasks
from bbw_bay.control.response import select_sources
from bbw_bay.control.scenarios import (
    DETERMINISTIC_ERRORS,
    SEASONS,
    Case,
    Operation,
    Scenario,
    ScenarioError,
    ScenarioSpec,
    case_model,
    default_season,
    default_zones,
    once_per_message,
    parse_operation,
    parse_spec,
    plan,
    read_toml_file,
    solve_case,
)
from bbw_bay.core.config import load_config
from bbw_bay.core.model import Model
from bbw_bay.core.output import add_provenance
from bbw_bay.quality.evaluate import evaluate
from bbw_bay.quality.receptors import Receptor, default_receptors

log = logging.getLogger(__name__)

KINDS = ("load", "decay", "config")
DISTRIBUTIONS = ("lognormal", "uniform")
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
_TOP_KEYS = ("title", "base", "set", "run", "uncertain")
_RUN_KEYS = (
    "season",
    "members",
    "seed",
    "retries",
    "pass_share",
    "steady_tolerance",
    "steady_max_iterations",
)
_UNCERTAIN_KEYS = (
    "name",
    "kind",
    "source",
    "group",
    "tracer",
    "key",
    "distribution",
    "cv",
    "low",
    "high",
    "basis",
)


class EnsembleError(ScenarioError):
    """An ensemble file is invalid (names the file, the input and the key)."""


@dataclass(frozen=True)
class Uncertain:
    """One uncertain input: a multiplier on a nominal value with a distribution.

    ``selector`` holds ``source``/``group``/``tracer`` (load), ``tracer`` (decay) or ``key``
    (config); ``cv`` (lognormal) or ``low``/``high`` (uniform) describe the multiplier.
    """

    name: str
    kind: str
    distribution: str
    selector: Mapping[str, Any]
    cv: float = 0.0
    low: float = 0.0
    high: float = 0.0
    basis: str = ""

    def multiplier(self, z: np.ndarray) -> np.ndarray:
        """Multipliers for standard-normal draws ``z``."""
        if self.distribution == "lognormal":
            sigma2 = math.log1p(self.cv**2)
            return np.exp(-0.5 * sigma2 + math.sqrt(sigma2) * z)
        return self.low + (self.high - self.low) * ndtr(z)


@dataclass(frozen=True)
class EnsembleSpec:
    """A parsed ensemble file; ``scenarios`` carries base, overrides, season and pass share."""

    scenarios: ScenarioSpec
    uncertain: tuple[Uncertain, ...]
    members: int = 20
    seed: int = 0
    retries: int = 2
    path: Path | None = None
    title: str = ""
    text: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "<ensemble>"


def load_ensemble(path: str | os.PathLike) -> EnsembleSpec:
    """Read and validate an ensemble file (the base path resolves against its folder)."""
    raw, text, path = read_toml_file(path, error=EnsembleError, what="ensemble")
    return parse_ensemble(raw, path=path, text=text)


def parse_ensemble(raw: Mapping, *, path: Path | None = None, text: str = "") -> EnsembleSpec:
    """Validate a parsed ensemble mapping (see the module docstring)."""
    where = str(path) if path else "<ensemble>"
    _unknown(where, "the top level", raw, _TOP_KEYS)
    run = raw.get("run", {})
    if not isinstance(run, dict):
        raise EnsembleError(f"{where}: [run] must be a table, found {type(run).__name__}")
    _unknown(where, "[run]", run, _RUN_KEYS)
    season = run.get("season")
    if season is not None and season not in SEASONS:
        raise EnsembleError(f"{where}: run.season must be one of {list(SEASONS)}, found {season!r}")
    scenario_raw = {k: raw[k] for k in ("title", "base", "set") if k in raw}
    scenario_raw["run"] = {"mode": "steady"}
    for key in ("pass_share", "steady_tolerance", "steady_max_iterations"):
        if key in run:
            scenario_raw["run"][key] = run[key]
    if season is not None:
        scenario_raw["run"]["seasons"] = [season]
    try:
        scenarios = parse_spec(scenario_raw, path=path, text=text)
    except ScenarioError as err:
        raise EnsembleError(str(err)) from None
    members = _integer(where, "run.members", run.get("members", 20), minimum=1)
    seed = _integer(where, "run.seed", run.get("seed", 0), minimum=0)
    retries = _integer(where, "run.retries", run.get("retries", 2), minimum=0)
    entries = raw.get("uncertain", [])
    if (
        not isinstance(entries, list)
        or not entries
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise EnsembleError(f"{where}: expected one or more [[uncertain]] tables")
    base = load_config(scenarios.base, scenarios.overrides)
    uncertain = tuple(_uncertain(where, k, entry, base) for k, entry in enumerate(entries))
    names = [u.name for u in uncertain]
    for name in names:
        if names.count(name) > 1:
            raise EnsembleError(f"{where}: uncertain input name {name!r} is used twice")
    return EnsembleSpec(
        scenarios=scenarios,
        uncertain=uncertain,
        members=members,
        seed=seed,
        retries=retries,
        path=path,
        title=scenarios.title,
        text=text,
    )


def _uncertain(where: str, index: int, entry: Mapping, base) -> Uncertain:
    name = entry.get("name")
    label = f"uncertain[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
    _unknown(where, label, entry, _UNCERTAIN_KEYS)
    at = f"{where}: {label}"
    if not isinstance(name, str) or not name.strip():
        raise EnsembleError(f"{at}: name must be a non-empty string, found {name!r}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise EnsembleError(f"{at}: kind must be one of {list(KINDS)}, found {kind!r}")
    basis = entry.get("basis")
    if not isinstance(basis, str) or not basis.strip():
        raise EnsembleError(
            f"{at}: basis must say where the range comes from (a citation or "
            f'"estimate: <method>"), found {basis!r}'
        )
    selector = {k: entry[k] for k in ("source", "group", "tracer", "key") if k in entry}
    _check_selector(at, kind, selector, base)
    distribution = entry.get("distribution")
    if distribution not in DISTRIBUTIONS:
        raise EnsembleError(
            f"{at}: distribution must be one of {list(DISTRIBUTIONS)}, found {distribution!r}"
        )
    values = {}
    needed = ("cv",) if distribution == "lognormal" else ("low", "high")
    for key in ("cv", "low", "high"):
        if key in entry and key not in needed:
            raise EnsembleError(
                f"{at}: {key} does not apply to a {distribution} distribution "
                f"(it takes {', '.join(needed)})"
            )
        if key in needed:
            value = entry.get(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value >= 0)
            ):
                raise EnsembleError(f"{at}: {key} must be a number >= 0, found {value!r}")
            values[key] = float(value)
    if distribution == "uniform" and not values["high"] > values["low"]:
        raise EnsembleError(
            f"{at}: high must exceed low, found low = {values['low']}, high = {values['high']}"
        )
    return Uncertain(name.strip(), kind, distribution, selector, basis=basis.strip(), **values)


def _check_selector(at: str, kind: str, selector: Mapping, base) -> None:
    allowed = {"load": ("source", "group", "tracer"), "decay": ("tracer",), "config": ("key",)}
    for key in selector:
        if key not in allowed[kind]:
            raise EnsembleError(
                f"{at}: {key} does not apply to kind = {kind!r} (it takes "
                f"{', '.join(allowed[kind])})"
            )
    if kind == "load":
        _operation(at, "scale", {**selector, "factor": 1.0})
    elif kind == "decay":
        _operation(at, "decay", {**selector, "factor": 1.0})
    else:
        key = selector.get("key")
        value = _config_value(base, key) if isinstance(key, str) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EnsembleError(
                f"{at}: key must name a numeric config value such as "
                f'"transport.tidal_dispersion_scale", found {key!r}'
                + (f" (value {value!r})" if value is not None else "")
            )


def _operation(at: str, kind: str, params: Mapping) -> Operation:
    try:
        return parse_operation(at, {"op": kind, **params})
    except ScenarioError as err:
        raise EnsembleError(str(err)) from None


def _config_value(config, dotted: str):
    parts = dotted.split(".")
    if len(parts) == 3 and parts[0] == "tracers":
        return config.tracers.get(parts[1], {}).get(parts[2])
    if len(parts) != 2 or parts[0] not in config.sections:
        return None
    return config[parts[0]].get(parts[1])


def _unknown(where: str, label: str, table: Mapping, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EnsembleError(
                f"{where}: unknown key {key!r} in {label}{hint} (valid keys: {', '.join(allowed)})"
            )


def _integer(where: str, key: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EnsembleError(f"{where}: {key} must be an integer >= {minimum}, found {value!r}")
    return value


# ----------------------------------------------------------------------------- members
def draw_members(spec: EnsembleSpec, *, members: int, seed: int) -> list[dict[str, float]]:
    """``members`` parameter sets {input name: multiplier}, drawn up front from ``seed``."""
    if members < 1:
        raise EnsembleError(f"members must be >= 1, found {members}")
    z = np.random.default_rng(seed).standard_normal((members, len(spec.uncertain)))
    columns = [u.multiplier(z[:, k]) for k, u in enumerate(spec.uncertain)]
    return [
        {u.name: float(col[m]) for u, col in zip(spec.uncertain, columns, strict=True)}
        for m in range(members)
    ]


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
            value = float(_config_value(base, u.selector["key"])) * factor
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


# ----------------------------------------------------------------------------- allowable loads
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
        if mode not in MODES:
            raise CapacityError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if not growth >= 0:
            raise CapacityError(f"growth must be >= 0 (a fraction; inf for no bound), got {growth}")
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
