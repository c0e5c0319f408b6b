"""The Bayesian linear inversion of load multipliers: closed-form posterior, bounds, cross-
validation, the exactness of its linear model against the upwind steady state, and the file."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bbw_bay.control.calibration import (
    PRIOR_SD,
    CalibrationError,
    Design,
    _verdict,
    calibrate,
    citation_class,
    cross_validate,
    design,
    posterior,
)
from bbw_bay.quality.observations import Observation
from tests.conftest import REPO

GULF = REPO / "configs" / "beibu_gulf.toml"


def obs(
    ident, source, lon, lat, variable="DIN", value=0.3, *, start="2021-01-01", end="2021-01-31"
):
    return Observation(
        ident,
        source,
        lon,
        lat,
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
        "",
        variable,
        value,
        "mg/L",
        None,
        "test",
    )


def synthetic(matrix, observed, sigma, prior_sd, sources=None):
    """A Design without a model: M = 0.01 + A m."""
    n, p = np.shape(matrix)
    rows = [
        obs(f"r{k}", (sources or ["S"] * n)[k], 108.0, 21.0, value=observed[k]) for k in range(n)
    ]
    return Design(
        rows,
        ["DIN"] * n,
        np.full(n, 0.01),
        np.asarray(matrix, dtype=float),
        np.asarray(sigma, dtype=float),
        [("DIN", f"g{j}") for j in range(p)],
        np.asarray(prior_sd, dtype=float),
        {f"g{j}": [f"g{j}"] for j in range(p)},
        {("DIN", f"g{j}"): 100.0 for j in range(p)},
    )


# ----------------------------------------------------------------------------- the inversion
def test_posterior_equals_the_closed_form_gaussian_one_when_no_bound_is_active(rng):
    a = rng.uniform(0.01, 0.2, size=(6, 2))
    truth = np.array([0.6, 1.4])
    sigma = np.full(6, 0.02)
    observed = 0.01 + a @ truth + rng.normal(0, 0.005, 6)
    d = synthetic(a, observed, sigma, [0.7, 1.0])
    post = posterior(d)
    w = np.diag(1 / sigma**2)
    p_inv = np.diag(1 / np.array([0.7, 1.0]) ** 2)
    cov = np.linalg.inv(a.T @ w @ a + p_inv)
    mean = cov @ (a.T @ w @ (observed - 0.01) + p_inv @ np.ones(2))
    # bounded least squares (BVLS) with no active bound is the normal-equation solution; 1e-9
    # allows the solvers' different round-off on a condition number of ~1e2
    assert post.mean == pytest.approx(mean, rel=1e-9)
    assert post.covariance == pytest.approx(cov, rel=1e-12)
    assert not post.at_bound.any()


def test_multipliers_stay_non_negative_and_say_so_at_the_bound():
    # an observation below the background asks for a negative load
    d = synthetic([[0.1]], [0.001], [0.001], [1.0])
    post = posterior(d)
    assert post.mean[0] == 0.0 and post.at_bound[0]


def test_a_group_no_observation_sees_keeps_its_prior():
    d = synthetic([[0.1, 0.0], [0.2, 0.0]], [0.05, 0.08], [0.01, 0.01], [0.7, 0.3])
    post = posterior(d)
    assert post.mean[1] == pytest.approx(1.0, abs=1e-12)
    assert post.sd[1] == pytest.approx(0.3, rel=1e-12)


def test_a_group_that_barely_reaches_the_rows_is_not_informed():
    # doubling group 1 moves the rows by 0.001 and 0.002 sigma: below INFORMED_FRACTION
    d = synthetic([[0.1, 1e-5], [0.2, 2e-5]], [0.05, 0.08], [0.01, 0.01], [0.7, 0.3])
    assert d.informed.tolist() == [True, False]


def test_leave_one_publication_out_predicts_each_publication_from_the_others(rng):
    a = rng.uniform(0.05, 0.2, size=(4, 1))
    d = synthetic(a, [0.1, 0.2, 0.15, 0.3], [0.03] * 4, [0.7], sources=["A", "A", "B", "C"])
    cv = cross_validate(d)
    without_a = posterior(d, np.array([False, False, True, True])).mean
    assert cv[:2] == pytest.approx(d.predict(without_a)[:2], rel=1e-12)
    alone = synthetic(a, [0.1, 0.2, 0.15, 0.3], [0.03] * 4, [0.7], sources=["A"] * 4)
    assert np.isnan(cross_validate(alone)).all()


def test_a_fit_that_worsens_the_cross_validated_skill_is_flagged():
    flagged, reason = _verdict({"cost": 1.0}, {"cost": 0.8}, {"cost": 1.1})
    assert flagged and "not adopted" in reason
    assert not _verdict({"cost": 1.0}, {"cost": 0.8}, {"cost": 0.9})[0]
    assert not _verdict({"cost": 1.0}, {"cost": 0.8}, {"cost": float("nan")})[0]


def test_citations_set_the_prior_width():
    assert citation_class("estimate: by basin area") == "estimate"
    assert citation_class("Li et al. 2018 [S69] total x share (estimate: equal)") == "derived"
    assert citation_class("DERIVED: 56.1e8 m3/yr / 3.15576e7 s") == "derived"
    assert citation_class("Li Bin et al. 2018, Guangxi Sciences 25(2)") == "cited"
    assert PRIOR_SD["cited"] < PRIOR_SD["derived"] < PRIOR_SD["estimate"]


# ----------------------------------------------------------------------------- on the gulf
@pytest.fixture(scope="module")
def gulf():
    """The gulf config's winter steady model and three winter rows from two publications."""
    from bbw_bay.core.config import load_config
    from bbw_bay.quality.validation import ModelBasis

    basis = ModelBasis(load_config(GULF, []))
    rows = [
        obs("lianzhou", "A", 109.12, 21.55, value=0.5),
        obs("qinzhou", "B", 108.62, 21.70, value=0.3),
        obs("tieshan_cod", "B", 109.57, 21.55, variable="COD", value=0.8),
        obs("chl", "C", 108.62, 21.62, variable="chlorophyll", value=2.0),
    ]
    return basis, rows, design(basis, rows)


