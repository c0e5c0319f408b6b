"""Load multipliers calibrated against observations: a Bayesian linear inversion.

With a steady flow the upwind steady concentration is linear in the loads (`bbw_bay.control.
response`), so an observation r of tracer t, matched to cell (j, i) and to the seasons s of its
sampling period with weights w_rs (`bbw_bay.quality.skill`), is modelled as

    M_r(m) = c_r + Σ_g A_rg m_tg      A_rg = Σ_s w_rs Σ_{i ∈ g} α_s,ri L_i,   c_r = Σ_s w_rs b_s,r

with m_tg the multiplier of group g's load of tracer t (a group is one source, ``river``, or a
province and kind, ``province-kind``), α the response coefficients, L the inventory loads
[t/yr] and b the background (+ area loads). Observation errors are independent Gaussians,
σ_r² = u_r² + (ε O_r)², u_r the stated uncertainty and ε = `REPRESENTATION_ERROR` for what one
3.5 km cell cannot represent. The prior is m_tg ~ N(1, s_tg²) with s from the inventory's
citations (`PRIOR_SD`; a group takes the load-weighted mean of its sources, as if their errors
were fully correlated). The posterior mode under m ≥ 0 solves the bounded least squares

    min_m ||(A m − (O − c)) / σ||² + ||(m − 1) / s||²,   m ≥ 0       (`scipy.optimize.lsq_linear`)

and its covariance is the Laplace (Gauss–Newton) one, (Aᵀ Σ⁻¹ A + S⁻¹)⁻¹; a multiplier at its
bound keeps that covariance and is reported as such. An outer loop can also estimate first-order
decay rates (which enter nonlinearly): a bounded one-dimensional search per tracer over ln k,
with a log-normal prior of factor `RATE_PRIOR_FACTOR` around the config's rate, refactorising the
steady operator for each trial rate.

Skill is the mean OSPAR cost |M − O| / σ (with the σ above), in-sample and by
leave-one-publication-out cross-validation (each publication's rows predicted from a fit to the
others). A calibration that lowers the in-sample cost but raises the cross-validated cost above
the inventory's is flagged and not adopted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bbw_bay.errors import BadInputError, unknown_name
from bbw_bay.quality.observations import Observation
from bbw_bay.quality.receptors import Receptor
from bbw_bay.quality.skill import DEFAULT_MAX_DISTANCE_KM, match_cell
from bbw_bay.quality.validation import STEADY, ModelBasis

log = logging.getLogger(__name__)

#: How sources are grouped into one multiplier each.
GROUPINGS = ("river", "province-kind")
#: Prior standard deviation of a load multiplier by the kind of its citation in the inventory:
#: a published number; a published total split or converted by an estimated factor (LOADS.md:
#: "C total × E split"); an estimate (LOADS.md calls the estimated nutrient loads uncertain by a
#: factor of about 3-5, so sd 1 allows a third of the load within one sd).
PRIOR_SD = {"cited": 0.3, "derived": 0.7, "estimate": 1.0}
#: Relative error of one cell standing for a bay mean or a station (added in quadrature).
REPRESENTATION_ERROR = 0.3
#: A group is informed by the rows when doubling its load moves some row's model value by at
#: least this fraction of that row's σ (every source reaches every cell a little; a group below
#: this keeps its prior and its inventory loads).
INFORMED_FRACTION = 0.05
#: A decay rate's prior: log-normal with this factor as one standard deviation.
RATE_PRIOR_FACTOR = 3.0
#: The rate search spans the config's rate divided and multiplied by this factor.
RATE_SEARCH_FACTOR = 10.0
METHOD = (
    "Bayesian linear inversion (non-negative posterior mode by bounded least squares, Laplace "
    "covariance) of load multipliers on upwind steady response coefficients per season"
)


class CalibrationError(BadInputError):
    """A calibration that cannot be set up with the given observations, config or options."""


def citation_class(text: str) -> str:
    """ "estimate", "derived" or "cited": how a load's citation in a sources file reads."""
    body = str(text).strip().lower()
    if body.startswith("estimate"):
        return "estimate"
    return "derived" if ("estimate" in body or "derived" in body) else "cited"


