"""Example pictures of `bbw_bay.plots` on the real Beibu Gulf grid: docs/img/example_*.png.

Run from the repository root: ``python docs/make_example_figures.py`` (about 30 s on two
cores). A docs script, not part of the package. Settings are illustrative, not a calibrated
assessment: winter residual circulation with the shipped river and outfall loads
(forcing/sources.toml), winter open-sea background (forcing/boundary.toml), tidal dispersion, and
the first-order decay rates in ``DECAY_PER_DAY``.

Steady states use first-order upwind advection, whose steady state is linear in the loads: the
field of any scenario is the background response plus the sum of each source's response scaled
by its load factor, so scenarios and source apportionment come from one LU factorisation. The
time series uses a 1/15° run with the default (MC-limited) scheme.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

import bbw_bay as bb  # noqa: E402
from bbw_bay import plots  # noqa: E402
from bbw_bay.core.output import concentration_dataset  # noqa: E402
from bbw_bay.core.steady import solve_upwind  # noqa: E402
from bbw_bay.gulf import circulation
from bbw_bay.gulf.loads import read_background, read_sources  # noqa: E402
from bbw_bay.gulf.tides import tidal_dispersion  # noqa: E402
from bbw_bay.quality.evaluate import evaluate  # noqa: E402
from bbw_bay.quality.standards import limit  # noqa: E402
from bbw_bay.quality.zones import load_zones, zone_masks  # noqa: E402
from bbw_bay.units import DAY, TONNE_PER_YEAR  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
SEASON = "winter"
DECAY_PER_DAY = {"DIN": 0.01, "PO4": 0.01, "COD": 0.05, "oil": 0.1}  # illustrative
NORTH_COAST = (107.8, 110.6, 20.6, 22.2)  # Guangxi coast to Leizhou Peninsula [lon0, lon1, ...]
APPORTION_ZONES = (
    "maowei_sea",
    "qinzhou_bay",
    "fangchenggang_bay",
    "lianzhou_bay",
    "tieshan_bay",
    "zhanjiang_bay",
    "qiongzhou_strait",
    "guangxi_nearshore",
)
SCENARIOS = {  # name -> load factor of a source from its groups (province, kind, name)
    "baseline": lambda g: 1.0,
    "Guangxi rivers -30 %": lambda g: 0.7 if g[:2] == ("Guangxi", "river") else 1.0,
    "all outfalls -50 %": lambda g: 0.5 if g[1] == "outfall" else 1.0,
    "all sources -50 %": lambda g: 0.5,
}


def setup(resolution: float, *, advection: str):
    """Grid, flow, sources and model of the gulf at ``resolution`` degrees."""
    grid = bb.Grid.beibu(resolution=resolution)
    sources = read_sources()
    discharge = np.zeros(grid.shape)
    for src in sources:
        j, i = src.locate(grid)
        discharge[j, i] += src.discharge
    flow = circulation.residual_flow(grid, season=SEASON, river_discharge=discharge)
    background = read_background(season=SEASON)
    tracers = {
        k: bb.Tracer(decay_per_day=d, background=background[k]) for k, d in DECAY_PER_DAY.items()
    }
    model = bb.Model(
        grid,
        flow,
        tracers=tracers,
        sources=sources,
        diffusivity=tidal_dispersion(grid),
        advection=advection,
        return_time_days=2.0,
    )
    return grid, flow, sources, model


def responses(model, sources):
    """(background field (ntr, ny, nx), per-source fields (nsrc, ntr, ny, nx)) [mg/L]."""
    grid = model.grid
    operator = model.upwind_operator(0.0)
    background = model.background_at(0.0)
    base = np.zeros((len(model.names), *grid.shape))
    per_source = np.zeros((len(sources), len(model.names), *grid.shape))
    for k, name in enumerate(model.names):
        factors = operator.factorise(model.tracers[name].decay_per_second)
        base[k] = solve_upwind(operator, factors, np.zeros(grid.shape), background[k])
        for s, src in enumerate(sources):
            load = np.zeros(grid.shape)
            j, i = src.locate(grid)
            load[j, i] = src.loads.get(name, 0.0)
            per_source[s, k] = solve_upwind(operator, factors, load, 0.0)
    return base, per_source


def save(fig, name: str) -> None:
    path = plots.save_figure(fig, OUT / f"example_{name}.png")
    plt.close(fig)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    OUT.mkdir(exist_ok=True)
    start = time.perf_counter()
    grid, flow, sources, model = setup(1 / 30, advection="upwind")
    base, per_source = responses(model, sources)
    print(f"steady responses of {len(sources)} sources: {time.perf_counter() - start:.0f} s")
    names = model.names

    def scenario(factor_of) -> xr.Dataset:
        f = np.array([factor_of(src.groups) for src in sources])
        fields = base + np.tensordot(f, per_source, axes=1)
        return concentration_dataset(grid, names, fields)

    baseline = scenario(SCENARIOS["baseline"])

    ax = plots.concentration_map(baseline, "DIN")
    save(ax.figure, "concentration")
    ax = plots.concentration_map(baseline, "DIN", extent=NORTH_COAST, log=True)
    save(ax.figure, "concentration_north_log")
    ax = plots.class_map(baseline, extent=NORTH_COAST)
    save(ax.figure, "class")
    ax = plots.flow_map(flow, title=f"{SEASON.capitalize()} residual circulation")
    save(ax.figure, "flow")
    ax = plots.flow_map(
        flow,
        kind="arrows",
        extent=NORTH_COAST,
        title=f"{SEASON.capitalize()} residual circulation, northern gulf",
    )
    save(ax.figure, "flow_arrows")

    # scenarios: area share meeting each zone's own target class (worst factor) per zone
    zones = [z for z in load_zones() if z.key in APPORTION_ZONES]
    results = [evaluate(scenario(rule), zones=zones) for rule in SCENARIOS.values()]
    table = xr.concat(results, dim="scenario").assign_coords(scenario=list(SCENARIOS))
    ax = plots.scenario_bars(table, metric="overall_target_share")
    save(ax.figure, "scenarios")

    # apportionment of DIN: area-mean contribution of each source to each zone [mg/L]
    masks = zone_masks(baseline, zones)
    area = baseline["cell_area"].values
    k_din = names.index("DIN")
    contributions = xr.DataArray(
        [
            [
                float(
                    (per_source[s, k_din][masks[z.key]] * area[masks[z.key]]).sum()
                    / area[masks[z.key]].sum()
                )
                for s in range(len(sources))
            ]
            for z in zones
        ],
        dims=("zone", "source"),
        coords={
            "zone": [z.name.split(" (")[0] for z in zones],
            "source": [src.name for src in sources],
        },
    )
    ax = plots.apportionment_bars(
        contributions, top=8, title="Where the DIN in each zone comes from (steady state)"
    )
    save(ax.figure, "apportionment")

    # illustrative capacity: the equal cut of the sources feeding a zone that brings its
    # area-mean DIN within its target class limit (the capacity module does this properly)
    current, allowable = {}, {}
    for src in sources:
        if src.groups[0] != "Guangxi":
            continue
        main = max(
            zones,
            key=lambda z: contributions.sel(zone=z.name.split(" (")[0], source=src.name).item(),
        )
        zname = main.name.split(" (")[0]
        total = float(contributions.sel(zone=zname).sum())
        bg = float(
            (base[k_din][masks[main.key]] * area[masks[main.key]]).sum()
            / area[masks[main.key]].sum()
        )
        room = limit("DIN", main.target_class) - bg
        factor = min(1.0, room / total) if total > 0 else 1.0
        current[src.name] = src.loads["DIN"] / TONNE_PER_YEAR
        allowable[src.name] = max(factor, 0.0) * current[src.name]
    ax = plots.capacity_bars(
        current,
        allowable,
        title="DIN loads of Guangxi sources: current and allowable (illustrative)",
    )
    save(ax.figure, "capacity")

    # time series from a run at 1/15°
    start = time.perf_counter()
    _, _, _, run_model = setup(1 / 15, advection="mc")
    ds = run_model.run(60 * DAY, output_interval=2 * DAY)
    print(f"60-day run at 1/15°: {time.perf_counter() - start:.0f} s")
    ax = plots.timeseries(ds, "DIN", plots.default_stations(ds))
    ax.set_title("DIN at the bays' centres, 60-day run from background (1/15° grid)")
    save(ax.figure, "timeseries")


if __name__ == "__main__":
    main()
