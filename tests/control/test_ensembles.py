"""Monte Carlo ensembles: seeded draws, serial == dask, retries, probabilities, the CLI."""

from __future__ import annotations

import functools
import logging
import pickle
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr

from bbw_bay.cli.main import main
from bbw_bay.control.ensemble_spec import (
    EnsembleError,
    draw_members,
    load_ensemble,
    parse_ensemble,
)
from bbw_bay.control.ensembles import check, evaluate_member, run_ensemble
from bbw_bay.control.executors import TaskFailure, run_tasks
from bbw_bay.core.steady import SteadyStateError
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"
UNCERTAIN = """
[[uncertain]]
name = "river_loads"
kind = "load"
group = {kind = "river"}
distribution = "lognormal"
cv = 0.3
basis = "estimate: test"

[[uncertain]]
name = "din_decay"
kind = "decay"
tracer = "DIN"
distribution = "uniform"
low = 0.5
high = 2.0
basis = "estimate: test"

[[uncertain]]
name = "diffusivity"
kind = "config"
key = "transport.diffusivity_m2_per_s"
distribution = "uniform"
low = 0.5
high = 2.0
basis = "estimate: test"
"""


def write_spec(folder, body: str = UNCERTAIN, *, run="members = 4\nseed = 11\n") -> str:
    path = folder / "ensemble.toml"
    path.write_text(
        f'base = "{CHANNEL.as_posix()}"\nset = [\'transport.advection="upwind"\']\n'
        f"[run]\n{run}" + textwrap.dedent(body),
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("ensemble"))


@pytest.fixture(scope="module")
def serial(spec_path):
    return run_ensemble(spec_path)


def test_same_seed_gives_identical_members_and_results(spec_path, serial):
    again = run_ensemble(spec_path)
    xr.testing.assert_identical(serial, again)
    other = run_ensemble(spec_path, seed=12)
    assert not np.array_equal(other["multiplier"].values, serial["multiplier"].values)


def test_draws_are_made_up_front_member_by_member(spec_path):
    spec = load_ensemble(spec_path)
    # the first 3 members of a 5-member ensemble are the 3-member ensemble: one normal matrix
    # (member, input) filled row by row, whatever runs the members later
    assert draw_members(spec, members=5, seed=3)[:3] == draw_members(spec, members=3, seed=3)


def test_multipliers_follow_their_distributions(spec_path):
    spec = load_ensemble(spec_path)
    draws = draw_members(spec, members=20_000, seed=1)
    loads = np.array([d["river_loads"] for d in draws])
    decay = np.array([d["din_decay"] for d in draws])
    # lognormal with mean 1, cv 0.3: sample mean and cv within 5 standard errors
    # (SE of the mean 0.3/√20000 = 0.0021; of the cv ≈ 0.3/√(2·20000)·√(1+2·0.3²) ≈ 0.0016)
    assert abs(loads.mean() - 1.0) < 5 * 0.0021
    assert abs(loads.std() / loads.mean() - 0.3) < 5 * 0.0016
    assert decay.min() >= 0.5 and decay.max() <= 2.0
    assert abs(decay.mean() - 1.25) < 5 * (1.5 / np.sqrt(12) / np.sqrt(20_000))


def test_probabilities_are_the_fraction_of_members_and_lie_in_0_1(serial):
    passes = serial["overall_passes"].values  # (member, zone)
    np.testing.assert_array_equal(serial["probability_meets_target"].values, passes.mean(axis=0))
    by_tracer = serial["probability_passes"].values
    assert np.all((by_tracer >= 0) & (by_tracer <= 1))
    np.testing.assert_array_equal(by_tracer, serial["passes"].values.mean(axis=0))
    # the 50th percentile of the members' DIN p95 is their median (linear interpolation)
    p95 = serial["p95"].sel(tracer="DIN").values[:, 0]
    median = serial["percentiles_of_p95"].sel(percentile=50.0, tracer="DIN").values[0]
    assert median == pytest.approx(np.median(p95), rel=1e-15)


def test_member_loads_scale_the_steady_excess(serial, spec_path):
    # members differ through their multipliers: more river load -> higher DIN p95 when the other
    # inputs are the same; check the sign on the drawn values of a 4-member ensemble
    mult = serial["multiplier"].sel(parameter="river_loads").values
    assert serial.sizes["member"] == 4 and len(set(mult)) == 4
    assert serial.attrs["seed"] == 11 and "river_loads" in list(serial["parameter"].values)
    assert list(serial["basis"].values) == ["estimate: test"] * 3


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # another cluster
def test_dask_cluster_gives_the_serial_results(spec_path, serial):
    distributed = pytest.importorskip("distributed")  # the test extra installs dask[distributed]
    # one single-threaded worker in this process: the dask path (submit, keys, gather, order)
    # without starting processes; `--workers N` starts N processes (checked by hand, see docs)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        parallel = run_ensemble(spec_path, executor=client)
    # the same members, each solved by the same code: identical numbers in member order
    xr.testing.assert_identical(serial, parallel)


def test_the_default_member_function_pickles_for_worker_processes(spec_path):
    spec = load_ensemble(spec_path)
    member = functools.partial(evaluate_member, spec=spec)
    params = draw_members(spec, members=1, seed=0)[0]
    clone = pickle.loads(pickle.dumps(member))
    xr.testing.assert_identical(clone(params), member(params))


def flaky_member(params, *, folder, always=False):
    """Fails on the first attempt of every member (every attempt if ``always``)."""
    marker = folder / f"{params['x']:.17g}"
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if always or attempts == 1:
        raise RuntimeError(f"injected failure, attempt {attempts}")
    return xr.Dataset({"value": params["x"], "above_one": params["x"] > 1.0})


