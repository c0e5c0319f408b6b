"""Build a Grid, Flow and Model from a validated `Config`."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace

import numpy as np

from bbw_bay.core.config import Config, ConfigError
from bbw_bay.core.flow import Flow
from bbw_bay.core.grid import Grid
from bbw_bay.core.inputs import check_source_names, source_key
from bbw_bay.core.model import Model, Tracer
from bbw_bay.core.sources import PointSource
from bbw_bay.errors import BadInputError, did_you_mean
from bbw_bay.units import DAY, TONNE_PER_YEAR

log = logging.getLogger(__name__)


@dataclass
class Setup:
    """Everything a CLI command needs: the model and how to run it."""

    config: Config
    grid: Grid
    flow: Flow
    model: Model
    run_options: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)


def build_grid(config: Config) -> Grid:
    """The grid described by [grid]."""
    g = config["grid"]
    if g["kind"] == "beibu":
        return Grid.beibu(
            resolution=float(g["resolution_deg"]), open_boundaries=tuple(g["open_boundaries"])
        )
    if g["kind"] == "beibu_nest":
        from bbw_bay.gulf.nests import RIGID_LID_MIN_DEPTH_M, beibu_nest

        return beibu_nest(
            g["nest"],
            resolution=float(g["resolution_deg"]),
            open_boundaries=tuple(g["open_boundaries"]),
            min_depth_m=RIGID_LID_MIN_DEPTH_M,
        )
    nx, ny, dx, dy = g["nx"], g["ny"], float(g["dx_m"]), float(g["dy_m"])
    wet = np.ones((ny, nx), dtype=bool)
    xc = (np.arange(nx) + 0.5) * dx
    yc = (np.arange(ny) + 0.5) * dy
    for x0, x1, y0, y1 in g["land"]:
        wet[np.ix_((yc >= y0) & (yc <= y1), (xc >= x0) & (xc <= x1))] = False
    return Grid.cartesian(
        nx,
        ny,
        dx=dx,
        dy=dy,
        depth=float(g["depth_m"]),
        wet=wet,
        open_boundaries=tuple(g["open_boundaries"]),
    )


def build_sources(config: Config, grid: Grid, tracers: dict[str, Tracer]) -> list[PointSource]:
    """Inline [[source]] entries plus the table named by sources.file."""
    s = config["sources"]
    scale = float(s["load_scale"])
    sources: list[PointSource] = []
    labels: list[str] = []
    if s["file"]:
        from bbw_bay.gulf.loads import read_sources

        path = None if s["file"] == "default" else config.folder / s["file"]
        table = read_sources(path, snap=bool(s["snap_to_sea"]))
        if not grid.geographic:  # checked after the file, so its own errors come first
            raise ConfigError(
                f"{config.path}: sources.file = {s['file']!r} on a cartesian grid: a sources "
                "file places sources by lon and lat [degrees], which a cartesian grid would "
                'read as metres; use grid.kind = "beibu" (or "beibu_nest"), or [[source]] '
                "tables with x_m and y_m"
            )
        for row, src in enumerate(table):
            loads = {k: v * scale for k, v in src.loads.items() if k in tracers}
            sources.append(_snapped(_scaled(config, src, loads), grid))
            labels.append(f"sources.file source[{row}]")
    for index, entry in enumerate(config.point_sources):
        loads = {k: float(v) for k, v in entry["loads_g_per_s"].items()}
        for k, v in entry["loads_t_per_yr"].items():
            loads[k] = loads.get(k, 0.0) + float(v) * TONNE_PER_YEAR
        x, y = (entry["lon"], entry["lat"]) if grid.geographic else (entry["x_m"], entry["y_m"])
        source = PointSource(
            entry["name"],
            x=float(x),
            y=float(y),
            discharge=float(entry["discharge_m3_per_s"]),
            snap=bool(s["snap_to_sea"]),
            geographic=grid.geographic,
        )
        source = _scaled(config, source, {k: v * scale for k, v in loads.items()})
        sources.append(_snapped(source, grid) if source.snap else source)
        labels.append(f"source[{index}]")
    check_source_names(
        [src.name for src in sources], where=str(config.path), labels=labels, error=ConfigError
    )
    return sources


def _scaled(config: Config, source: PointSource, loads: dict[str, float]) -> PointSource:
    """``source`` with ``loads`` [g/s] (after sources.load_scale); ConfigError beyond the bounds."""
    try:
        return replace(source, loads=loads)
    except BadInputError as err:
        raise ConfigError(
            f"{config.path}: sources.load_scale = {config['sources']['load_scale']:g}: {err}"
        ) from None


def _snapped(src: PointSource, grid: Grid) -> PointSource:
    """The source moved to the centre of its receiving wet cell (warns once if it was on land)."""
    j, i = src.locate(grid)
    return replace(src, x=float(grid.x_centre[i]), y=float(grid.y_centre[j]))


#: forcing/boundary.toml has winter (Oct–Mar) and summer (Apr–Sep) halves; the circulation's
#: spring (Mar–May, middle in April) and autumn (Sep–Nov, middle in October) fall in them.
BACKGROUND_SEASON = {"spring": "summer", "autumn": "winter"}


def build_tracers(config: Config, season: str = "annual") -> dict[str, Tracer]:
    """{name: Tracer} from [tracers.*]; background "file" reads forcing/boundary.toml."""
    tracers = {}
    for name, t in config.tracers.items():
        background = t["background_mg_per_l"]
        if isinstance(background, str):
            if background != "file":
                raise ConfigError(
                    f"{config.path}: tracers.{name}.background_mg_per_l must be a "
                    f'number or "file", found {background!r}'
                )
            from bbw_bay.gulf.loads import read_background

            background = read_background(season=BACKGROUND_SEASON.get(season, season)).get(name)
            if background is None:
                raise ConfigError(
                    f"{config.path}: forcing/boundary.toml has no background for tracer {name!r}"
                )
        tracers[name] = Tracer(decay_per_day=float(t["decay_per_day"]), background=background)
    return tracers


def source_tag(tracer: str, source: str) -> str:
    """Name of the tracer carrying ``source``'s share of ``tracer``, e.g. "DIN@nanliu"."""
    return f"{tracer}@{source_key(source)}"