@dataclass
class Design:
    """The linear model of the calibration rows, M = constant + matrix @ m.

    Attributes
    ----------
    rows : the observations used (concentrations of modelled tracers, matched on the grid)
    tracer : per row, the tracer
    constant : (n,) background + area-load part [mg/L]
    matrix : (n, p) each parameter's contribution at multiplier 1 [mg/L]
    sigma : (n,) observation error σ [mg/L]
    parameters : p (tracer, group) pairs
    prior_sd : (p,) prior standard deviations of the multipliers
    members : {group: source names}
    inventory : {(tracer, source): load [t/yr]}
    skipped : {row id: why it was not used}
    decay_per_day : {tracer: rate used}
    """

    rows: list[Observation]
    tracer: list[str]
    constant: np.ndarray
    matrix: np.ndarray
    sigma: np.ndarray
    parameters: list[tuple[str, str]]
    prior_sd: np.ndarray
    members: dict[str, list[str]]
    inventory: dict[tuple[str, str], float]
    skipped: dict[str, str] = field(default_factory=dict)
    decay_per_day: dict[str, float] = field(default_factory=dict)

    @property
    def observed(self) -> np.ndarray:
        """(n,) observed values."""
        return np.array([o.value for o in self.rows])

    @property
    def informed(self) -> np.ndarray:
        """(p,) bool: the parameters the rows inform (see `INFORMED_FRACTION`)."""
        if not self.parameters:
            return np.zeros(0, dtype=bool)
        return np.max(np.abs(self.matrix) / self.sigma[:, None], axis=0) >= INFORMED_FRACTION

    def predict(self, multipliers: np.ndarray) -> np.ndarray:
        """(n,) model values [mg/L] for multipliers (p,)."""
        return self.constant + self.matrix @ np.asarray(multipliers, dtype=float)


@dataclass(frozen=True)
class Posterior:
    """Posterior of the multipliers: mode (mean), covariance, and which sit at their bound."""

    mean: np.ndarray
    covariance: np.ndarray
    at_bound: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        """(p,) posterior standard deviations."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))


def _group_key(groups: Sequence[str], name: str, grouping: str) -> str:
    if grouping == "river":
        return name
    if len(groups) == 3:
        return f"{groups[0]} {groups[1]}"
    return name


def _inventory_classes(config) -> dict[str, dict[str, str]]:
    """{source name: {tracer: citation class}} of the config's sources file ({} if none)."""
    from bbw_bay.gulf.loads import read_source_table

    file = config["sources"]["file"]
    if not file:
        return {}
    path = None if file == "default" else config.folder / file
    return {
        row["name"]: {t: citation_class(row["citations"].get(t, "")) for t in row["loads_t_per_yr"]}
        for row in read_source_table(path)
    }


def _rows(basis: ModelBasis, observations, max_distance_km: float):
    """(used [(obs, match)], skipped {id: why}) among the concentration rows."""
    tracers = set(basis.tracers())
    used, skipped = [], {}
    ds = basis.dataset if basis.run is None else None
    if ds is None:  # the calibration always works on the config's steady states
        from bbw_bay.core.output import grid_dataset

        ds = grid_dataset(basis.grid)
    for obs in observations:
        if obs.kind != "concentration":
            continue
        if obs.variable not in tracers:
            skipped[obs.id] = f"the model carries no {obs.variable}"
            continue
        match = match_cell(ds, obs.lon, obs.lat, max_distance_km=max_distance_km)
        if not match.ok:
            skipped[obs.id] = match.status
            continue
        used.append((obs, match))
    return used, skipped


def _season_model(basis: ModelBasis, season: str, decay_per_day: Mapping[str, float]):
    model = basis.setup(None if season == STEADY else season).model
    changed = {
        name: replace(t, decay_per_day=float(decay_per_day[name]))
        for name, t in model.tracers.items()
        if name in decay_per_day and t.decay_per_day != decay_per_day[name]
    }
    return model.replace(tracers={**model.tracers, **changed}) if changed else model


