"""The Simulation owns the run: spin-up, time-mean records, checkpoints, resume, input checksums.

Everything here goes through the library (``bb.Simulation``), not the command line: a library
caller gets checkpoints, resume and input checksums without the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import bbw_bay as bb
from bbw_bay.core.checkpoint import CheckpointError
from bbw_bay.core.simulation import SimulationError
from bbw_bay.core.solver import RK_STAGES
from bbw_bay.units import DAY, TONNE_PER_YEAR


class Interrupted(Exception):
    """Raised from a progress callback: the run 'crashes' there."""


def basin_model(diffusivity: float = 20.0):
    """A 30 × 16 basin open to the east, a river with monthly loads, an ambient background that
    changes by month, and two tracers: a state that depends on time in every way a run can."""
    grid = bb.Grid.cartesian(30, 16, dx=1000.0, dy=1000.0, depth=8.0, open_boundaries=("east",))
    river = bb.PointSource(
        "river",
        x=500.0,
        y=8000.0,
        loads={"DIN": 200 * TONNE_PER_YEAR, "dye": 50 * TONNE_PER_YEAR},
        discharge=40.0,
        monthly_load_factor=[1.5, 1.4, 1.2, 1.0, 0.8, 0.6, 0.6, 0.8, 1.0, 1.2, 1.4, 0.5],
    )
    discharge = np.zeros(grid.shape)
    discharge[8, 0] = 40.0
    flow = bb.Flow.from_rivers(grid, discharge)
    background = [0.10, 0.11, 0.12, 0.13, 0.12, 0.11, 0.10, 0.09, 0.08, 0.09, 0.10, 0.10]
    return bb.Model(
        grid,
        flow,
        tracers={"DIN": bb.Tracer(0.05, background), "dye": bb.Tracer(0.0, 0.0)},
        sources=[river],
        diffusivity=diffusivity,
        background_mode="ambient",
        return_time_days=0.2,
    )


#: Spin-up and evaluated period chosen so that the spin-up crosses a month boundary (day 28 of
#: the year falls in January, the evaluated days 30-33 straddle 1 February at day 30.44) and the
#: checkpoint interval (0.7 d) is not a multiple of the output interval (1 d): checkpoints land
#: during the spin-up and in the middle of output intervals.
RUN = {
    "stop_days": 3.0,
    "output_interval_days": 1.0,
    "start_day_of_year": 30.0,
    "spinup_days": 1.5,
    "checkpoint_interval_days": 0.7,
}


def simulation(model, tmp_path: Path, *, stop_at: float | None = None, **changes):
    """A checkpointed Simulation of ``model``; ``stop_at`` [days of run time] interrupts it."""

    def progress(done: float, total: float) -> None:
        if stop_at is not None and done >= stop_at * DAY:
            raise Interrupted

    options = {**RUN, "checkpoint": tmp_path / "run.ckpt.npz", "guard_every": 5, **changes}
    return bb.Simulation(model, progress=progress, **options)


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run, and its model's budget."""
    model = basin_model()
    ds = bb.Simulation(model, **RUN).run()
    return ds, model.statistics


@pytest.mark.parametrize("stop_at", [0.9, 2.3, 3.6])  # in the spin-up, mid-record, late
def test_resumed_run_is_bitwise_the_uninterrupted_run(reference, tmp_path, stop_at):
    # The checkpoint holds every quantity the next step reads, as exact float64 copies, and the
    # finished records are read back from the records file: the resumed run repeats the
    # uninterrupted run's floating-point operations exactly, so equality is exact.
    want, stats = reference
    with pytest.raises(Interrupted):
        simulation(basin_model(), tmp_path, stop_at=stop_at).run()
    assert (tmp_path / "run.ckpt.npz").is_file()
    got = simulation(basin_model(), tmp_path).run(resume=True)
    assert set(got.data_vars) == set(want.data_vars)
    for name in want.data_vars:
        np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)
    np.testing.assert_array_equal(got["time"].values, want["time"].values)
    assert got.attrs["mass_budget"] == want.attrs["mass_budget"]
    assert got.attrs["spinup_mass_budget"] == want.attrs["spinup_mass_budget"]
    assert got.attrs["steps"] == stats.steps and got.attrs["spinup_steps"] == stats.spinup_steps


