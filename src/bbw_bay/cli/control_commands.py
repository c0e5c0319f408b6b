"""``bbw-bay apportion, capacity``: response coefficients, allowable loads; parse, call, print."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bbw_bay.cli.common import UsageError, check_season, check_writable, checksums, tracer_list
from bbw_bay.cli.reports import superposition_lines


def receptors_from_args(model, args):
    """Control points (--points, default the shipped file on lon/lat grids) and zone means
    (--zones, default the shipped zones on lon/lat grids), filtered by --receptors."""
    from bbw_bay.quality.receptors import (
        load_control_points,
        point_receptors,
        select_receptors,
        zone_receptors,
    )
    from bbw_bay.quality.zones import load_zones

    grid = model.grid
    shipped = grid.geographic
    points = (
        load_control_points(args.points)
        if args.points
        else (load_control_points() if shipped else [])
    )
    zones = []
    if args.zones != "none":
        zones = load_zones(args.zones) if args.zones else (load_zones() if shipped else [])
    receptors = point_receptors(grid, points) + zone_receptors(grid, zones)
    if not receptors:
        raise UsageError(
            "no receptors: give --points FILE (control points with x_m, y_m) for a cartesian config"
        )
    return select_receptors(receptors, args.receptors)


def cmd_apportion(args) -> int:
    from bbw_bay.control.apportion import (
        apportionment_csv,
        apportionment_dataset,
        apportionment_table,
        contribution_maps,
        superposition_check,
    )
    from bbw_bay.control.response import Factorisations, response_coefficients
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import add_provenance, write_netcdf
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    for path in (args.output, args.maps, args.map_png, args.plot, args.csv):
        if path:
            check_writable(Path(path), args.overwrite)
    setup = build(config, season=args.season, steady=True)
    model = setup.model
    receptors = receptors_from_args(model, args)
    factors = Factorisations(model)
    t0 = time.perf_counter()
    matrix = response_coefficients(
        model,
        receptors=receptors,
        tracers=tracer_list(args.tracer),
        factors=factors,
        label=args.season or "annual",
    )
    ds = apportionment_dataset(matrix)
    wall = time.perf_counter() - t0
    if not args.quiet:
        print(apportionment_table(ds, top=args.top, by=args.by))
        print(
            f"response coefficients of {len(matrix.sources)} sources at {len(receptors)} "
            f"receptors: {factors.count} factorisation(s), adjoint solves, {wall:.2f} s"
        )
    if not args.no_check:
        check = superposition_check(model, matrix)
        ds.attrs["superposition_check"] = json.dumps(check)
        if not args.quiet:
            print("\n".join(superposition_lines(check)))
    if args.csv:
        apportionment_csv(ds, args.csv)
        print(f"wrote {args.csv}")
    if args.output:
        add_provenance(
            ds, config_text=config.text, settings=model.settings(), inputs=checksums(config)
        )
        write_netcdf(ds, args.output, overwrite=True)
        print(f"wrote {args.output}")
    if args.maps or args.map_png:
        maps = contribution_maps(
            model, sources=args.map_sources, tracers=matrix.tracers, factors=factors
        )
        if args.maps:
            write_netcdf(add_provenance(maps, config_text=config.text), args.maps, overwrite=True)
            print(f"wrote {args.maps}")
        if args.map_png:
            from bbw_bay.plots.common import save_figure
            from bbw_bay.plots.maps import contribution_map

            source = str(maps["source"].values[0])
            ax = contribution_map(maps, source, tracer=matrix.tracers[0])
            save_figure(ax.figure, args.map_png)
            print(f"wrote {args.map_png} ({source})")
    if args.plot:
        from bbw_bay.plots.charts import apportionment_bars
        from bbw_bay.plots.common import save_figure

        tracer = matrix.tracers[0]
        ax = apportionment_bars(
            ds["contribution"].sel(tracer=tracer).rename(receptor="zone"),
            title=f"Source apportionment of {tracer} (excess over the background)",
        )
        save_figure(ax.figure, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_capacity(args) -> int:
    from bbw_bay.control.capacity import build_problem, solve
    from bbw_bay.control.capacity_report import (
        capacity_csv,
        capacity_dataset,
        capacity_table,
        verify,
    )
    from bbw_bay.control.response import Factorisations, response_coefficients, select_sources
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from bbw_bay.quality.standards import TRACER_PARAMETERS

    if args.basis == "evaluation":
        return _capacity_evaluation(args)
    if args.share or args.write_scenario:
        raise UsageError("--share and --write-scenario need --basis evaluation (the default)")
    if args.season and args.seasons:
        raise UsageError("give --season or --seasons, not both")
    seasons = [s.strip() for s in args.seasons.split(",")] if args.seasons else [args.season]
    for season in seasons:
        check_season(season)
    try:
        growth = float(args.growth)
    except ValueError:
        raise UsageError(
            f"--growth must be a number (a fraction, e.g. 0.2) or inf; got {args.growth!r}"
        ) from None
    config = load_config(args.config, args.set)
    for path in (args.output, args.csv, args.plot):
        if path:
            check_writable(Path(path), args.overwrite)
    t0 = time.perf_counter()
    models = {s or "annual": build(config, season=s, steady=True).model for s in seasons}
    first = next(iter(models.values()))
    receptors = receptors_from_args(first, args)
    controlled = select_sources(first, args.sources)
    tracers = tracer_list(args.tracer) or [t for t in first.names if t in TRACER_PARAMETERS]
    factors = {label: Factorisations(model) for label, model in models.items()}
    built = time.perf_counter()
    results, datasets, failures = [], [], 0
    for tracer in tracers:
        matrices = [
            response_coefficients(
                model, receptors=receptors, tracers=[tracer], factors=factors[label], label=label
            )
            for label, model in models.items()
        ]
        problem = build_problem(
            matrices,
            tracer=tracer,
            controlled=controlled,
            mode=args.mode,
            growth=growth,
            target_class=args.target_class,
        )
        result = solve(problem, skip_unattainable=args.skip_unattainable)
        results.append(result)
        datasets.append(capacity_dataset(result))
        if not args.quiet:
            print(capacity_table(result, all_sources=args.all_sources))
        if result.feasible and not args.no_verify:
            check = verify(models, result)
            failures += not check["passed"]
            datasets[-1].attrs["verification"] = json.dumps(
                {k: v for k, v in check.items() if k != "rows"}
            )
            if not args.quiet:
                print(
                    f"  forward check (upwind steady run with the allowable loads): "
                    f"{'PASS' if check['passed'] else 'FAIL'} — largest (value − limit)/limit "
                    f"{check['max_relative_excess']:.1e}, binding rows within "
                    f"{check['max_binding_gap']:.1e} of their limit (tolerance "
                    f"{check['rtol']:.0e} relative)"
                )
    if not args.quiet:
        print(
            f"{len(models)} season(s), {len(receptors)} receptors, {len(controlled)} controlled "
            f"of {len(first.sources)} sources; build {built - t0:.1f} s, coefficients + LP + "
            f"checks {time.perf_counter() - built:.1f} s"
        )
    if args.csv:
        capacity_csv(results, args.csv)
        print(f"wrote {args.csv}")
    if args.output:
        _write_capacity(datasets, args.output, config, first)
        print(f"wrote {args.output}")
    if args.plot:
        _plot_capacity(results, args.plot)
    return 1 if failures else 0


def _shares(items) -> dict[str, float]:
    """{zone key: share [0..1]} of --share ZONE=PERCENT items."""
    shares = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            percent = float(value)
        except ValueError:
            percent = float("nan")
        if not sep or not key.strip() or not 0 < percent <= 100:
            raise UsageError(f"--share takes ZONE=PERCENT with 0 < PERCENT <= 100, got {item!r}")
        shares[key.strip()] = percent / 100.0
    return shares


def _capacity_evaluation(args) -> int:
    """``bbw-bay capacity`` on the evaluation basis (exit 3 when a tracer has no answer)."""
    from bbw_bay.control.capacity_evaluation import capacity_on_evaluation_basis
    from bbw_bay.control.capacity_milp import EXIT_INFEASIBLE
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import write_netcdf

    if args.season or args.seasons:
        raise UsageError(
            "--season/--seasons apply to --basis steady; the evaluation basis follows the "
            "config's own flow cycle (change it with --set flow.season=...)"
        )
    try:
        growth = float(args.growth)
    except ValueError:
        raise UsageError(f"--growth must be a number or inf; got {args.growth!r}") from None
    for path in (args.output, args.csv, args.write_scenario):
        if path:
            check_writable(Path(path), args.overwrite)
    config = load_config(args.config, args.set)
    run = capacity_on_evaluation_basis(
        config,
        overrides=tuple(args.set or ()),
        tracers=tracer_list(args.tracer) or None,
        sources=args.sources,
        mode=args.mode,
        growth=growth,
        points=args.points,
        zones=args.zones,
        receptor_selector=args.receptors,
        shares=_shares(args.share),
        target_class=args.target_class,
        cache=False if args.no_cache else True,
        verify=not args.no_verify,
    )
    if not args.quiet:
        print(run.table())
    if args.csv:
        run.write_csv(args.csv)
        print(f"wrote {args.csv}")
    if args.output:
        write_netcdf(run.dataset(inputs=checksums(config)), args.output, overwrite=True)
        print(f"wrote {args.output}")
    if args.write_scenario:
        run.write_scenario(args.write_scenario)
        print(f"wrote {args.write_scenario} (re-run it: bbw-bay scenarios {args.write_scenario})")
    return EXIT_INFEASIBLE if run.infeasible else 0


def _write_capacity(datasets, path, config, model) -> None:
    import xarray as xr

    from bbw_bay.core.output import add_provenance, write_netcdf

    tracers = [ds.attrs["tracer"] for ds in datasets]
    ds = xr.concat(datasets, dim="tracer", coords="minimal", combine_attrs="drop")
    ds = ds.assign_coords(tracer=tracers)
    for item in datasets:
        for key in ("status", "explanations", "verification", "mode", "growth"):
            if key in item.attrs:
                ds.attrs[f"{key}_{item.attrs['tracer']}"] = item.attrs[key]
    ds.attrs["title"] = "bbw_bay allowable loads (response-coefficient method, HiGHS LP)"
    add_provenance(ds, config_text=config.text, settings=model.settings(), inputs=checksums(config))
    write_netcdf(ds, path, overwrite=True)


def _plot_capacity(results, path) -> None:
    from bbw_bay.plots.charts import capacity_bars
    from bbw_bay.plots.common import save_figure

    feasible = [r for r in results if r.feasible]
    if not feasible:
        print(f"no figure: no feasible answer to draw ({path} not written)")
        return
    r = feasible[0]
    p = r.problem
    names = [n for n, c in zip(p.sources, p.controlled, strict=True) if c]
    current = {n: float(p.today[p.sources.index(n)]) for n in names}
    allowable = {n: float(r.allowable[p.sources.index(n)]) for n in names}
    ax = capacity_bars(
        current, allowable, title=f"{p.tracer}: today's vs allowable loads ({p.mode})"
    )
    save_figure(ax.figure, path)
    print(f"wrote {path}")


def receptor_options(p) -> None:
    """--receptors, --points, --zones: which control points and zone means constrain (p: a parser
    or an argument group)."""
    p.add_argument(
        "--receptors",
        default=None,
        metavar="SELECTOR",
        help='receptors to use: keys ("maowei_centre,zone:maowei_sea") or fields '
        '("province=Guangxi", "kind=zone"); default all',
    )
    p.add_argument(
        "--points",
        default=None,
        metavar="FILE",
        help="control points TOML (default forcing/control_points.toml on lon/lat grids)",
    )
    p.add_argument(
        "--zones",
        default=None,
        metavar="FILE",
        help="zones TOML for zone-mean receptors (default forcing/zones.toml on "
        'lon/lat grids; "none" for points only)',
    )


def add_control_commands(command, common) -> None:
    """Register ``apportion`` and ``capacity``."""

    def receptor_and_output_options(p):
        receptor_options(p)
        p.add_argument("--csv", default=None, help="also write the table as CSV")
        p.add_argument("-o", "--output", default=None, help="write the result as netCDF")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        p.add_argument("--plot", default=None, metavar="PNG", help="draw a bar chart")

    p = command(
        "apportion",
        cmd_apportion,
        "each source's share of the concentration at each control point and zone",
        "bbw-bay apportion configs/beibu_gulf.toml --tracer DIN --csv shares.csv",
    )
    common(p, output=False)
    receptor_and_output_options(p)
    p.add_argument("--tracer", default=None, help="tracer(s), e.g. DIN or DIN,PO4 (default all)")
    p.add_argument("--top", type=int, default=3, help="contributors listed per receptor")
    p.add_argument(
        "--by",
        default="source",
        choices=("source", "province", "kind"),
        help="group the contributors",
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip the superposition check (two full steady solves)",
    )
    p.add_argument(
        "--maps",
        default=None,
        metavar="NC",
        help="write each source's steady contribution field to this netCDF",
    )
    p.add_argument(
        "--map-sources",
        default=None,
        metavar="SELECTOR",
        help="sources for --maps (names or FIELD=VALUE; default all)",
    )
    p.add_argument(
        "--map-png",
        default=None,
        metavar="PNG",
        help="draw the contribution map of the first --map-sources source",
    )
    p = command(
        "capacity",
        cmd_capacity,
        "allowable loads (环境容量) and minimum reductions, verified by run + evaluate "
        "(exit 3: infeasible)",
        'bbw-bay capacity configs/beibu_gulf.toml --sources "province=Guangxi,kind=river" '
        "--mode min-reduction --tracer DIN",
    )
    common(p, output=False)
    receptor_and_output_options(p)
    p.add_argument(
        "--seasons",
        default=None,
        metavar="S1,S2",
        help="stack the constraints of several seasons (e.g. winter,summer)",
    )
    p.add_argument(
        "--sources",
        default=None,
        metavar="SELECTOR",
        help='controlled sources: names ("Nanliu,Qin") or fields '
        '("province=Guangxi,kind=river"); default all; the rest stay at '
        "today's loads",
    )
    p.add_argument(
        "--mode",
        default="max",
        choices=("max", "min-reduction", "uniform"),
        help="max: largest total allowable load; min-reduction: smallest total cut; "
        "uniform: smallest equal-percentage cut",
    )
    p.add_argument(
        "--growth",
        default="0.2",
        help="max mode: loads may grow to (1 + growth) × today's (default 0.2; inf for no bound)",
    )
    p.add_argument(
        "--tracer",
        default=None,
        help="tracer(s), e.g. DIN or DIN,PO4 (default every tracer with a GB 3097 limit)",
    )
    p.add_argument(
        "--target-class",
        type=int,
        default=None,
        choices=(1, 2, 3, 4),
        help="one GB 3097 class for every receptor (default each receptor's own)",
    )
    p.add_argument(
        "--skip-unattainable",
        action="store_true",
        help="leave out receptors that background + fixed sources already exceed "
        "(listed), and solve for the rest",
    )
    p.add_argument(
        "--all-sources", action="store_true", help="list the fixed sources in the table too"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the forward-run verification")
    p.add_argument(
        "--basis",
        default="evaluation",
        choices=("evaluation", "steady"),
        help="evaluation (default): every cell of each zone in class in the time mean of the "
        "config's own run (flow cycle, scheme, spin-up, records as bbw-bay run + evaluate), "
        "verified by that run; exit 3 when infeasible. steady: zone means and points of the "
        "annual upwind steady state (the former answer; exits 0 when infeasible)",
    )
    p.add_argument(
        "--share",
        action="append",
        default=None,
        metavar="ZONE=PERCENT",
        help="a zone's target as a share of its area in class (优良水质比例, e.g. "
        "guangxi_nearshore=94.5; a MILP); repeatable; zones not named: every cell",
    )
    p.add_argument(
        "--write-scenario",
        default=None,
        metavar="TOML",
        help="write the answer as a scenario file that bbw-bay scenarios re-runs",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write the response cache ($BBW_BAY_CACHE, else "
        "$XDG_CACHE_HOME/bbw_bay or ~/.cache/bbw_bay)",
    )
