"""Figures: maps, time series and charts (matplotlib is imported inside the functions).

Modules, like xarray's ``plot/``: `bbw_bay.plots.common` (colours, axes, fonts, helpers),
`bbw_bay.plots.maps` (concentration, contribution, class and flow maps),
`bbw_bay.plots.series` (time series at stations), `bbw_bay.plots.charts` (scenario,
apportionment and capacity charts) and `bbw_bay.plots.files` (`plot_file`, the file entry
point). Every plot function takes ``ax=None``, returns its Axes and never calls ``show()``.
"""

from bbw_bay.plots.charts import apportionment_bars, capacity_bars, scenario_bars
from bbw_bay.plots.common import PlotError, cjk_font, class_labels, map_figsize, save_figure
from bbw_bay.plots.files import PLOT_KINDS, plot_file
from bbw_bay.plots.maps import class_map, concentration_map, contribution_map, flow_map
from bbw_bay.plots.series import default_stations, timeseries

__all__ = [
    "PLOT_KINDS",
    "PlotError",
    "apportionment_bars",
    "capacity_bars",
    "cjk_font",
    "class_labels",
    "class_map",
    "concentration_map",
    "contribution_map",
    "default_stations",
    "flow_map",
    "map_figsize",
    "plot_file",
    "save_figure",
    "scenario_bars",
    "timeseries",
]