def test_checkpoint_files_stay_until_removed(tmp_path):
    sim = simulation(basin_model(), tmp_path, stop_days=1.0, spinup_days=0.0)
    sim.run()
    files = {tmp_path / "run.ckpt.npz", tmp_path / "run.ckpt.npz.records"}
    assert set(tmp_path.iterdir()) == files
    sim.remove_checkpoint()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def interrupted(tmp_path):
    """A run with named inputs (a file and a choice) interrupted after its first checkpoints."""
    loads = tmp_path / "loads.csv"
    loads.write_text("river,200\n")
    inputs = {"loads file": loads, "season": "winter"}
    with pytest.raises(Interrupted):  # after 2 evaluated days and 5 checkpoints
        simulation(basin_model(), tmp_path, stop_at=3.6, inputs=inputs).run()
    return tmp_path, inputs


def test_resume_refuses_a_changed_input_file(interrupted):
    tmp_path, inputs = interrupted
    inputs["loads file"].write_text("river,250\n")
    sim = simulation(basin_model(), tmp_path, inputs=inputs)
    with pytest.raises(CheckpointError, match="was made with a different loads file"):
        sim.run(resume=True)


def test_resume_refuses_a_changed_choice_and_shows_both_values(interrupted):
    tmp_path, inputs = interrupted
    sim = simulation(basin_model(), tmp_path, inputs={**inputs, "season": "summer"})
    with pytest.raises(
        CheckpointError, match='different season .checkpoint: "winter", now: "summer"'
    ):
        sim.run(resume=True)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"model": "diffusivity"}, "model"),
        ({"output_interval_days": 0.5}, "run options"),
        ({"spinup_days": 2.0}, "run options"),
    ],
)
def test_resume_refuses_another_model_or_schedule(interrupted, changes, named):
    # without being told, the Simulation checksums its own options and the model it runs
    tmp_path, inputs = interrupted
    model = basin_model(diffusivity=25.0 if changes.pop("model", None) else 20.0)
    sim = simulation(model, tmp_path, inputs=inputs, **changes)
    with pytest.raises(CheckpointError, match=f"was made with a different {named}"):
        sim.run(resume=True)


@pytest.mark.parametrize(
    "member",
    ["c", "acc", "budget_loads_in", "budget_section_in", "boundary_exit_east", "scalars"],
)
def test_crafted_checkpoint_of_the_wrong_shape_is_a_clear_error(interrupted, member):
    # the right digests (copied) but one array cut short: a BadInputError naming the member and
    # the shape this model needs, never an IndexError from deep inside the solver
    tmp_path, inputs = interrupted
    path = tmp_path / "run.ckpt.npz"
    with np.load(path) as data:
        saved = {k: data[k] for k in data.files}
    saved[member] = saved[member][..., :-1]
    with open(path, "wb") as fh:
        np.savez(fh, **saved)
    sim = simulation(basin_model(), tmp_path, inputs=inputs)
    with pytest.raises(CheckpointError, match=f"{member} must be finite float64 of shape"):
        sim.run(resume=True)
    assert issubclass(CheckpointError, bb.errors.BadInputError)


def test_records_file_shorter_than_the_checkpoint_says_is_refused(interrupted):
    tmp_path, inputs = interrupted
    with np.load(tmp_path / "run.ckpt.npz") as data:
        n_records = int(data["scalars"][8])
    assert n_records >= 1
    (tmp_path / "run.ckpt.npz.records").write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"needs {n_records} output records .* holds 0"):
        simulation(basin_model(), tmp_path, inputs=inputs).run(resume=True)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint .* to resume from"):
        simulation(basin_model(), tmp_path).run(resume=True)


