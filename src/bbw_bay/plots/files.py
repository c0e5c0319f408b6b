"""The file entry point: `plot_file` draws one kind of picture from a bbw_bay netCDF file
(what ``bbw-bay plot OUT.nc --kind KIND -o FIG.png`` calls)."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from bbw_bay.plots.charts import scenario_bars, scenario_figsize
from bbw_bay.plots.common import PlotError, PlotFileError, check_tracer, save_figure, tracers_in
from bbw_bay.plots.maps import class_map, concentration_map, flow_map
from bbw_bay.plots.series import default_stations, timeseries

#: Kinds of picture `plot_file` can draw.
PLOT_KINDS = ("concentration", "class", "flow", "timeseries", "scenarios")


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
    path : netCDF written by ``bbw-bay run`` or ``bbw-bay steady`` (or a scenario table)
    kind : "concentration", "class", "flow", "timeseries" or "scenarios"
    tracer : tracer variable (default: the first tracer in the file; for "class", every tracer
        with a GB 3097 standard)
    output : image path (default ``<file stem>_<kind>.png`` next to the netCDF)
    **kw : passed on to the plotting function (e.g. ``time``, ``vmax``, ``log``, ``stations``,
        ``metric``)

    Returns
    -------
    Path of the image written.
    """
    from matplotlib.figure import Figure

    if kind not in PLOT_KINDS:
        raise PlotError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(PLOT_KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise PlotFileError(f"no such netCDF file: {path}")
    output = Path(output) if output is not None else path.with_name(f"{path.stem}_{kind}.png")
    with xr.open_dataset(path, decode_times=False) as ds:
        ds = ds.load()
    if kind == "scenarios":
        table = _scenario_table(ds, tracer=tracer, metric=kw.get("metric"))
        figure = Figure(
            figsize=scenario_figsize(table.sizes.get("scenario", 1), table.sizes.get("zone", 1)),
            layout="constrained",
        )
        scenario_bars(table, ax=figure.add_subplot(), **kw)
        return save_figure(figure, output)
    present = tracers_in(ds)
    if tracer is not None:
        check_tracer(ds, tracer)
    if kind == "flow":
        figure = Figure(figsize=(8.0, 6.5), layout="constrained")
        flow_map(ds, ax=figure.add_subplot(), **kw)
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


def _scenario_table(ds: xr.Dataset, *, tracer: str | None, metric: str | None):
    """The (scenario, zone) table of a scenarios file: the metric variable, or, for tracer
    fields with a ``scenario`` dimension, `bbw_bay.quality.evaluate.evaluate` of each scenario."""
    if "scenario" not in ds.dims:
        raise PlotError(
            "a scenarios plot needs a file with a 'scenario' dimension "
            f"(dims here: {', '.join(map(str, ds.dims))})"
        )
    metric = metric or "overall_good_share"
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
    table = xr.concat(results, dim="scenario").assign_coords(scenario=ds["scenario"].values)
    if metric not in table:
        raise PlotError(
            f"metric {metric!r} is not a result of evaluate; choose one of "
            f"{', '.join(map(str, table.data_vars))}"
        )
    return table[metric].isel(tracer=0) if "tracer" in table[metric].dims else table[metric]