ONE_INPUT = """
[[uncertain]]
name = "x"
kind = "load"
group = "all"
distribution = "lognormal"
cv = 0.5
basis = "estimate: test"
"""


def test_a_failed_member_is_logged_with_its_parameters_and_retried(tmp_path, caplog):
    spec = write_spec(tmp_path, ONE_INPUT, run="members = 6\nseed = 5\n")
    markers = tmp_path / "markers"
    markers.mkdir()
    with caplog.at_level(logging.WARNING, logger="bbw_bay.control.executors"):
        ds = run_ensemble(spec, member_function=functools.partial(flaky_member, folder=markers))
    draws = draw_members(load_ensemble(spec), members=6, seed=5)
    assert sorted(int(p.read_text()) for p in markers.iterdir()) == [2] * 6  # each ran twice
    assert f"member 0 (x={draws[0]['x']:.4g}) failed (attempt 1 of 3)" in caplog.text
    np.testing.assert_array_equal(ds["value"].values, [d["x"] for d in draws])
    # the probability is the empirical fraction of members with x > 1
    fraction = np.mean([d["x"] > 1.0 for d in draws])
    assert float(ds["probability_above_one"]) == fraction and 0 < fraction < 1


def test_a_member_failing_every_attempt_fails_the_run_naming_it(tmp_path):
    spec = write_spec(tmp_path, ONE_INPUT, run="members = 2\nseed = 5\n")
    markers = tmp_path / "markers"
    markers.mkdir()
    member = functools.partial(flaky_member, folder=markers, always=True)
    with pytest.raises(TaskFailure) as err:
        run_ensemble(spec, member_function=member, retries=1)
    draws = draw_members(load_ensemble(spec), members=2, seed=5)
    assert len(err.value.failures) == 2 and "2 task(s) failed" in str(err.value)
    assert (
        f"member 1 (x={draws[1]['x']:.4g}) (2 attempt(s)): RuntimeError: injected failure, "
        "attempt 2"
    ) in str(err.value)
    assert sorted(int(p.read_text()) for p in markers.iterdir()) == [2, 2]


def test_run_tasks_keeps_input_order_on_any_executor():
    items = list(range(7))
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert run_tasks(lambda k: k * k, items=items, executor=pool) == [k * k for k in items]
    assert run_tasks(lambda k: k * k, items=items) == [k * k for k in items]


def test_cli_ensemble_writes_members_and_summary(spec_path, tmp_path, capsys):
    out = tmp_path / "e.nc"
    assert main(["ensemble", spec_path, "--members", "3", "--seed", "2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "P(meets)" in printed and "seed 2" in printed
    with xr.open_dataset(out) as ds:
        assert ds.sizes["member"] == 3 and ds.attrs["seed"] == 2
        assert ds["probability_meets_target"].dims == ("zone",)


@pytest.mark.parametrize(
    "body, expected",
    [
        (UNCERTAIN.replace('basis = "estimate: test"', "", 1), "basis must say where the range"),
        (UNCERTAIN.replace('"lognormal"', '"lognormall"'), "distribution must be one of"),
        (UNCERTAIN.replace("cv = 0.3", "cv = 0.3\nlow = 0.1"), "low does not apply to a lognormal"),
        (
            UNCERTAIN.replace("low = 0.5\nhigh = 2.0", "low = 2.0\nhigh = 0.5", 1),
            "high must exceed low",
        ),
        (
            UNCERTAIN.replace('"transport.diffusivity_m2_per_s"', '"transport.advection"'),
            "key must name a numeric config value",
        ),
        (UNCERTAIN.replace('tracer = "DIN"', 'tracer = "DIM"'), "unknown tracer 'DIM'"),
        (UNCERTAIN.replace('kind = "decay"', 'kind = "decays"'), "kind must be one of"),
    ],
)
def test_bad_ensemble_files_are_named(tmp_path, body, expected):
    spec = write_spec(tmp_path, body)
    with pytest.raises(EnsembleError) as err:
        check(load_ensemble(spec))
    assert "ensemble.toml" in str(err.value) and expected in str(err.value)


def test_unknown_source_in_a_load_group_is_reported_before_any_solve(tmp_path, capsys):
    spec = write_spec(tmp_path, UNCERTAIN.replace('group = {kind = "river"}', 'source = "rivr"'))
    assert main(["ensemble", spec, "-o", str(tmp_path / "x.nc")]) == 2
    expected = "unknown source 'rivr'; expected one of outfall, river (did you mean 'river'?)"
    assert expected in capsys.readouterr().err


def test_shipped_ensemble_file_is_valid_for_the_gulf():
    for path in sorted((REPO / "configs" / "ensembles").glob("*.toml")):
        spec = load_ensemble(path)
        check(spec)  # sources, provinces, tracers and keys exist in the base config
        assert all(u.basis for u in spec.uncertain)
        kinds = {u.kind for u in spec.uncertain}
        assert kinds == {"load", "decay", "config"}, path


def test_parse_rejects_a_bad_run_table():
    with pytest.raises(EnsembleError, match="run.members must be an integer >= 1"):
        parse_ensemble({"base": str(CHANNEL), "run": {"members": 0}, "uncertain": [{"name": "a"}]})


def test_a_permanent_error_is_reported_without_retrying(tmp_path):
    calls = []

    def task(k):
        calls.append(k)
        raise SteadyStateError(f"task {k} does not converge")  # deterministic: no retry

    with pytest.raises(TaskFailure, match=r"task 0 \(1 attempt\(s\)\): SteadyStateError"):
        run_tasks(task, items=[0], retries=2, permanent=(SteadyStateError,))
    assert calls == [0]
