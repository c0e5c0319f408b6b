"""Pictures of the built-in seasonal residual circulation: docs/img/circulation_<season>.png.

Run from the repository root: ``python docs/make_circulation_figures.py``. A docs script, not
part of the package: it uses matplotlib directly. It also prints the numbers quoted in
docs/circulation.md (strait transport, gyre circulation, speed statistics, solve time).
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bbw_bay.core.barotropic import box_circulation  # noqa: E402
from bbw_bay.core.flow import centre_velocities  # noqa: E402
from bbw_bay.gulf.circulation import (  # noqa: E402
    load_circulation_params,
    solve_season,
    strait_transport,
)
from bbw_bay.gulf.geodata import beibu_grid, gulf_proper_mask  # noqa: E402
from bbw_bay.units import SEASONS_AND_ANNUAL  # noqa: E402

OUT = Path(__file__).resolve().parent / "img"
SEASONS = SEASONS_AND_ANNUAL
GYRE_BOX = dict(x_range=(106.5, 109.5), y_range=(19.5, 21.8))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    grid = beibu_grid(resolution=1 / 30)
    params = load_circulation_params()
    gulf = gulf_proper_mask(grid)
    lon, lat = grid.x_centre, grid.y_centre
    print(
        "| season | solve [s] | strait [Sv, +W] | gyre Γ [10³ m²/s] | mean ζ [10⁻⁸ 1/s] "
        "| median / p90 / max speed in gulf proper [cm/s] |"
    )
    for season in SEASONS:
        start = time.perf_counter()
        sol = solve_season(grid, season=season, params=params)
        elapsed = time.perf_counter() - start
        flow = sol.flow
        u, v = centre_velocities(flow)
        speed = np.hypot(u, v)
        gamma, area = box_circulation(flow, **GYRE_BOX)
        s = 100 * speed[gulf]
        print(
            f"| {season} | {elapsed:.2f} | {strait_transport(flow) / 1e6:+.3f} | "
            f"{gamma / 1e3:+.2f} | {gamma / area * 1e8:+.2f} | "
            f"{np.median(s):.1f} / {np.percentile(s, 90):.1f} / {s.max():.1f} |"
        )

        fig, ax = plt.subplots(figsize=(7.5, 7))
        land = np.where(grid.wet, np.nan, 1.0)
        ax.pcolormesh(grid.x_edge, grid.y_edge, land, cmap="Greys", vmin=0, vmax=2)
        pc = ax.pcolormesh(
            grid.x_edge, grid.y_edge, 100 * speed, cmap="viridis", vmin=0, vmax=15, shading="flat"
        )
        ax.contour(
            lon,
            lat,
            np.where(grid.wet, grid.depth, np.nan),
            levels=[20, 50, 100],
            colors="w",
            linewidths=0.4,
            alpha=0.6,
        )
        ax.streamplot(
            lon,
            lat,
            np.nan_to_num(u),
            np.nan_to_num(v),
            density=2.2,
            color="k",
            linewidth=0.5,
            arrowsize=0.7,
        )
        ax.plot(*np.array([(105.0, 17.16), (107.34, 17.16), (108.68, 18.45)]).T, "r--", lw=0.8)
        tau = params["season"][season]["wind_stress_n_per_m2"]
        ax.quiver([111.6], [22.3], [tau[0]], [tau[1]], scale=0.4, color="tab:red", width=0.006)
        ax.text(109.9, 22.75, f"τ = ({tau[0]:.3f}, {tau[1]:.3f}) N/m²", fontsize=7, color="tab:red")
        ax.set_xlim(grid.x_edge[0], grid.x_edge[-1])
        ax.set_ylim(grid.y_edge[0], grid.y_edge[-1])
        ax.set_aspect(1 / np.cos(np.deg2rad(19.5)))
        ax.set_xlabel("longitude [°E]")
        ax.set_ylabel("latitude [°N]")
        ax.set_title(
            f"Residual depth-averaged circulation, {season}: strait "
            f"{strait_transport(flow) / 1e6:+.2f} Sv (+ westward)",
            fontsize=9,
        )
        fig.colorbar(pc, ax=ax, shrink=0.7, label="speed [cm/s]")
        fig.savefig(OUT / f"circulation_{season}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)


if __name__ == "__main__":
    main()
