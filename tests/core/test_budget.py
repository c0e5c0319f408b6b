"""Region mass budgets through monitored sections, and the ambient-background formulation."""

from __future__ import annotations

import numpy as np
import pytest

from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.solver import Sections
from bbw_bay.core.sources import PointSource
from bbw_bay.units import DAY, TONNE_PER_YEAR
from tests.conftest import streamfunction_flow

# A budget of ~1e9 g summed over ~1e3 steps in float64: round-off ~1e-13 relative.
ROUND_OFF = 1e-11


def _basin():
    """Basin with an island, a divergence-free gyre flow (≤ 0.2 m/s) and two sources."""
    nx, ny, dx = 48, 36, 2000.0
    wet = np.ones((ny, nx), dtype=bool)
    wet[15:20, 20:26] = False
    grid = Grid.cartesian(
        nx, ny, dx=dx, dy=dx, depth=12.0, wet=wet, open_boundaries=("west", "east")
    )
    xe, ye = np.meshgrid(grid.x_edge, grid.y_edge)
    psi = 0.2 * 12.0 * 30e3 * np.sin(np.pi * xe / xe.max()) * np.sin(np.pi * ye / ye.max())
    flow = streamfunction_flow(grid, psi)
    sources = [
        PointSource(
            "A", x=10 * dx, y=8 * dx, loads={"T": 50 * TONNE_PER_YEAR, "K": 50 * TONNE_PER_YEAR}
        ),
        PointSource(
            "B", x=30 * dx, y=28 * dx, loads={"T": 20 * TONNE_PER_YEAR, "K": 20 * TONNE_PER_YEAR}
        ),
    ]
    return grid, flow, sources


def _region_and_sections(grid):
    xc, yc = np.meshgrid(grid.x_centre, grid.y_centre)
    region = (xc > 12e3) & (xc < 70e3) & (yc > 10e3)

    def name(x, y):
        return "west" if x < 20e3 else ("south" if y < 15e3 else "other")

    return region, Sections.around(grid, region, name)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_region_budget_through_sections_closes_to_round_off(engine):
    # Storage change in a region = loads in it − decay in it + Σ inflow through its sections,
    # with each section flux taken from the very face fluxes of the update: exact up to
    # round-off, for a conservative and a decaying tracer, with limited MC advection.
    grid, flow, sources = _basin()
    region, sections = _region_and_sections(grid)
    assert set(sections.names) == {"west", "south", "other"}
    model = Model(
        grid,
        flow,
        tracers={"T": Tracer(background=0.2), "K": Tracer(0.3, 0.2)},
        sources=sources,
        diffusivity=20.0,
        sections=sections,
        engine=engine,
    )
    model.run(5 * DAY, output_interval=DAY)
    budget = model.statistics.region_budget
    for name in ("T", "K"):
        b = budget[name]
        scale = max(abs(b["initial_g"]), abs(b["final_g"]), abs(b["loads_in_g"]))
        assert abs(b["imbalance_g"]) < ROUND_OFF * scale
        assert any(abs(b[f"inflow_{s}_g"]) > 1e-6 * scale for s in sections.names)
    assert budget["K"]["decayed_g"] > 0 and budget["T"]["decayed_g"] == 0.0


def test_numba_and_numpy_section_fluxes_agree():
    # Same discretisation, two implementations: section inflows agree to round-off.
    grid, flow, sources = _basin()
    _, sections = _region_and_sections(grid)
    results = []
    for engine in ("numba", "numpy"):
        model = Model(
            grid,
            flow,
            tracers={"T": Tracer(background=0.2), "K": Tracer(0.3)},
            sources=sources,
            diffusivity=20.0,
            sections=sections,
            engine=engine,
        )
        model.run(DAY)
        results.append(model.statistics.region_budget["T"])
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_ambient_background_does_not_decay_and_excess_superposes():
    # Ambient mode: with no loads the water stays exactly at the background (it is not a decaying
    # tracer); with loads, reported − background equals a boundary-mode run with zero background
    # (same operator, same excess), to round-off.
    grid, flow, sources = _basin()
    common = dict(sources=sources, diffusivity=20.0)
    # T decays too: with no flow through the open edges a conservative tracer has no steady state
    tracer = {"T": Tracer(0.1, 0.1), "K": Tracer(decay_per_day=0.3, background=0.2)}
    quiet = Model(grid, flow, tracers=tracer, background_mode="ambient", diffusivity=20.0)
    ds = quiet.run(3 * DAY)
    wet = grid.wet
    assert np.abs(ds["K"].values[-1][wet] - 0.2).max() < 1e-14
    ambient = Model(grid, flow, tracers=tracer, background_mode="ambient", **common)
    excess = Model(grid, flow, tracers={"T": Tracer(0.1), "K": Tracer(0.3, 0.0)}, **common)
    a = ambient.run(3 * DAY)["K"].values[-1][wet] - 0.2
    e = excess.run(3 * DAY)["K"].values[-1][wet]
    assert np.abs(a - e).max() < 1e-12 * np.abs(e).max()
    steady = ambient.steady_state()["K"].values[wet] - 0.2
    steady_excess = excess.steady_state()["K"].values[wet]
    assert np.abs(steady - steady_excess).max() < 1e-9 * np.abs(steady_excess).max()


