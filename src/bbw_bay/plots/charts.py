"""Charts: scenarios compared zone by zone, source apportionment, allowable against current
loads."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import xarray as xr

from bbw_bay.plots.common import ROMAN, PlotError, new_axes


def _table(data, row_dim: str, col_dim: str, what: str):
    """(row labels, column labels, (nrow, ncol) values) from a 2-D DataArray or dict of dicts."""
    if isinstance(data, xr.DataArray):
        if data.ndim == 1 and data.dims[0] == row_dim:
            data = data.expand_dims({col_dim: ["value"]}, axis=1)
        if set(data.dims) != {row_dim, col_dim}:
            raise PlotError(
                f"{what} must have dims ({row_dim}, {col_dim}); got {data.dims} "
                f"(select the others first, e.g. .sel(tracer='DIN'))"
            )
        data = data.transpose(row_dim, col_dim)
        return (
            [str(r) for r in data[row_dim].values],
            [str(c) for c in data[col_dim].values],
            data.values.astype(float),
        )
    if not isinstance(data, Mapping) or not data:
        raise PlotError(
            f"{what} must be a DataArray ({row_dim}, {col_dim}) or a non-empty "
            f"dict {{{row_dim}: {{{col_dim}: value}}}}"
        )
    rows = [str(r) for r in data]
    cols: list[str] = []
    for inner in data.values():
        if not isinstance(inner, Mapping):
            raise PlotError(
                f"{what}: each {row_dim} must map {col_dim} names to values; got {inner!r}"
            )
        cols += [str(c) for c in inner if str(c) not in cols]
    values = np.array(
        [
            [float({str(k): v for k, v in data[r].items()}.get(c, np.nan)) for c in cols]
            for r in data
        ],
        dtype=float,
    )
    return rows, cols, values


def scenario_figsize(n_scenarios: int, n_zones: int) -> tuple[float, float]:
    """Figure size [inches] of `scenario_bars`: room for every bar and its label."""
    group_in = max(1.1, 0.32 * n_scenarios)  # inches per zone
    return (max(6.0, group_in * n_zones + 2.5), 4.8)


#: Zone statistics in mg/L that a zone's target-class limit can be drawn against.
CONCENTRATION_METRICS = ("mean", "p95", "max", "peak")


def _coord_map(table, dim: str, coord: str) -> dict:
    """{label along ``dim``: value of the coordinate ``coord``} when the table carries it."""
    if isinstance(table, xr.Dataset | xr.DataArray) and coord in table.coords and dim in table.dims:
        return dict(zip(map(str, table[dim].values), (v.item() for v in table[coord]), strict=True))
    return {}


def _metric_label(metric: str) -> str:
    if "good_share" in metric:
        return "Class I + II area share"
    if "target_share" in metric:
        return "area share meeting the zone's own target class"
    return metric.replace("overall_", "").replace("_", " ")


def scenario_bars(
    table,
    *,
    metric: str = "overall_target_share",
    ax=None,
    percent: bool | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    targets: Mapping[str, int] | None = None,
    tracer: str | None = None,
):
    """Grouped bars comparing scenarios zone by zone, each zone labelled with its own target.

    Parameters
    ----------
    table : ``{scenario: {zone: value}}``, an xr.DataArray with dims (scenario, zone) or
        (scenario,), or an xr.Dataset holding ``metric`` with those dims (e.g. `evaluate`
        results concatenated along ``scenario``)
    metric : variable to take from a Dataset; also names the y axis. The default,
        ``overall_target_share``, is the area share meeting each zone's own target class
        (Zhanjiang Bay's is Class IV, most zones' Class II)
    ax : Axes to draw on (None: a new figure)
    percent : show values × 100 in %; default when the metric is a share
    ylabel, title : override the labels
    targets : {zone: GB 3097 class 1..4}; default the table's ``target_class`` coordinate.
        Each zone's tick label names its target; for a concentration metric (mean, p95, max,
        peak [mg/L] of one ``tracer``) the limit of the zone's target class is drawn over its
        bars as a dashed black line
    tracer : the tracer of a concentration metric (default the table's scalar ``tracer``)

    Returns
    -------
    matplotlib Axes, one colour per scenario, zones along the x axis.
    """
    from bbw_bay.quality.standards import limit

    zone_names = _coord_map(table, "zone", "zone_name")
    found_targets = _coord_map(table, "zone", "target_class")
    if isinstance(table, xr.Dataset):
        if metric not in table:
            raise PlotError(
                f"metric {metric!r} is not in the table; variables: "
                f"{', '.join(map(str, table.data_vars))}"
            )
        table = table[metric]
    zone_names = zone_names or _coord_map(table, "zone", "zone_name")
    found_targets = {
        k: int(v) for k, v in (found_targets or _coord_map(table, "zone", "target_class")).items()
    }
    if targets is not None:
        found_targets.update({str(k): int(v) for k, v in targets.items()})
    if tracer is None and isinstance(table, xr.DataArray) and "tracer" in table.coords:
        if table["tracer"].ndim == 0:
            tracer = str(table["tracer"].item())
    scenarios, zones, values = _table(table, "scenario", "zone", "scenario table")
    if percent is None:
        percent = "share" in metric or "fraction" in metric
    scale = 100.0 if percent else 1.0
    ax = new_axes(ax, figsize=scenario_figsize(len(scenarios), len(zones)))
    n = len(scenarios)
    width = 0.8 / n
    colours = __import__("matplotlib").colormaps["tab10"].colors
    xpos = np.arange(len(zones))
    for k, scenario in enumerate(scenarios):
        heights = scale * values[k]
        bars = ax.bar(
            xpos + (k - (n - 1) / 2) * width,
            np.nan_to_num(heights),
            width * 0.95,
            label=scenario,
            color=colours[k % len(colours)],
            zorder=2,
        )
        if n * len(zones) <= 48:  # label every bar, so a zero is seen as 0 and not as missing
            ax.bar_label(
                bars,
                labels=[
                    "n/a" if not np.isfinite(h) else (f"{h:.0f}" if percent else f"{h:.3g}")
                    for h in heights
                ],
                fontsize=6 if n * len(zones) > 24 else 7,
                padding=1,
            )
    if metric in CONCENTRATION_METRICS and tracer is not None:
        drawn = False
        for x, zone in zip(xpos, zones, strict=True):
            if zone in found_targets:
                ax.hlines(
                    limit(tracer, found_targets[zone]),
                    x - 0.45,
                    x + 0.45,
                    colors="black",
                    linestyles="--",
                    linewidth=1.2,
                    zorder=3,
                    label=None if drawn else "limit of the zone's target class",
                )
                drawn = True
    ax.set_xticks(xpos)
    labels = []
    for zone in zones:
        label = textwrap.fill(zone_names.get(zone, zone).split(" (")[0], 16)
        if zone in found_targets:
            label += f"\ntarget: Class {ROMAN[found_targets[zone]]}"
        labels.append(label)
    ax.set_xticklabels(labels, fontsize=8)
    for tick, zone in zip(ax.get_xticklabels(), zones, strict=True):
        if found_targets.get(zone, 2) != 2:  # a target other than the usual Class II stands out
            tick.set_fontweight("bold")
    pretty = _metric_label(metric)
    ax.set_ylabel(ylabel or (f"{pretty} [%]" if percent else pretty), fontsize=10)
    if percent:
        ax.set_ylim(0, 108)
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.legend(
        title="scenario", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    heading = f"{pretty[0].upper()}{pretty[1:]} by zone and scenario"
    ax.set_title(title if title is not None else heading, fontsize=11)
    return ax


def apportionment_table(ds: xr.Dataset, *, tracer: str | None = None) -> xr.DataArray:
    """The (zone, source) contributions [mg/L] of one tracer from a
    `bbw_bay.control.response.apportionment_dataset` (``contribution`` (tracer, receptor,
    source)), with the receptors' and sources' names as coordinates."""
    if "contribution" not in ds:
        raise PlotError(
            "an apportionment plot needs the variable 'contribution' (tracer, receptor, source) "
            f"of bbw-bay apportion -o; variables here: {', '.join(map(str, ds.data_vars))}"
        )
    da = ds["contribution"]
    if "tracer" in da.dims:
        tracers = [str(t) for t in da["tracer"].values]
        if tracer is not None and tracer not in tracers:
            raise PlotError(f"tracer {tracer!r} is not in the apportionment; tracers: {tracers}")
        da = da.sel(tracer=tracer or tracers[0])
    return da.rename(receptor="zone") if "receptor" in da.dims else da


def apportionment_bars(
    contributions,
    *,
    ax=None,
    top: int = 10,
    title: str | None = None,
    units: str = "mg/L",
    tracer: str | None = None,
):
    """Each source's share of the concentration at each zone, as stacked horizontal bars.

    Parameters
    ----------
    contributions : xr.DataArray with dims (zone or receptor, source), an apportionment
        Dataset (`bbw_bay.control.response.apportionment_dataset`, the file of
        ``bbw-bay apportion -o``), or ``{zone: {source: value}}``; values are contributions
        (e.g. mg/L of DIN at the zone from each source), >= 0. Zones are labelled with their
        names (coordinate ``zone_name`` or ``receptor_name``), sources with ``source_name``
        when present, else with the source coordinate (the source's name)
    ax : Axes to draw on (None: a new figure)
    top : the ``top`` sources with the largest total contribution get their own colour; the
        rest are summed as "other sources"
    title : title
    units : units of the contributions, shown in the bar-end totals
    tracer : the tracer to draw from an apportionment Dataset (default its first)

    Returns
    -------
    matplotlib Axes; bars are normalised to 100 % per zone and each ends with the zone total.
    """
    if isinstance(contributions, xr.Dataset):
        contributions = apportionment_table(contributions, tracer=tracer)
    if isinstance(contributions, xr.DataArray) and "receptor" in contributions.dims:
        contributions = contributions.rename(receptor="zone")
    zone_names: dict = {}
    for coord in ("zone_name", "receptor_name", "name"):
        zone_names = zone_names or _coord_map(contributions, "zone", coord)
    source_names = _coord_map(contributions, "source", "source_name")
    zones, sources, values = _table(contributions, "zone", "source", "contributions")
    zones = [str(zone_names.get(z) or z).split(" (")[0] for z in zones]  # short names
    sources = [str(source_names.get(s) or s) for s in sources]
    values = np.nan_to_num(values)
    if np.any(values < 0):
        raise PlotError("contributions must be >= 0")
    order = np.argsort(-values.sum(axis=0), kind="stable")
    keep = order[:top]
    parts = [values[:, k] for k in keep]
    names = [sources[k] for k in keep]
    if order.size > top:
        parts.append(values[:, order[top:]].sum(axis=1))
        names.append(f"other sources ({order.size - top})")
    totals = values.sum(axis=1)
    shares = np.array(parts) / np.where(totals > 0, totals, 1.0)  # (nsource, nzone)
    ax = new_axes(ax, figsize=(9.0, max(3.0, 0.45 * len(zones) + 1.8)))
    colours = list(__import__("matplotlib").colormaps["tab10"].colors)
    ypos = np.arange(len(zones))[::-1]
    left = np.zeros(len(zones))
    for k, (name, share) in enumerate(zip(names, shares, strict=True)):
        colour = "0.7" if name.startswith("other sources") else colours[k % len(colours)]
        ax.barh(
            ypos,
            100 * share,
            left=100 * left,
            color=colour,
            label=name,
            edgecolor="white",
            linewidth=0.5,
            height=0.7,
        )
        for yy, ll, ss in zip(ypos, left, share, strict=True):
            if ss >= 0.08:
                ax.text(
                    100 * (ll + ss / 2),
                    yy,
                    f"{100 * ss:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if colour != "0.7" else "black",
                )
        left += share
    for yy, total in zip(ypos, totals, strict=True):
        ax.text(101, yy, f"{total:.3g} {units}", va="center", fontsize=7, color="0.3")
    ax.set_yticks(ypos)
    ax.set_yticklabels(zones, fontsize=8)
    ax.set_xlim(0, 118)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xlabel("Share of the zone's source contribution [%]")
    ax.legend(
        fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="source", title_fontsize=8
    )
    ax.set_title(title if title is not None else "Source apportionment by zone", fontsize=11)
    return ax


def capacity_bars(current, allowable, *, ax=None, title: str | None = None, units: str = "t/yr"):
    """Current against allowable loads per source, with the required cut annotated.

    Parameters
    ----------
    current, allowable : ``{source: load}`` or xr.DataArray with dim ``source`` [t/yr]
    ax : Axes to draw on (None: a new figure)
    title : title
    units : load units for the axis label

    Returns
    -------
    matplotlib Axes: for each source a grey bar (current) and a green one (allowable), with
    "cut N %" where the allowable load is below the current one and "OK" otherwise.
    """

    def as_dict(obj, what):
        if isinstance(obj, xr.DataArray):
            if obj.dims != ("source",):
                raise PlotError(f"{what} must have the single dim 'source'; got {obj.dims}")
            return {str(s): float(v) for s, v in zip(obj["source"].values, obj.values, strict=True)}
        if not isinstance(obj, Mapping) or not obj:
            raise PlotError(f"{what} must be a non-empty {{source: load}} mapping")
        return {str(k): float(v) for k, v in obj.items()}

    cur, allow = as_dict(current, "current"), as_dict(allowable, "allowable")
    missing = sorted(set(cur) ^ set(allow))
    if missing:
        raise PlotError(
            f"current and allowable loads must name the same sources; "
            f"unmatched: {', '.join(missing)}"
        )
    names = sorted(cur, key=lambda s: -cur[s])
    c = np.array([cur[s] for s in names])
    a = np.array([allow[s] for s in names])
    ax = new_axes(ax, figsize=(8.5, max(3.0, 0.5 * len(names) + 1.5)))
    ypos = np.arange(len(names))[::-1]
    h = 0.38
    ax.barh(ypos + h / 2, c, h, color="0.6", label="current load", zorder=2)
    ax.barh(ypos - h / 2, a, h, color="#33a02c", label="allowable load", zorder=2)
    biggest = float(max(c.max(), a.max(), 0.0)) or 1.0
    for yy, cc, aa in zip(ypos, c, a, strict=True):
        if aa < cc:
            cut = 100.0 * (cc - aa) / cc
            text, colour = f"cut {cut:.0f} % ({_load_text(cc - aa)} {units})", "#b2182b"
        else:
            text, colour = "OK", "#1a7837"
        ax.text(
            max(cc, aa) + 0.015 * biggest,
            yy,
            text,
            va="center",
            fontsize=8,
            color=colour,
            fontweight="bold",
        )
    ax.set_xlim(0, biggest * 1.45)
    ax.set_yticks(ypos)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel(f"Load [{units}]")
    if biggest >= 1000:
        from matplotlib.ticker import StrMethodFormatter

        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(True, axis="x", alpha=0.3, zorder=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title if title is not None else "Allowable against current loads", fontsize=11)
    return ax


def _load_text(value: float) -> str:
    """A load to three significant figures without exponent: 11,800 rather than 1.18e+04."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 100 else f"{rounded:g}"