def add_diagnostic_tracers(
    config: Config, tracers: dict[str, Tracer], sources: list[PointSource]
) -> tuple[dict[str, Tracer], list[PointSource]]:
    """Tagged tracers (run.tag_sources) and the land-water age pair (run.water_age)."""
    r = config["run"]
    tracers = dict(tracers)
    extra: list[dict[str, float]] = [{} for _ in sources]
    for name in r["tag_sources"]:
        if name not in tracers:
            raise ConfigError(
                f"{config.path}: run.tag_sources names {name!r}, which is not a tracer "
                f"(tracers: {', '.join(tracers)})"
            )
        for k, src in enumerate(sources):
            tag = source_tag(name, src.name)
            tracers[tag] = Tracer(decay_per_day=tracers[name].decay_per_day)
            extra[k][tag] = src.loads.get(name, 0.0)
    if r["water_age"]:
        tracers["land_water"] = Tracer()
        tracers["land_water_age"] = Tracer(age_of="land_water")
        for k, src in enumerate(sources):
            extra[k]["land_water"] = src.discharge * 1.0  # 1 g/m³ in every source's water
    sources = [replace(s, loads={**s.loads, **e}) for s, e in zip(sources, extra, strict=True)]
    return tracers, sources


def build_flow(
    config: Config, grid: Grid, sources: list[PointSource], *, season: str | None = None
) -> Flow:
    """The flow described by [flow], carrying the sources' discharges."""
    f = config["flow"]
    discharge = np.zeros(grid.shape)
    for src in sources:
        if src.discharge > 0:
            j, i = src.locate(grid)
            discharge[j, i] += src.discharge
    kind = f["kind"]
    if kind == "uniform":
        if discharge.any():
            raise ConfigError(
                f'{config.path}: flow.kind = "uniform" cannot carry river '
                'discharges; use flow.kind = "rivers" (potential outflow plus the '
                "uniform current) or set discharge_m3_per_s = 0"
            )
        return Flow.steady(grid, u=float(f["u_m_per_s"]), v=float(f["v_m_per_s"]))
    if kind == "rivers":
        base = Flow.steady(grid, u=float(f["u_m_per_s"]), v=float(f["v_m_per_s"]))
        return Flow.from_rivers(grid, discharge, base=base)
    if kind == "dataset":
        path = config.folder / f["path"]
        rivers = [(s, s.locate(grid)) for s in sources if s.discharge > 0]

        def discharge_at(time: float | None) -> np.ndarray:
            # a monthly currents file carries each month's river discharge, as the model checks
            q = np.zeros(grid.shape)
            for src, (j, i) in rivers:
                q[j, i] += src.discharge * (1.0 if time is None else src.discharge_factor(time))
            return q

        return Flow.from_dataset(
            grid,
            path,
            u_name=f["u_name"] or None,
            v_name=f["v_name"] or None,
            river_discharge=discharge_at,
            fill_nearest=bool(f["fill_nearest"]),
        )
    from bbw_bay.gulf import circulation

    season = season or f["season"]
    params = copy.deepcopy(circulation.load_circulation_params())
    for table in params["season"].values():
        table["strait_transport_sv_westward"] *= float(f["strait_transport_scale"])
    if season == "seasonal":
        return circulation.seasonal_flow(grid, params=params, river_discharge=discharge)
    if season not in params["season"]:
        raise ConfigError(
            f"{config.path}: flow.season = {season!r}; expected seasonal or one of "
            f"{', '.join(params['season'])}" + did_you_mean(season, ["seasonal", *params["season"]])
        )
    return circulation.residual_flow(grid, season=season, params=params, river_discharge=discharge)