def test_the_linear_model_reproduces_the_upwind_steady_state_at_the_rows(gulf):
    from bbw_bay.control.response import annual_sources

    basis, _, d = gulf
    model = basis.setup("winter").model
    upwind = model.replace(advection="upwind", sources=annual_sources(model)).steady_state()
    j_i = {"lianzhou": (109.12, 21.55), "qinzhou": (108.62, 21.70), "tieshan_cod": (109.57, 21.55)}
    for row, value in zip(d.rows, d.predict(np.ones(len(d.parameters))), strict=True):
        lon, lat = j_i[row.id]
        j, i = basis.grid.locate(lon, lat)
        # superposition of response coefficients is the same linear solve: round-off only
        assert value == pytest.approx(float(upwind[row.variable].values[j, i]), rel=1e-9)


def test_the_design_uses_concentration_rows_and_groups_by_source(gulf):
    basis, rows, d = gulf
    assert [o.id for o in d.rows] == ["lianzhou", "qinzhou", "tieshan_cod"]
    assert set(d.tracer) == {"DIN", "COD"}
    assert d.members["Nanliu"] == ["Nanliu"]
    k = d.parameters.index(("DIN", "Nanliu"))
    # the Nanliu DIN citation is a published total split by an estimated share
    assert d.prior_sd[k] == PRIOR_SD["derived"]
    assert d.matrix[0, k] > 0 and d.matrix[2, k] == 0.0  # no DIN parameter on the COD row
    by_province = design(basis, rows, grouping="province-kind")
    assert "Guangxi river" in by_province.members
    assert "Nanliu" in by_province.members["Guangxi river"]


def test_a_calibration_needs_concentration_rows_and_a_known_grouping(gulf):
    basis, rows, _ = gulf
    with pytest.raises(CalibrationError, match="no observation can calibrate"):
        design(basis, rows[3:])
    with pytest.raises(CalibrationError, match="unknown grouping 'rivers'.*did you mean"):
        design(basis, rows, grouping="rivers")


def test_the_calibrated_file_is_labelled_valid_and_never_the_inventory(gulf, tmp_path):
    from bbw_bay.control.calibration_output import write_calibrated_sources
    from bbw_bay.gulf.data import forcing_path
    from bbw_bay.gulf.loads import read_source_table

    basis, rows, _ = gulf
    cal = calibrate(basis, rows)
    out = write_calibrated_sources(
        cal, tmp_path / "cal.toml", config=basis.config, observations="test.csv", digest="0" * 64
    )
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# label: calibrated")
    assert "test.csv" in text and "Bayesian linear inversion" in text
    calibrated = {r["name"]: r for r in read_source_table(out)}
    inventory = {r["name"]: r for r in read_source_table(None)}
    mean, _ = cal.multiplier("DIN", "Nanliu")
    got = calibrated["Nanliu"]["loads_t_per_yr"]["DIN"]
    # the file keeps 6 significant digits: rounding within half a unit of the sixth, 5e-6
    assert got == pytest.approx(inventory["Nanliu"]["loads_t_per_yr"]["DIN"] * mean, rel=5e-6)
    assert calibrated["Nanliu"]["citations"]["DIN"].startswith("calibrated:")
    # a source no row sees keeps its inventory load and citation
    assert calibrated["Nandu"] == inventory["Nandu"]
    with pytest.raises(CalibrationError, match="is the cited inventory"):
        write_calibrated_sources(
            cal,
            forcing_path("sources.toml"),
            config=basis.config,
            observations="x",
            digest="0",
            overwrite=True,
        )