def design(
    basis: ModelBasis,
    observations: Sequence[Observation],
    *,
    grouping: str = "river",
    max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
    decay_per_day: Mapping[str, float] | None = None,
    tracers: Sequence[str] | None = None,
) -> Design:
    """The linear model of the concentration rows (see the module docstring).

    Parameters
    ----------
    basis : the config's steady seasons (its ``run`` is not used)
    observations : observation rows; rows of other kinds or unmodelled tracers are skipped
    grouping : "river" (one multiplier per source) or "province-kind"
    max_distance_km : largest distance from a point to its wet cell [km]
    decay_per_day : {tracer: decay rate [1/day]} replacing the config's (outer loop)
    tracers : only rows of these tracers (default every modelled tracer)
    """
    from bbw_bay.control.response import Factorisations, response_coefficients

    if grouping not in GROUPINGS:
        raise CalibrationError(unknown_name("grouping", grouping, GROUPINGS))
    used, skipped = _rows(basis, observations, max_distance_km)
    if tracers is not None:
        used = [(o, m) for o, m in used if o.variable in tracers]
    if not used:
        raise CalibrationError(
            "no observation can calibrate loads: calibration needs concentration rows "
            f"(DIN, PO4, COD, oil) matched to wet cells; skipped {skipped or 'none'}"
        )
    names = sorted({o.variable for o, _ in used})
    rates = dict(decay_per_day or {})
    weights = [basis.steady_weights(o) for o, _ in used]
    seasons = sorted({s for w in weights for s in w})
    n = len(used)
    constant = np.zeros(n)
    first = basis.setup(None if seasons[0] == STEADY else seasons[0]).model
    sources = tuple(x.name for x in first.sources)
    group_of = [_group_key(tuple(x.groups), x.name, grouping) for x in first.sources]
    contributions = np.zeros((n, len(sources)))
    loads: dict[str, np.ndarray] = {}
    for season in seasons:
        model = _season_model(basis, season, rates)
        factors = Factorisations(model)
        rows = [k for k, w in enumerate(weights) if season in w]
        receptors = []
        for k in rows:
            vector = np.zeros(factors.operator.size)
            vector[factors.operator.index[used[k][1].j, used[k][1].i]] = 1.0
            receptors.append(Receptor(used[k][0].id, "point", vector))
        matrix = response_coefficients(
            model, receptors=receptors, tracers=names, factors=factors, label=season
        )
        loads = {names[t]: matrix.loads[t] for t in range(len(names))}  # annual: every season
        part = matrix.contributions()  # (ntr, nrec, ns)
        base = matrix.background + matrix.diffuse
        for r, k in enumerate(rows):
            t = names.index(used[k][0].variable)
            contributions[k] += weights[k][season] * part[t, r]
            constant[k] += weights[k][season] * base[t, r]
        rates.update({t: model.tracers[t].decay_per_day for t in names})
    classes = _inventory_classes(basis.config)
    members: dict[str, list[str]] = {}
    for s, g in zip(sources, group_of, strict=True):
        members.setdefault(g, []).append(s)
    parameters, columns, prior = [], [], []
    tracer_of = [o.variable for o, _ in used]
    for t in names:
        for g, names_g in members.items():
            idx = [sources.index(s) for s in names_g]
            column = np.where(np.array(tracer_of) == t, contributions[:, idx].sum(axis=1), 0.0)
            load = np.array([loads[t][i] for i in idx])
            if load.sum() <= 0:
                continue
            sd = [PRIOR_SD[classes.get(s, {}).get(t, "estimate")] for s in names_g]
            parameters.append((t, g))
            columns.append(column)
            prior.append(float(np.average(sd, weights=load)))
    observed = np.array([o.value for o, _ in used])
    stated = np.array([o.uncertainty or 0.0 for o, _ in used])
    sigma = np.sqrt(stated**2 + (REPRESENTATION_ERROR * observed) ** 2)
    sigma = np.where(sigma > 0, sigma, REPRESENTATION_ERROR * max(observed.max(), 1e-6))
    inventory = {(t, s): float(loads[t][i]) for t in names for i, s in enumerate(sources)}
    return Design(
        [o for o, _ in used],
        tracer_of,
        constant,
        np.array(columns).T if columns else np.zeros((n, 0)),
        sigma,
        parameters,
        np.array(prior),
        members,
        inventory,
        skipped,
        {t: float(rates[t]) for t in names},
    )


