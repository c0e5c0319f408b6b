"""Ensemble files: the uncertain inputs of a Monte Carlo ensemble and the draws of its members.

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
members of a larger ensemble are the n-member ensemble (`draw_members`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

from bbw_bay.control.scenario_spec import (
    Operation,
    ScenarioError,
    ScenarioSpec,
    parse_operation,
    parse_spec,
    unknown_keys,
)
from bbw_bay.core.config import load_config
from bbw_bay.errors import did_you_mean
from bbw_bay.gulf.data import read_toml
from bbw_bay.units import SEASONS_AND_ANNUAL

KINDS = ("load", "decay", "config")
DISTRIBUTIONS = ("lognormal", "uniform")
#: Largest coefficient of variation of a lognormal multiplier: at cv = 10, σ = 2.15 and the
#: central 95 % of draws spans 0.0009–9 times the median; a wider spread is no longer an
#: uncertainty of a measured input (and cv² overflows beyond 1.3e154).
MAX_CV = 10.0
#: Largest bound of a uniform multiplier (as sources.load_scale).
MAX_MULTIPLIER = 1000.0
#: Most members of a file or ``--members``: the draws (members × inputs) and every member's
#: zone statistics are held in memory; the work estimate (`bbw_bay.core.work`) bounds the
#: time well below this.
MAX_MEMBERS = 1_000_000
#: Most retries of a failed member.
MAX_RETRIES = 100
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
    raw, text = read_toml(
        path, error=EnsembleError, missing="ensemble file not found", invalid="malformed TOML"
    )
    return parse_ensemble(raw, path=Path(path), text=text)


def parse_ensemble(raw: Mapping, *, path: Path | None = None, text: str = "") -> EnsembleSpec:
    """Validate a parsed ensemble mapping (see the module docstring)."""
    where = str(path) if path else "<ensemble>"
    unknown_keys(where, "the top level", raw, _TOP_KEYS, error=EnsembleError)
    run = raw.get("run", {})
    if not isinstance(run, dict):
        raise EnsembleError(f"{where}: [run] must be a table, found {type(run).__name__}")
    unknown_keys(where, "[run]", run, _RUN_KEYS, error=EnsembleError)
    season = run.get("season")
    if season is not None and season not in SEASONS_AND_ANNUAL:
        raise EnsembleError(
            f"{where}: run.season must be one of {list(SEASONS_AND_ANNUAL)}, found {season!r}"
            + did_you_mean(str(season), SEASONS_AND_ANNUAL)
        )
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
    members = _integer(where, "run.members", run.get("members", 20), minimum=1, maximum=MAX_MEMBERS)
    seed = _integer(where, "run.seed", run.get("seed", 0), minimum=0)
    retries = _integer(where, "run.retries", run.get("retries", 2), minimum=0, maximum=MAX_RETRIES)
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
    unknown_keys(where, label, entry, _UNCERTAIN_KEYS)
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
            top = MAX_CV if key == "cv" else MAX_MULTIPLIER
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and 0 <= value <= top)
            ):
                what = "coefficient of variation" if key == "cv" else "multiplier"
                raise EnsembleError(
                    f"{at}: {key} must be a number in [0, {top:g}] ({what}), found {value!r}"
                )
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
        value = config_value(base, key) if isinstance(key, str) else None
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


def config_value(config, dotted: str):
    """The value of a dotted config key ("section.key" or "tracers.NAME.key"), or None."""
    parts = dotted.split(".")
    if len(parts) == 3 and parts[0] == "tracers":
        return config.tracers.get(parts[1], {}).get(parts[2])
    if len(parts) != 2 or parts[0] not in config.sections:
        return None
    return config[parts[0]].get(parts[1])


def _integer(where: str, key: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EnsembleError(f"{where}: {key} must be an integer >= {minimum}, found {value!r}")
    if maximum is not None and value > maximum:
        raise EnsembleError(f"{where}: {key} must be <= {maximum:,}, found {value!r}")
    return value


# ----------------------------------------------------------------------------- members
def draw_members(spec: EnsembleSpec, *, members: int, seed: int) -> list[dict[str, float]]:
    """``members`` parameter sets {input name: multiplier}, drawn up front from ``seed``."""
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_MEMBERS:
        raise EnsembleError(
            f"members must be an integer from 1 to {MAX_MEMBERS:,}, found {members!r}"
        )
    z = np.random.default_rng(seed).standard_normal((members, len(spec.uncertain)))
    columns = [u.multiplier(z[:, k]) for k, u in enumerate(spec.uncertain)]
    return [
        {u.name: float(col[m]) for u, col in zip(spec.uncertain, columns, strict=True)}
        for m in range(members)
    ]


__all__ = [
    "DISTRIBUTIONS",
    "KINDS",
    "MAX_CV",
    "MAX_MEMBERS",
    "MAX_MULTIPLIER",
    "EnsembleError",
    "EnsembleSpec",
    "Uncertain",
    "config_value",
    "draw_members",
    "load_ensemble",
    "parse_ensemble",
]