def test_spinup_is_computed_but_not_written_and_budgets_are_separate(reference):
    ds, stats = reference
    start = RUN["start_day_of_year"] * DAY
    # three records over [start, start + 3 d], none before the start
    np.testing.assert_allclose(
        ds["time_bnds"].values, start + DAY * np.array([[0, 1], [1, 2], [2, 3]]), rtol=1e-15
    )
    np.testing.assert_allclose(ds["time"].values, start + DAY * np.array([0.5, 1.5, 2.5]))
    assert stats.spinup_steps > 0 and ds.attrs["spinup_days"] == 1.5
    spin = json.loads(ds.attrs["spinup_mass_budget"])
    evaluated = json.loads(ds.attrs["mass_budget"])
    for name in ("DIN", "dye"):
        # the evaluated budget starts where the spin-up's ended (the same state)
        assert evaluated[name]["initial_g"] == spin[name]["final_g"] > 0
        # each closes on its own to round-off (~1e-16 per step, a few hundred steps)
        for budget in (spin, evaluated):
            b = budget[name]
            assert abs(b["imbalance_g"]) <= 1e-12 * max(b["loads_in_g"], b["final_g"])


def test_records_are_time_means_with_bounds_and_cf_cell_methods(reference):
    ds, _ = reference
    assert ds["DIN"].attrs["cell_methods"] == "time: mean"
    assert ds["time"].attrs["bounds"] == "time_bnds" and ds.attrs["output"] == "mean"


def test_storage_change_of_every_tracer_is_stored(reference):
    ds, stats = reference
    budget = json.loads(ds.attrs["mass_budget"])
    stored = json.loads(ds.attrs["storage_change_of_load"])
    for name, b in budget.items():
        ratio = (b["final_g"] - b["initial_g"]) / b["loads_in_g"]
        assert stored[name] == ratio == ds[name].attrs["storage_change_of_load"]
        assert stats.storage_change_of_load[name] == ratio


def test_time_mean_of_exponential_decay_matches_the_exact_integral():
    # A uniform tracer in a closed basin without flow only decays: c(t) = c0 exp(−kt) in every
    # cell (the diffusive fluxes of a uniform field vanish exactly). Each record must be
    #   (1/T) ∫ c dt = c0 (exp(−k t0) − exp(−k t1)) / (k T).
    # The run differs from it by two discretisation errors, both O(z²) in z = k dt:
    # - SSPRK(s,2) multiplies c by R(z) = 1/s + (s−1)/s (1 + z/(s−1))^s per step, whose error
    #   e^{−|z|}·(|z|³/(6(s−1)) + O(z⁴)) accumulates over n steps to n|z|³/(6(s−1)) relative;
    # - the trapezoidal rule over the steps errs by z²/12 relative for an exponential.
    # Their sum, × 1.5 for the O(z⁴) terms, is the tolerance; a rectangle rule (error z/2) or a
    # record that includes the initial state would miss it by a factor > 10.
    k_per_day, c0, dt = 0.5, 2.0, 3600.0
    grid = bb.Grid.cartesian(6, 4, dx=500.0, dy=500.0)
    flow = bb.Flow.steady(grid)
    model = bb.Model(grid, flow, tracers={"c": bb.Tracer(k_per_day, c0)}, diffusivity=5.0)
    ds = bb.Simulation(model, stop_days=2.0, output_interval_days=0.5, dt=dt).run()
    k, z, s = k_per_day / DAY, k_per_day / DAY * dt, RK_STAGES
    t0, t1 = ds["time_bnds"].values.T
    exact = c0 * (np.exp(-k * t0) - np.exp(-k * t1)) / (k * (t1 - t0))
    values = ds["c"].values
    assert np.ptp(values, axis=(1, 2)).max() <= 1e-15 * c0  # uniform, as the argument needs
    got = values[:, 0, 0]
    n_steps = t1 / dt
    tolerance = 1.5 * (n_steps * z**3 / (6 * (s - 1)) + z**2 / 12)
    assert np.all(np.abs(got / exact - 1) <= tolerance), (got / exact - 1, tolerance)
    # and exactly the trapezoid over the discrete solution c0 R^n (round-off of ~50 sums)
    R = 1 / s + (s - 1) / s * (1 - z / (s - 1)) ** s
    n = np.arange(int(n_steps[-1]) + 1)
    level = c0 * R**n
    per = int(0.5 * DAY / dt)
    trapezoid = [
        0.5 * (level[a : a + per] + level[a + 1 : a + per + 1]).mean() for a in range(0, n[-1], per)
    ]
    np.testing.assert_allclose(got, trapezoid, rtol=1e-13)