def posterior(d: Design, rows: np.ndarray | None = None) -> Posterior:
    """Posterior of the multipliers from the rows ``rows`` (bool (n,), default all)."""
    from scipy.optimize import lsq_linear

    use = np.ones(len(d.rows), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    p = len(d.parameters)
    if p == 0:
        return Posterior(np.zeros(0), np.zeros((0, 0)), np.zeros(0, dtype=bool))
    a = d.matrix[use] / d.sigma[use, None]
    y = (d.observed[use] - d.constant[use]) / d.sigma[use]
    inv_sd = 1.0 / d.prior_sd
    system = np.vstack([a, np.diag(inv_sd)])
    target = np.concatenate([y, inv_sd])
    fit = lsq_linear(system, target, bounds=(0.0, np.inf), method="bvls")
    hessian = a.T @ a + np.diag(inv_sd**2)
    covariance = np.linalg.inv(hessian)
    return Posterior(fit.x, covariance, fit.x <= 1e-12)


def cost(d: Design, predicted: np.ndarray, rows: np.ndarray | None = None) -> dict[str, float]:
    """Skill of predictions: mean OSPAR cost |M − O| / σ, mean and RMS of ln(M / O), n."""
    use = np.ones(len(d.rows), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    use &= np.isfinite(predicted)
    o, m, s = d.observed[use], np.asarray(predicted)[use], d.sigma[use]
    if o.size == 0:
        return {"n": 0, "cost": math.nan, "mean_log_ratio": math.nan, "rms_log_ratio": math.nan}
    positive = (o > 0) & (m > 0)
    logs = np.log(m[positive] / o[positive]) if positive.any() else np.array([math.nan])
    return {
        "n": int(o.size),
        "cost": float(np.mean(np.abs(m - o) / s)),
        "mean_log_ratio": float(np.mean(logs)),
        "rms_log_ratio": float(np.sqrt(np.mean(logs**2))),
    }


def cross_validate(d: Design) -> np.ndarray:
    """(n,) leave-one-publication-out predictions (NaN for a publication that is alone)."""
    sources = np.array([o.source for o in d.rows])
    out = np.full(len(d.rows), np.nan)
    for publication in np.unique(sources):
        test = sources == publication
        if test.all():
            continue
        out[test] = d.predict(posterior(d, ~test).mean)[test]
    return out


@dataclass
class Calibration:
    """A calibration's result (see `calibrate`).

    Attributes
    ----------
    design, posterior : the linear model and the multipliers' posterior
    before, after, cross_validated : skill (`cost`) of the inventory, of the posterior mode
        in-sample, and of the leave-one-publication-out predictions
    flagged : True when the fit improves in-sample but the cross-validated cost is worse than
        the inventory's (the calibration is then not adopted)
    reason : why it is flagged, or what was checked
    grouping : "river" or "province-kind"
    prior_decay_per_day : the config's decay rates (``design.decay_per_day`` holds those used)
    """

    design: Design
    posterior: Posterior
    before: dict
    after: dict
    cross_validated: dict
    flagged: bool
    reason: str
    grouping: str
    prior_decay_per_day: dict = field(default_factory=dict)

    @property
    def adopted(self) -> bool:
        """True unless flagged."""
        return not self.flagged

    def multiplier(self, tracer: str, group: str) -> tuple[float, float]:
        """(posterior mean, sd) of a group's multiplier (1, 0 when the group has no load)."""
        try:
            k = self.design.parameters.index((tracer, group))
        except ValueError:
            return 1.0, 0.0
        return float(self.posterior.mean[k]), float(self.posterior.sd[k])

    def group_of(self, source: str) -> str:
        """The group a source belongs to."""
        return next(g for g, names in self.design.members.items() if source in names)

    def loads(self, tracer: str) -> list[dict]:
        """Per source: inventory load, calibrated mean and sd [t/yr] for one tracer."""
        out = []
        for (t, source), load in self.design.inventory.items():
            if t != tracer:
                continue
            mean, sd = self.multiplier(tracer, self.group_of(source))
            out.append({"source": source, "inventory": load, "mean": load * mean, "sd": load * sd})
        return out


def _verdict(before: dict, after: dict, cv: dict) -> tuple[bool, str]:
    if not np.isfinite(cv["cost"]):
        return False, "not cross-validated (the rows come from one publication)"
    improves = after["cost"] < before["cost"]
    worse = cv["cost"] > before["cost"]
    if improves and worse:
        return True, (
            f"the fit improves in-sample (cost {before['cost']:.3g} -> {after['cost']:.3g}) but "
            f"the cross-validated cost {cv['cost']:.3g} is worse than the inventory's: not adopted"
        )
    return False, (
        f"cross-validated cost {cv['cost']:.3g} against {before['cost']:.3g} for the inventory"
    )


def _fit_rates(basis, observations, grouping, max_distance_km, base: Design) -> dict:
    """Decay rates [1/day] minimising the negative log posterior, per tracer (outer loop)."""
    from scipy.optimize import minimize_scalar

    rates = dict(base.decay_per_day)
    for tracer, k0 in base.decay_per_day.items():
        if k0 <= 0:
            log.info("%s has no decay (rate 0): its rate is not estimated", tracer)
            continue

        def objective(log_k: float, tracer=tracer, k0=k0) -> float:
            d = design(
                basis,
                observations,
                grouping=grouping,
                max_distance_km=max_distance_km,
                decay_per_day={tracer: math.exp(log_k)},
                tracers=[tracer],
            )
            m = posterior(d).mean
            misfit = np.sum(((d.predict(m) - d.observed) / d.sigma) ** 2)
            prior = np.sum(((m - 1.0) / d.prior_sd) ** 2)
            rate = ((log_k - math.log(k0)) / math.log(RATE_PRIOR_FACTOR)) ** 2
            return float(misfit + prior + rate)

        span = math.log(RATE_SEARCH_FACTOR)
        best = minimize_scalar(
            objective,
            bounds=(math.log(k0) - span, math.log(k0) + span),
            method="bounded",
            options={"xatol": 0.05},
        )
        rates[tracer] = math.exp(best.x)
        log.info("%s decay rate %.4g /d (config %.4g /d)", tracer, rates[tracer], k0)
    return rates


def calibrate(
    basis: ModelBasis,
    observations: Sequence[Observation],
    *,
    grouping: str = "river",
    max_distance_km: float = DEFAULT_MAX_DISTANCE_KM,
    fit_rates: bool = False,
) -> Calibration:
    """Calibrate load multipliers (and optionally decay rates) against the concentration rows.

    Parameters
    ----------
    basis : the config's steady seasons
    observations : observation rows (other kinds are ignored)
    grouping : "river" (one multiplier per source and tracer) or "province-kind"
    max_distance_km : largest distance from a point to its wet cell [km]
    fit_rates : also estimate each tracer's first-order decay rate (outer loop)

    Returns
    -------
    Calibration
    """
    d = design(basis, observations, grouping=grouping, max_distance_km=max_distance_km)
    prior_rates = dict(d.decay_per_day)
    if fit_rates:
        rates = _fit_rates(basis, observations, grouping, max_distance_km, d)
        d = design(
            basis,
            observations,
            grouping=grouping,
            max_distance_km=max_distance_km,
            decay_per_day=rates,
        )
    post = posterior(d)
    before = cost(d, d.predict(np.ones(len(d.parameters))))
    if fit_rates:  # the inventory's skill is that of the config's rates
        first = design(basis, observations, grouping=grouping, max_distance_km=max_distance_km)
        before = cost(first, first.predict(np.ones(len(first.parameters))))
    after = cost(d, d.predict(post.mean))
    cv = cost(d, cross_validate(d))
    flagged, reason = _verdict(before, after, cv)
    return Calibration(d, post, before, after, cv, flagged, reason, grouping, prior_rates)


__all__ = [
    "GROUPINGS",
    "INFORMED_FRACTION",
    "METHOD",
    "PRIOR_SD",
    "REPRESENTATION_ERROR",
    "Calibration",
    "CalibrationError",
    "Design",
    "Posterior",
    "calibrate",
    "citation_class",
    "cost",
    "cross_validate",
    "design",
    "posterior",
]