def build_diffusivity(config: Config, grid: Grid):
    """Scalar diffusivity [m²/s] or the tidal dispersion field."""
    t = config["transport"]
    if t["diffusivity_m2_per_s"] == "tidal":
        from bbw_bay.gulf.tides import tidal_dispersion

        return tidal_dispersion(grid) * float(t["tidal_dispersion_scale"])
    return float(t["diffusivity_m2_per_s"])


def build(config: Config, *, season: str | None = None, steady: bool = False) -> Setup:
    """Grid, sources, flow and model for a config; ``season`` overrides flow.season."""
    grid = build_grid(config)
    if steady and season is None and config["flow"]["season"] == "seasonal":
        season = "annual"
    tracers = build_tracers(config, season=season or "annual")
    sources = build_sources(config, grid, tracers)
    if steady:
        sources = [
            replace(s, monthly_load_factor=None, monthly_discharge_factor=None) for s in sources
        ]
    elif config["flow"]["kind"] == "circulation":
        # the seasonal circulation carries the annual-mean river discharge (loads keep their
        # monthly pattern), so the divergence check compares against the annual discharge
        sources = [replace(s, monthly_discharge_factor=None) for s in sources]
    tracers, sources = add_diagnostic_tracers(config, tracers, sources)
    flow = build_flow(config, grid, sources, season=season)
    t = config["transport"]
    sections = None
    if config["grid"]["kind"] == "beibu":
        from bbw_bay.core.solver import Sections
        from bbw_bay.gulf.geodata import gulf_proper_mask, gulf_section

        sections = Sections.around(grid, gulf_proper_mask(grid), gulf_section)
    model = Model(
        grid,
        flow,
        tracers=tracers,
        sources=sources,
        diffusivity=build_diffusivity(config, grid),
        advection=t["advection"],
        return_time_days=float(t["return_time_days"]),
        background_mode=t["background_mode"],
        sections=sections,
    )
    r = config["run"]
    run_options = {
        "duration": float(r["duration_days"]) * DAY,
        "output_interval": float(r["output_interval_days"]) * DAY,
        "start": float(r["start_day_of_year"]) * DAY,
        "dt": float(t["dt_s"]) or None,
    }
    return Setup(config, grid, flow, model, run_options)