def test_snapshot_output_keeps_the_initial_record_and_model_run_is_a_snapshot_run():
    model = basin_model()
    ds = bb.Simulation(model, stop_days=1.0, output_interval_days=0.5, output="snapshot").run()
    assert ds.sizes["time"] == 3 and ds["DIN"].attrs["cell_methods"] == "time: point"
    assert "time_bnds" not in ds
    again = basin_model().run(DAY, output_interval=0.5 * DAY)
    for name in ("DIN", "dye"):
        np.testing.assert_array_equal(again[name].values, ds[name].values)


def test_bad_options_are_bad_input():
    model = basin_model()
    with pytest.raises(SimulationError, match="unknown output 'means'.*did you mean 'mean'"):
        bb.Simulation(model, stop_days=1.0, output="means")
    with pytest.raises(SimulationError, match="spinup_days must be a number >= 0"):
        bb.Simulation(model, stop_days=1.0, spinup_days=-1.0)
    with pytest.raises(SimulationError, match="input 'config'.*is not a file"):
        bb.Simulation(model, stop_days=1.0, inputs={"config": Path("/nonexistent.toml")})


def test_auto_settling_depends_on_whether_the_forcing_varies():
    from bbw_bay.core.spinup import AUTO_SPINUP_DAYS, auto_spinup_days, forcing_varies

    varying = basin_model()  # monthly loads and backgrounds
    steady = varying.replace(
        tracers={"DIN": bb.Tracer(0.05, 0.1), "dye": bb.Tracer()},
        sources=[bb.PointSource("river", x=500.0, y=8000.0, loads={"DIN": 5.0}, discharge=40.0)],
    )
    assert forcing_varies(varying) and auto_spinup_days(varying) == AUTO_SPINUP_DAYS
    assert not forcing_varies(steady) and auto_spinup_days(steady) == 0.0


def test_steady_start_of_a_steady_forcing_is_settled(tmp_path):
    # run.initial = "steady" starts from the MC steady state, which the defect correction
    # converges to the time-marching scheme's own fixed point (relative change 1e-10): a day of
    # marching then stores ~1e-11 of its load (measured), below the 1e-9 allowed here (the
    # solve's tolerance with a factor 10), while the same run from the background stores tens
    # of per cent of its load.
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from tests.conftest import REPO

    settled = {}
    for initial in ("steady", "background"):
        config = load_config(
            REPO / "configs" / "channel.toml",
            ["run.duration_days=1", f'run.initial="{initial}"'],
        )
        model = build(config).model
        sim = bb.Simulation.from_config(model, config)
        assert sim.spinup == 0.0  # steady forcing: "auto" spins up nothing
        sim.run()
        settled[initial] = max(abs(v) for v in sim.statistics.storage_change_of_load.values())
    assert settled["steady"] < 1e-9 < 0.1 < settled["background"], settled


def test_steady_start_carries_the_excess_on_the_background_of_the_start():
    # ambient mode: the steady excess over the steady model's (annual) background rides on the
    # run's background of the start month, so the run's model state is the steady excess
    from bbw_bay.core.spinup import steady_start

    model = basin_model()
    annual = model.replace(
        tracers={"DIN": bb.Tracer(0.05, 0.105), "dye": bb.Tracer()},
        sources=[dataclasses.replace(s, monthly_load_factor=None) for s in model.sources],
    )
    start = 40 * DAY  # February: background 0.11
    initial = steady_start(model, annual, start=start)
    steady = annual.steady_state()
    wet = model.grid.wet
    excess = steady["DIN"].values[wet] - 0.105
    np.testing.assert_allclose(initial["DIN"][wet], np.maximum(excess, 0.0) + 0.11, rtol=1e-15)
    state = model.initial_state(initial, start=start)
    np.testing.assert_allclose(state[0][wet], np.maximum(excess, 0.0), atol=1e-15)
