"""The file entry point: `plot_file` draws one kind of picture from a bbw_bay netCDF file
(what ``bbw-bay plot OUT.nc --kind KIND -o FIG.png`` calls)."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from bbw_bay.plots.charts import (
    apportionment_bars,
    apportionment_table,
    capacity_bars,
    scenario_bars,
    scenario_figsize,
)
from bbw_bay.plots.common import PlotError, PlotFileError, check_tracer, save_figure, tracers_in
from bbw_bay.plots.maps import class_map, concentration_map, flow_map
from bbw_bay.plots.series import default_stations, timeseries

#: Kinds of picture `plot_file` can draw.
PLOT_KINDS = (
    "concentration",
    "class",
    "flow",
    "timeseries",
    "scenarios",
    "apportionment",
    "capacity",
)
#: Metrics a scenarios plot shows when none is named, in order of preference.
DEFAULT_METRICS = ("overall_target_share", "overall_good_share")
_MAP_OPTIONS = ("time", "extent", "coast", "zones", "places", "title")
#: Keyword arguments `plot_file` accepts for each kind (passed to the plotting function).
OPTIONS: dict[str, tuple[str, ...]] = {
    "concentration": (*_MAP_OPTIONS, "vmin", "vmax", "scale", "log", "cmap", "limits"),
    "class": _MAP_OPTIONS,
    "flow": ("time", "extent", "coast", "zones", "places", "title", "style", "depth", "density"),
    "timeseries": ("stations", "limits", "title"),
    "scenarios": ("metric", "percent", "title", "targets"),
    "apportionment": ("top", "title"),
    "capacity": ("title",),
}


def plot_file(
    path: str | os.PathLike,
    kind: str,
    *,
    tracer: str | None = None,
    output: str | os.PathLike | None = None,
    **kw,
) -> Path:
    """Draw one kind of picture from a bbw_bay netCDF file and save it as an image.

    Parameters
    ----------
    path : netCDF written by ``bbw-bay run`` or ``bbw-bay steady`` (concentration, class,
        flow, timeseries), ``bbw-bay scenarios`` (scenarios), ``bbw-bay apportion -o``
        (apportionment) or ``bbw-bay capacity -o`` (capacity)
    kind : one of `PLOT_KINDS`
    tracer : tracer variable (default: the first tracer in the file; for "class", every tracer
        with a GB 3097 standard)
    output : image path (default ``<file stem>_<kind>.png`` next to the netCDF)
    **kw : the options of `OPTIONS` [kind], passed on to the plotting function:

        - maps: ``time`` (record index or "mean"), ``extent`` (x0, x1, y0, y1 in lon/lat
          degrees or metres), ``coast``/``zones``/``places`` ("auto", True, False);
          concentration also ``vmin``, ``vmax`` [mg/L], ``scale`` ("auto", "standard",
          "robust"), ``log``, ``cmap``, ``limits``; flow also ``style`` ("streamlines" or
          "arrows"), ``depth``, ``density``
        - timeseries: ``stations`` ({name: (x, y)} or "NAME=X,Y" strings), ``limits``
        - scenarios: ``metric`` (default ``overall_target_share``), ``percent``, ``targets``
        - apportionment: ``top``

    Returns
    -------
    Path of the image written.
    """
    from matplotlib.figure import Figure

    if kind not in PLOT_KINDS:
        raise PlotError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(PLOT_KINDS)}")
    unknown = sorted(set(kw) - set(OPTIONS[kind]))
    if unknown:
        raise PlotError(
            f"option(s) {', '.join(unknown)} do not apply to --kind {kind}; "
            f"its options: {', '.join(OPTIONS[kind])}"
        )
    kw = {k: v for k, v in kw.items() if v is not None}
    path = Path(path)
    if not path.is_file():
        raise PlotFileError(f"no such netCDF file: {path}")
    output = Path(output) if output is not None else path.with_name(f"{path.stem}_{kind}.png")
    with xr.open_dataset(path, decode_times=False) as ds:
        ds = ds.load()
    if kind in ("scenarios", "apportionment", "capacity"):
        return save_figure(_chart(ds, kind, tracer=tracer, **kw), output)
    present = tracers_in(ds)
    if tracer is not None:
        check_tracer(ds, tracer)
    if kind == "flow":
        style = kw.pop("style", "streamlines")
        figure = Figure(figsize=(8.0, 6.5), layout="constrained")
        flow_map(ds, ax=figure.add_subplot(), kind=style, **kw)
        return save_figure(figure, output)
    if not present:
        raise PlotError(
            f"{path} holds no tracer field (variables: {', '.join(map(str, ds.data_vars))})"
        )
    figure = Figure(
        figsize=(8.0, 6.5) if kind != "timeseries" else (9.0, 4.8), layout="constrained"
    )
    ax = figure.add_subplot()
    if kind == "concentration":
        concentration_map(ds, tracer or present[0], ax=ax, **kw)
    elif kind == "class":
        class_map(ds, tracer=tracer, ax=ax, **kw)
    else:
        stations = kw.pop("stations", None) or default_stations(ds)
        timeseries(ds, tracer or present[0], stations, ax=ax, **kw)
    return save_figure(figure, output)


def _chart(ds: xr.Dataset, kind: str, *, tracer: str | None, **kw):
    """The Figure of a scenarios, apportionment or capacity file."""
    from matplotlib.figure import Figure

    if kind == "scenarios":
        if "metric" not in kw:  # each zone's own target, or (older tables) Class I + II
            present = [m for m in DEFAULT_METRICS if m in ds]
            kw["metric"] = present[0] if present else DEFAULT_METRICS[0]
        table = _scenario_table(ds, tracer=tracer, metric=kw["metric"])
        figure = Figure(
            figsize=scenario_figsize(table.sizes.get("scenario", 1), table.sizes.get("zone", 1)),
            layout="constrained",
        )
        scenario_bars(table, ax=figure.add_subplot(), tracer=tracer, **kw)
        return figure
    if kind == "apportionment":
        table = apportionment_table(ds, tracer=tracer)
        figure = Figure(
            figsize=(9.0, max(3.0, 0.45 * table.sizes["zone"] + 1.8)), layout="constrained"
        )
        apportionment_bars(table, ax=figure.add_subplot(), **kw)
        return figure
    missing = [name for name in ("today", "allowable") if name not in ds]
    if missing or "source" not in ds.dims:
        raise PlotError(
            "a capacity plot needs the variables 'today' and 'allowable' (source) of "
            f"bbw-bay capacity -o; variables here: {', '.join(map(str, ds.data_vars))}"
        )
    figure = Figure(figsize=(8.5, max(3.0, 0.5 * ds.sizes["source"] + 1.5)), layout="constrained")
    capacity_bars(ds["today"], ds["allowable"], ax=figure.add_subplot(), **kw)
    return figure


def _scenario_table(ds: xr.Dataset, *, tracer: str | None, metric: str | None):
    """The (scenario, zone) table of a scenarios file: the metric variable, or, for tracer
    fields with a ``scenario`` dimension, `bbw_bay.quality.evaluate.evaluate` of each scenario."""
    if "scenario" not in ds.dims:
        raise PlotError(
            "a scenarios plot needs a file with a 'scenario' dimension "
            f"(dims here: {', '.join(map(str, ds.dims))})"
        )
    metric = metric or "overall_target_share"
    if metric in ds:
        table = ds[metric]
        if "tracer" in table.dims:
            table = table.sel(tracer=tracer) if tracer else table.isel(tracer=0)
        return table
    from bbw_bay.quality.evaluate import evaluate

    results = [
        evaluate(ds.sel(scenario=s), tracers=[tracer] if tracer else None)
        for s in ds["scenario"].values
    ]
    evaluated = xr.concat(results, dim="scenario").assign_coords(scenario=ds["scenario"].values)
    if metric not in evaluated:
        raise PlotError(
            f"metric {metric!r} is not a result of evaluate; choose one of "
            f"{', '.join(map(str, evaluated.data_vars))}"
        )
    found = evaluated[metric]
    return found.isel(tracer=0) if "tracer" in found.dims else found
