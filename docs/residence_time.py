"""E-folding flushing time of the gulf proper under the built-in residual circulation.

Run from the repository root: ``python docs/residence_time.py``. A measurement script, not part
of the package. A conservative unit tracer fills the gulf proper (``gulf.geodata.GULF_PROPER``)
at t = 0, background 0 everywhere else and at the open boundaries (MC advection, tidal dispersion,
as configs/beibu_gulf.toml); the script prints the time at which the tracer mass left inside
the gulf proper falls to 1/e of its start, for each season's steady flow and for the periodic
seasonal flow released on the first day of each season. Published whole-gulf residence times:
66 d (winter) and 71 d (summer) by particle tracking [S32], 77.9 d (MIKE3) [S49].
"""

from __future__ import annotations

import time

import numpy as np

from bbw_bay.core.flow import Flow
from bbw_bay.core.model import Model, Tracer
from bbw_bay.gulf.circulation import residual_flow, seasonal_flow
from bbw_bay.gulf.geodata import beibu_grid, gulf_proper_mask
from bbw_bay.gulf.tides import tidal_dispersion
from bbw_bay.units import DAY, SEASONS, SEASONS_AND_ANNUAL

DURATION_DAYS = 250
#: Grid resolution [degrees]: the default 1/30°, as configs/beibu_gulf.toml
RESOLUTION = 1 / 30
OUTPUT_DAYS = 2
#: Release dates of the seasonal-cycle runs [day of the year, from 1 January]
RELEASES = {"1 Jan": 0.0, "1 Apr": 90.0, "1 Jul": 181.0, "1 Oct": 273.0}
#: First day of each season's months [day of the year]: the switch dates of `switched_flow`
SEASON_STARTS = {"winter": 334.0, "spring": 59.0, "summer": 151.0, "autumn": 243.0}


def efolding_days(grid, flow, inside, *, start=0.0, first_exit=False) -> float:
    """E-folding time [days] of the tracer mass inside; NaN beyond DURATION_DAYS.

    ``first_exit=True`` zeroes the tracer outside the gulf proper after every day, so water that
    has left once cannot come back: the residence time of Monsen et al. (2002, Limnol.
    Oceanogr. 47(5):1545-1553); without it, returning water counts again (their exposure time).
    """
    model = Model(
        grid,
        flow,
        tracers={"T": Tracer(decay_per_day=0.0, background=0.0)},
        diffusivity=tidal_dispersion(grid),
    )
    volume = grid.volume
    c = np.where(inside, 1.0, 0.0)
    t, frac = [0.0], [1.0]
    chunk = 1.0 if first_exit else float(DURATION_DAYS)
    while t[-1] < DURATION_DAYS and frac[-1] > np.exp(-1):
        ds = model.run(
            chunk * DAY,
            initial={"T": c},
            start=start + t[-1] * DAY,
            output_interval=min(chunk, OUTPUT_DAYS) * DAY,
        )
        for k in range(1, ds.sizes["time"]):
            c = np.nan_to_num(ds["T"].values[k])
            frac.append((c * volume)[inside].sum() / volume[inside].sum())
            t.append(float(ds["time"].values[k] - start) / DAY)
        if first_exit:
            c = np.where(inside, c, 0.0)
    frac, t = np.array(frac), np.array(t)
    below = np.nonzero(frac <= np.exp(-1))[0]
    if below.size == 0:
        return float("nan")
    k = below[0]
    # linear interpolation of log(mass fraction) between the bracketing outputs
    la, lb = np.log(frac[k - 1]), np.log(frac[k])
    return float(t[k - 1] + (t[k] - t[k - 1]) * (-1 - la) / (lb - la))


def switched_flow(grid) -> Flow:
    """Each season's steady field held over its months, switched within half a day.

    A sensitivity test of `seasonal_flow`'s linear interpolation between mid-season fields,
    which passes through weak flow where the exchange reverses (spring-summer, summer-autumn).
    """
    year = 365.0
    times, us, vs = [], [], []
    for k, season in enumerate(SEASONS):
        end = SEASON_STARTS[SEASONS[(k + 1) % len(SEASONS)]]
        flow = residual_flow(grid, season=season)
        for day in (SEASON_STARTS[season] + 0.25, end - 0.25):
            times.append(day % year * DAY)
            us.append(flow.transport_u[0])
            vs.append(flow.transport_v[0])
    order = np.argsort(times)
    return Flow.series(
        grid,
        [times[k] for k in order],
        [us[k] for k in order],
        [vs[k] for k in order],
        periodic=True,
        period=year * DAY,
    )


def _days(days: float) -> str:
    return f"{days:6.1f} d" if np.isfinite(days) else f"> {DURATION_DAYS} d"


def main() -> None:
    grid = beibu_grid(resolution=RESOLUTION)
    inside = gulf_proper_mask(grid)
    print(f"{grid.describe()}; gulf proper: {inside.sum()} cells, tidal dispersion", flush=True)
    for season in SEASONS_AND_ANNUAL:
        t0 = time.perf_counter()
        days = efolding_days(grid, residual_flow(grid, season=season), inside)
        print(
            f"{season:>8} steady flow: e-folding {_days(days)}  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    cycles = {"seasonal cycle": seasonal_flow(grid), "switched seasons": switched_flow(grid)}
    for name, cycle in cycles.items():
        for label, start_day in RELEASES.items():
            for first_exit in (False, True):
                t0 = time.perf_counter()
                days = efolding_days(
                    grid, cycle, inside, start=start_day * DAY, first_exit=first_exit
                )
                kind = "first exit (returns removed)" if first_exit else "returns count"
                print(
                    f"{name} from {label}, {kind}: e-folding {_days(days)}  "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
