"""Allowable loads (环境容量) and minimum reductions by linear programming on response coefficients.

With response coefficients α_ri [mg/L per t/yr] (`control.response`), the steady concentration at
receptor r is b_r + d_r + Σ_i α_ri L_i: background b_r, area-load excess d_r, source loads L_i
[t/yr]. The sources split into a *controlled* set C (the decision variables x_i) and the rest F,
fixed at today's loads. Each receptor r (a control point or a zone mean, in one or more seasons)
must meet the GB 3097 limit of its target class, l_r [mg/L]:

    Σ_{i∈C} α_ri x_i ≤ l_r − b_r − d_r − Σ_{j∈F} α_rj L_j  =: cap_r

Two questions, each a linear programme solved by HiGHS (`scipy.optimize.linprog`):

* ``mode="max"`` — the allowable loads: maximise Σ w_i x_i with 0 ≤ x_i ≤ (1 + growth) L_i
  (w_i = 1 unless weights are given; growth = inf for no upper bound);
* ``mode="min-reduction"`` — the minimum total reduction: minimise Σ w_i (L_i − x_i) with
  0 ≤ x_i ≤ L_i;
* ``mode="uniform"`` — the smallest equal-percentage cut (等比例削减): x_i = θ L_i for every
  controlled source, maximise θ with 0 ≤ θ ≤ 1 (a one-variable LP).

Because α ≥ 0, the problem is feasible exactly when cap_r ≥ 0 for every receptor (all controlled
loads at zero is then a solution). A receptor with cap_r < 0 is *unattainable*: the background and
the fixed sources alone exceed its limit; it is reported with those numbers instead of an answer
(or dropped, with ``skip_unattainable=True``).

Constraint rows are scaled by their limit and variables by their upper bound, so HiGHS's primal
feasibility tolerance (1e-7) is a relative tolerance on each limit. A row binds when its
relative slack is at most `BINDING_RTOL`; its shadow price is the increase of the objective
[t/yr] per mg/L of relaxation of its limit. `bbw_bay.control.capacity_report.verify` re-runs
the steady model with the allowable loads and checks every receptor against its limit; the same
module has the reports (Dataset, table, CSV); `bbw_bay.control.capacity_run` answers for a config
(models per season, receptors, every tracer, verification).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from bbw_bay.control.response import (
    Factorisations,
    ResponseMatrix,
    response_coefficients,
    select_sources,
)
from bbw_bay.core.model import Model
from bbw_bay.errors import BadInputError, unknown_name
from bbw_bay.quality.receptors import Receptor
from bbw_bay.quality.standards import StandardsError, parameter

log = logging.getLogger(__name__)

MODES = ("max", "min-reduction", "uniform")
#: A constraint binds when its slack is at most this fraction of its limit (HiGHS's default
#: primal feasibility tolerance, applied to rows scaled by their limit).
BINDING_RTOL = 1e-7
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


class CapacityError(BadInputError):
    """Bad input to a capacity computation (mode, growth, weights, tracer without a limit)."""


# ----------------------------------------------------------------------------- the problem
@dataclass(frozen=True, eq=False)
class CapacityProblem:
    """One tracer's linear programme, constraints stacked over response matrices (seasons).

    Attributes
    ----------
    tracer, mode : the tracer and "max", "min-reduction" or "uniform"
    sources : source names; ``controlled`` (ns,) bool marks the decision variables
    today, upper : (ns,) today's loads and upper bounds [t/yr] (fixed sources: upper = today)
    weights : (ns,) objective weights [1]
    matrices : the response matrices the rows come from
    row_matrix, row_receptor : (nrow,) index of each row's matrix and receptor
    limit, background, diffuse, fixed : (nrow,) GB 3097 limit, background, area-load excess and
        fixed-source excess at each row [mg/L]
    coefficients : (nrow, ns) α [mg/L per t/yr]
    target : (nrow,) GB 3097 target class of each row (1..4)
    growth : allowed growth over today's loads in "max" mode (inf: no bound)
    """

    tracer: str
    mode: str
    sources: tuple[str, ...]
    controlled: np.ndarray
    today: np.ndarray
    upper: np.ndarray
    weights: np.ndarray
    matrices: tuple[ResponseMatrix, ...]
    row_matrix: np.ndarray
    row_receptor: np.ndarray
    limit: np.ndarray
    background: np.ndarray
    diffuse: np.ndarray
    fixed: np.ndarray
    coefficients: np.ndarray
    target: np.ndarray
    growth: float = 0.0

    @property
    def capacity(self) -> np.ndarray:
        """(nrow,) room left for the controlled sources, l − b − d − fixed [mg/L]."""
        return self.limit - self.background - self.diffuse - self.fixed

    def receptor(self, row: int) -> Receptor:
        """The receptor of a row."""
        return self.matrices[self.row_matrix[row]].receptors[self.row_receptor[row]]

    def row_label(self, row: int) -> str:
        """ "<receptor key>" or "<receptor key> (<season>)" when several matrices are stacked."""
        key = self.receptor(row).key
        label = self.matrices[self.row_matrix[row]].label
        return f"{key} ({label})" if len(self.matrices) > 1 and label else key


def tracer_limit(tracer: str, target_class: int) -> float:
    """GB 3097 upper limit [mg/L] of ``tracer`` for a class (CapacityError if it has none)."""
    try:
        p = parameter(tracer)
    except StandardsError as err:
        raise CapacityError(str(err)) from None
    if p.direction != "upper":
        raise CapacityError(
            f"{tracer} has a {p.direction} limit in GB 3097; allowable loads need "
            "an upper limit (a pollutant)"
        )
    return float(p.limits[target_class - 1])


def check_options(*, mode: str, growth: float) -> None:
    """CapacityError for an unknown ``mode`` or a ``growth`` below 0 (NaN included)."""
    if mode not in MODES:
        raise CapacityError(unknown_name("mode", mode, MODES))
    if not growth >= 0:
        raise CapacityError(f"growth must be >= 0 (a fraction; inf for no bound), got {growth}")


def build_problem(
    matrices: ResponseMatrix | Sequence[ResponseMatrix],
    *,
    tracer: str,
    controlled: Sequence[int] | np.ndarray | None = None,
    mode: str = "max",
    growth: float = 0.2,
    weights: Mapping[str, float] | None = None,
    target_class: int | None = None,
) -> CapacityProblem:
    """The linear programme for one tracer.

    Parameters
    ----------
    matrices : one response matrix, or one per season (same sources, stacked constraints)
    tracer : tracer with a GB 3097 upper limit (DIN, PO4, COD, oil)
    controlled : indices of the controlled sources (default all); the others stay at today's load
    mode : "max" (allowable loads), "min-reduction" or "uniform" (equal-percentage cut)
    growth : "max" mode: controlled loads may reach (1 + growth) × today's (inf: unbounded)
    weights : {source name: weight} in the objective (default 1 each)
    target_class : override every receptor's target class (1..4)
    """
    matrices = (matrices,) if isinstance(matrices, ResponseMatrix) else tuple(matrices)
    if not matrices:
        raise CapacityError("no response matrices given")
    check_options(mode=mode, growth=growth)
    if target_class is not None and target_class not in (1, 2, 3, 4):
        raise CapacityError(f"target_class must be 1..4, got {target_class!r}")
    first = matrices[0]
    for m in matrices[1:]:
        if m.sources != first.sources:
            raise CapacityError(
                "the response matrices have different sources; build every "
                "season from the same config"
            )
    ns = len(first.sources)
    t0 = first.tracer_index(tracer)
    today = first.loads[t0].copy()
    for m in matrices[1:]:
        if not np.allclose(m.loads[m.tracer_index(tracer)], today, rtol=1e-12, atol=0.0):
            raise CapacityError("the response matrices have different loads for the same sources")
    mask = np.zeros(ns, dtype=bool)
    mask[list(range(ns)) if controlled is None else np.asarray(controlled, dtype=int)] = True
    if not mask.any():
        raise CapacityError("no controlled sources")
    factor = 1.0 + growth if mode == "max" else 1.0
    upper = np.where(mask, today * factor, today)
    w = np.ones(ns)
    for name, value in (weights or {}).items():
        if name not in first.sources:
            raise CapacityError(f"weight for unknown source {name!r}")
        if not (value >= 0 and np.isfinite(value)):
            raise CapacityError(f"weight of {name!r} must be a finite number >= 0, got {value}")
        w[first.sources.index(name)] = float(value)
    rows_m, rows_r, coefficients, limit, background, diffuse, target = ([], [], [], [], [], [], [])
    for k, m in enumerate(matrices):
        t = m.tracer_index(tracer)
        for r, receptor in enumerate(m.receptors):
            rows_m.append(k)
            rows_r.append(r)
            coefficients.append(m.coefficients[t, r])
            target.append(target_class or receptor.target_class)
            limit.append(tracer_limit(tracer, target[-1]))
            background.append(m.background[t, r])
            diffuse.append(m.diffuse[t, r])
    coefficients = np.array(coefficients)
    fixed = coefficients[:, ~mask] @ today[~mask]
    return CapacityProblem(
        tracer,
        mode,
        first.sources,
        mask,
        today,
        upper,
        w,
        matrices,
        np.array(rows_m),
        np.array(rows_r),
        np.array(limit),
        np.array(background),
        np.array(diffuse),
        fixed,
        coefficients,
        np.array(target, dtype=int),
        float(growth),
    )


# ----------------------------------------------------------------------------- the solution
@dataclass(eq=False)
class CapacityResult:
    """The LP's answer (or why there is none).

    Attributes
    ----------
    problem : the `CapacityProblem`
    feasible : True when an allowable-load set exists for the kept constraints
    status : one line: what HiGHS reported, or why there is no answer
    allowable : (ns,) allowable loads [t/yr] (fixed sources: today's; NaN if infeasible)
    value : (nrow,) concentration at each row with the allowable loads [mg/L] (by α)
    slack : (nrow,) limit − value [mg/L]
    binding : (nrow,) bool, slack ≤ BINDING_RTOL × limit
    shadow_price : (nrow,) objective gain per mg/L of relaxation of the limit [t/yr per mg/L]
    unattainable : (nrow,) bool, background + fixed sources already above the limit
    dropped : (nrow,) bool, rows left out of the LP (unattainable with skip_unattainable)
    explanations : one sentence per unattainable row
    lp : {"status", "message", "iterations", "seconds"}
    """

    problem: CapacityProblem
    feasible: bool
    status: str
    allowable: np.ndarray
    value: np.ndarray
    slack: np.ndarray
    binding: np.ndarray
    shadow_price: np.ndarray
    unattainable: np.ndarray
    dropped: np.ndarray
    explanations: list[str] = field(default_factory=list)
    lp: dict = field(default_factory=dict)

    @property
    def cut(self) -> np.ndarray:
        """(ns,) today − allowable [t/yr] (negative: room to grow)."""
        return self.problem.today - self.allowable

    @property
    def cut_percent(self) -> np.ndarray:
        """(ns,) cut as a percentage of today's load (NaN where today's load is 0)."""
        today = self.problem.today
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(today > 0, 100.0 * self.cut / today, np.nan)

    def limiting_rows(self, source: int, *, share: float = 0.1) -> list[int]:
        """Binding rows that limit ``source``, largest first.

        By LP duality a controlled source below its upper bound satisfies
        w_i = Σ_r μ_r α_ri (μ_r: shadow prices); a row limits the source when its term μ_r α_ri
        is at least ``share`` of that sum. Empty for a source at its upper bound (no row
        limits it).
        """
        p = self.problem
        if not self.feasible or self.allowable[source] >= p.upper[source] * (1 - 1e-9):
            return []
        terms = np.where(self.binding, np.nan_to_num(self.shadow_price), 0.0)
        terms = terms * p.coefficients[:, source]
        total = terms.sum()
        if not total > 0:
            return []
        order = np.argsort(-terms)
        return [int(r) for r in order if terms[r] >= share * total]


def _explain(problem: CapacityProblem, row: int, *, top: int = 3) -> str:
    receptor = problem.receptor(row)
    where = problem.row_label(row)
    klass = ROMAN[int(problem.target[row])]
    head = (
        f"{receptor.name} [{where}]: the Class {klass} {problem.tracer} limit "
        f"{problem.limit[row]:.4g} mg/L"
    )
    b, d, f = problem.background[row], problem.diffuse[row], problem.fixed[row]
    if b > problem.limit[row]:
        return f"{head} is below the background {b:.4g} mg/L alone; no load control can meet it"
    contributions = problem.coefficients[row] * problem.today
    contributions[problem.controlled] = 0.0
    order = np.argsort(-contributions)[:top]
    largest = ", ".join(
        f"{problem.sources[k]} {contributions[k]:.3g}" for k in order if contributions[k] > 0
    )
    parts = [f"background {b:.4g} mg/L"]
    if d > 0:
        parts.append(f"area loads {d:.3g} mg/L")
    parts.append(
        f"sources outside the controlled set {f:.4g} mg/L"
        + (f" (largest: {largest})" if largest else "")
    )
    return (
        f"{head} is exceeded by {' + '.join(parts)} = {b + d + f:.4g} mg/L even with every "
        "controlled load at zero"
    )


def solve(problem: CapacityProblem, *, skip_unattainable: bool = False) -> CapacityResult:
    """Solve the LP with HiGHS; unattainable receptors are explained (or dropped)."""
    p = problem
    nrow, ns = p.coefficients.shape
    cap = p.capacity
    unattainable = cap < -BINDING_RTOL * p.limit
    explanations = [_explain(p, r) for r in np.nonzero(unattainable)[0]]
    nan_rows = np.full(nrow, np.nan)
    if unattainable.any() and not skip_unattainable:
        status = (
            f"infeasible: {int(unattainable.sum())} of {nrow} constraints cannot be met "
            "whatever the controlled loads"
        )
        return CapacityResult(
            p,
            False,
            status,
            np.full(ns, np.nan),
            nan_rows,
            nan_rows,
            np.zeros(nrow, bool),
            nan_rows,
            unattainable,
            np.zeros(nrow, bool),
            explanations,
            {},
        )
    keep = ~unattainable
    controlled = np.nonzero(p.controlled)[0]
    columns, bounds = _columns(p, controlled)
    a_ub = p.coefficients[np.ix_(keep, controlled)] @ columns / p.limit[keep, None]
    b_ub = np.maximum(cap[keep], 0.0) / p.limit[keep]
    c = -(p.weights[controlled] @ columns)
    t0 = time.perf_counter()
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    lp = {
        "status": int(res.status),
        "message": str(res.message),
        "seconds": time.perf_counter() - t0,
        "iterations": int(getattr(res, "nit", 0)),
    }
    if res.status != 0:
        status = _failure(res.status, p, res.message)
        return CapacityResult(
            p,
            False,
            status,
            np.full(ns, np.nan),
            nan_rows,
            nan_rows,
            np.zeros(nrow, bool),
            nan_rows,
            unattainable,
            unattainable.copy(),
            explanations,
            lp,
        )
    allowable = p.today.copy()
    allowable[controlled] = np.clip(columns @ res.x, 0.0, p.upper[controlled])
    value = p.background + p.diffuse + p.coefficients @ allowable
    binding = np.zeros(nrow, bool)
    binding[keep] = res.ineqlin.residual <= BINDING_RTOL
    shadow = np.full(nrow, np.nan)
    shadow[keep] = -res.ineqlin.marginals / p.limit[keep]
    objective = float(p.weights[controlled] @ allowable[controlled])
    what = {
        "max": "total allowable load",
        "min-reduction": "total kept load",
        "uniform": "total kept load at an equal-percentage cut",
    }[p.mode]
    status = (
        f"optimal: {what} of the {controlled.size} controlled sources "
        f"{objective:.6g} t/yr ({int(binding.sum())} binding constraints"
        + (
            f"; {int(unattainable.sum())} unattainable constraints left out)"
            if unattainable.any()
            else ")"
        )
    )
    return CapacityResult(
        p,
        True,
        status,
        allowable,
        value,
        p.limit - value,
        binding,
        shadow,
        unattainable,
        unattainable.copy(),
        explanations,
        lp,
    )


def _columns(p: CapacityProblem, controlled: np.ndarray) -> tuple[np.ndarray, list]:
    """(n_controlled, ncol) map from LP variables to loads [t/yr], and the variables' bounds.

    "max" and "min-reduction": one variable per source, scaled by its upper bound (so the bound
    is 1); "uniform": one variable θ, the common fraction of today's loads (0 ≤ θ ≤ 1).
    """
    upper, today = p.upper[controlled], p.today[controlled]
    if p.mode == "uniform":
        return today[:, None], [(0.0, 1.0)]
    finite = np.isfinite(upper) & (upper > 0)
    scale = np.where(finite, upper, np.maximum(today, 1.0))
    bounds = [
        (0.0, None if not np.isfinite(u) else u / s) for u, s in zip(upper, scale, strict=True)
    ]
    return np.diag(scale), bounds


def _failure(code: int, problem: CapacityProblem, message: str) -> str:
    if code == 3:
        free = [
            problem.sources[k]
            for k in np.nonzero(problem.controlled)[0]
            if not np.isfinite(problem.upper[k])
        ]
        return (
            "unbounded: with no growth limit some controlled source can grow without "
            f"reaching any constrained receptor's limit ({', '.join(free[:5])}...); give a "
            "finite growth"
        )
    if code == 2:
        return f"infeasible (HiGHS): {message}"
    return f"LP failed (HiGHS status {code}): {message}"


# ----------------------------------------------------------------------------- convenience
def allowable_loads(
    models: Model | Mapping[str, Model],
    *,
    tracer: str = "DIN",
    receptors: Sequence[Receptor] | None = None,
    sources: str | Sequence[str] | None = None,
    mode: str = "max",
    growth: float = 0.2,
    weights: Mapping[str, float] | None = None,
    target_class: int | None = None,
    skip_unattainable: bool = False,
    factors: Mapping[str, Factorisations] | None = None,
) -> CapacityResult:
    """Allowable loads (环境容量) of a set of sources: response coefficients, then the LP.

    Parameters
    ----------
    models : one model with a steady flow, or {season label: model} built from one config
        (e.g. ``build(config, season="winter", steady=True).model``); the constraints of every
        season are stacked
    tracer : tracer with a GB 3097 upper limit (DIN, PO4, COD, oil)
    receptors : control points and zone means (`bbw_bay.quality.receptors`; default the shipped
        ones, lon/lat grids only)
    sources : the controlled sources: names or fields (``"province=Guangxi,kind=river"``,
        `bbw_bay.control.response.select_sources`; default all); the others stay at today's loads
    mode : "max" (largest total allowable load), "min-reduction" (smallest total cut) or
        "uniform" (smallest equal-percentage cut)
    growth : "max" mode: loads may reach (1 + growth) × today's [-] (inf: no bound)
    weights : {source name: weight} in the objective [-] (default 1 each)
    target_class : one GB 3097 class (1..4) for every receptor (default each receptor's own)
    skip_unattainable : leave out receptors that the background and fixed sources alone exceed
    factors : {season label: `Factorisations`} to reuse (default: factorised here)

    Returns
    -------
    CapacityResult: ``allowable`` and ``cut`` per source [t/yr], ``binding`` rows and their
    ``shadow_price`` [t/yr per mg/L], ``status``, and the explanations of unattainable rows

    Examples
    --------
    >>> result = allowable_loads(model, tracer="DIN", sources="province=Guangxi,kind=river",
    ...                          mode="max", growth=0.2)  # doctest: +SKIP
    >>> print(capacity_table(result))  # doctest: +SKIP
    """
    models = {"": models} if isinstance(models, Model) else dict(models)
    if not models:
        raise CapacityError("no models given")
    factors = dict(factors or {})
    matrices = []
    for label, model in models.items():
        matrices.append(
            response_coefficients(
                model,
                receptors=receptors,
                tracers=[tracer],
                factors=factors.get(label) or Factorisations(model),
                label=label,
            )
        )
    controlled = select_sources(next(iter(models.values())), sources)
    problem = build_problem(
        matrices,
        tracer=tracer,
        controlled=controlled,
        mode=mode,
        growth=growth,
        weights=weights,
        target_class=target_class,
    )
    return solve(problem, skip_unattainable=skip_unattainable)


__all__ = [
    "BINDING_RTOL",
    "MODES",
    "ROMAN",
    "CapacityError",
    "CapacityProblem",
    "CapacityResult",
    "allowable_loads",
    "build_problem",
    "check_options",
    "solve",
    "tracer_limit",
]