def test_age_tracer_gives_volume_over_flow_in_a_well_mixed_box():
    # Water age (CART): a dye released with the inflow of a strongly mixed closed box (river in,
    # outflow at the open edge) has mean age V / Q everywhere at steady state; the marching
    # scheme approaches it. Mixing is finite over the box, so 5 %.
    from bbw_bay.core.flow import Flow

    nx, ny, dx, depth = 16, 4, 500.0, 5.0
    grid = Grid.cartesian(nx, ny, dx=dx, dy=dx, depth=depth, open_boundaries=("east",))
    q = 200.0  # m³/s: V / Q ≈ 4.6 days
    discharge = np.zeros(grid.shape)
    discharge[1, 0] = q
    flow = Flow.from_rivers(grid, discharge)
    river = PointSource("river", x=0.5 * dx, y=1.5 * dx, loads={"dye": q * 1.0}, discharge=q)
    tracers = {"dye": Tracer(), "dye_age": Tracer(age_of="dye")}
    model = Model(grid, flow, tracers=tracers, sources=[river], diffusivity=2e3, advection="upwind")
    steady = model.steady_state()
    age = steady["dye_age"].values / steady["dye"].values / DAY
    expected = nx * ny * dx * dx * depth / q / DAY
    assert np.nanmedian(age[grid.wet]) == pytest.approx(expected, rel=0.05)
    ds = model.run(8 * expected * DAY, output_interval=2 * expected * DAY)
    marched = model.mean_age_days(np.stack([ds[n].values[-1] for n in model.names]))["dye_age"]
    # after 8 ages the age field is within e^-8-ish of steady plus time-stepping error (1 %)
    assert np.nanmedian(marched[grid.wet]) == pytest.approx(np.nanmedian(age[grid.wet]), rel=0.01)
    b = model.statistics.budget["dye_age"]
    assert abs(b["imbalance_g"]) < 1e-10 * max(abs(b["final_g"]), abs(b["loads_in_g"]))


def test_age_tracer_must_name_an_ordinary_tracer_with_its_decay():
    from bbw_bay.core.model import ModelError

    grid = Grid.cartesian(4, 4, dx=100.0, dy=100.0, depth=2.0)
    flow = Flow.steady(grid, u=0.0, v=0.0)
    with pytest.raises(ModelError, match="age_of"):
        Model(grid, flow, tracers={"a": Tracer(age_of="nope")})
    with pytest.raises(ModelError, match="decay"):
        Model(grid, flow, tracers={"a": Tracer(0.1), "b": Tracer(0.2, age_of="a")})


def test_singular_steady_problem_is_a_clear_bad_input():
    # A closed basin with a load and no decay has no steady state (mass grows without bound):
    # the LU is exactly singular, and the user gets NoSteadyStateError (exit 2), not a traceback.
    from bbw_bay.core.steady import NoSteadyStateError

    grid = Grid.cartesian(3, 3, dx=100.0, dy=100.0, depth=2.0)
    flow = Flow.steady(grid, u=0.0, v=0.0)
    model = Model(
        grid,
        flow,
        tracers={"T": Tracer()},
        diffusivity=1.0,
        sources=[PointSource("s", x=150.0, y=150.0, loads={"T": 1.0})],
    )
    with pytest.raises(NoSteadyStateError, match="no steady state"):
        model.steady_state()


def test_source_tags_add_up_to_the_land_based_part():
    # Tagged tracers carry each source's share: with the linear upwind scheme and an ambient
    # background, Σ tags = DIN − background everywhere, to round-off (superposition).
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from tests.conftest import REPO

    config = load_config(
        REPO / "configs" / "channel.toml",
        [
            "transport.background_mode=ambient",
            "transport.advection=upwind",
            "run.duration_days=3",
            'run.tag_sources=["DIN"]',
        ],
    )
    setup = build(config)
    ds = setup.model.run(**setup.run_options)
    tags = [v for v in ds.data_vars if str(v).startswith("DIN@")]
    assert len(tags) == len(setup.model.sources) == 2
    wet = setup.grid.wet
    excess = ds["DIN"].values[-1][wet] - setup.model.tracers["DIN"].background_at(0.0)
    total = sum(ds[t].values[-1][wet] for t in tags)
    assert np.abs(total - excess).max() < 1e-12 * np.abs(excess).max()
