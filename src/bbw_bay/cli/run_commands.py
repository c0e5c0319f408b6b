"""``bbw-bay run, steady, residence, check, verify, info, evaluate, plot``: parse, call, print."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from bbw_bay.cli.common import UsageError, check_writable, checksums, output_path, run_inputs
from bbw_bay.cli.progress import progress_bar
from bbw_bay.cli.reports import (
    diagnostic_zone_mean_lines,
    evaluation_lines,
    residence_lines,
    run_summary,
    steady_budget_lines,
)


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


# ---------------------------------------------------------------------- run
def checkpoint_file(output: Path) -> Path:
    """The checkpoint of a run writing ``output``: ``OUTPUT.checkpoint.npz`` beside it."""
    return output.with_name(output.name + ".checkpoint.npz")


def cmd_run(args) -> int:
    """March the model in time; write the netCDF; print the budget and the zone table."""
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import remove_stale_temporaries, write_netcdf
    from bbw_bay.core.simulation import Simulation
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    out = output_path(args, ".nc")
    if not args.resume:
        check_writable(out, args.overwrite)
    ckpt = checkpoint_file(out)
    if args.resume and not ckpt.is_file():
        raise UsageError(
            f"--resume: no checkpoint {ckpt} (run without --resume first, "
            "with run.checkpoint_interval_days > 0)"
        )
    setup = build(config, season=args.season)
    interval = float(config["run"]["checkpoint_interval_days"])
    update, close = progress_bar(args.quiet)
    simulation = Simulation.from_config(
        setup.model,
        config,
        steady_model=lambda: build(config, season=args.season, steady=True).model,
        checkpoint=ckpt if interval > 0 or args.resume else None,
        inputs=run_inputs(config, args),
        progress=update,
    )
    if args.resume and not args.quiet:
        print(f"resuming from {ckpt}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        ds = simulation.run(resume=args.resume)
    finally:
        close()
    wall = time.perf_counter() - t0
    ds.attrs["config"] = config.text
    ds.attrs["config_file"] = str(config.path)
    stats = simulation.statistics
    if stats.region_budget:
        ds.attrs["gulf_proper_budget"] = json.dumps(stats.region_budget)
    write_netcdf(ds, out, overwrite=True)
    simulation.remove_checkpoint()
    remove_stale_temporaries(out)
    if not args.quiet:
        print(run_summary(stats, out, wall))
        _print(evaluation_lines(ds))
    return 0


# ---------------------------------------------------------------------- steady, residence
def cmd_steady(args) -> int:
    """Solve the steady state; write the netCDF; print the budget and the zone table."""
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import add_provenance, write_netcdf
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    out = output_path(args, f"_steady{'_' + args.season if args.season else ''}.nc")
    check_writable(out, args.overwrite)
    setup = build(config, season=args.season, steady=True)
    t0 = time.perf_counter()
    ds = setup.model.steady_state()
    wall = time.perf_counter() - t0
    budget = json.loads(ds.attrs["mass_budget"])
    add_provenance(
        ds,
        config_text=config.text,
        settings=setup.model.settings(),
        budget=budget,
        inputs=checksums(config),
    )
    ds.attrs["config_file"] = str(config.path)
    write_netcdf(ds, out, overwrite=True)
    if not args.quiet:
        print(
            f"wrote {out} (steady state, {ds.attrs['steady_iterations']} defect-correction "
            f"iterations, {wall:.2f} s)"
        )
        _print(steady_budget_lines(budget))
        _print(evaluation_lines(ds))
    return 0


#: Seasons `bbw-bay residence` reports by default.
RESIDENCE_SEASONS = ("winter", "spring", "summer", "autumn", "annual")


def setup_has_seasons(config) -> bool:
    """True when the config's flow is the built-in seasonal circulation."""
    return config["flow"]["kind"] == "circulation"


def cmd_residence(args) -> int:
    """E-folding residence time of the gulf proper and each zone, per season."""
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import grid_dataset
    from bbw_bay.gulf.assemble import build
    from bbw_bay.gulf.geodata import gulf_proper_mask
    from bbw_bay.quality.evaluate import load_zones, zone_masks

    config = load_config(args.config, args.set)
    seasons = args.season.split(",") if args.season else list(RESIDENCE_SEASONS)
    table = {}
    for season in seasons:
        setup = build(config, season=season if setup_has_seasons(config) else None, steady=True)
        grid = setup.grid
        regions = {"domain": grid.wet}
        if grid.geographic:
            regions = {"gulf_proper": gulf_proper_mask(grid)}
            regions.update(zone_masks(grid_dataset(grid), load_zones()))
            regions = {k: m for k, m in regions.items() if m.any()}
        table[season] = setup.model.efolding_times(regions, max_days=args.max_days)
        if not setup_has_seasons(config):
            break
    if not args.quiet:
        _print(residence_lines(table, args.max_days))
    return 0


# ---------------------------------------------------------------------- check, verify, info
def cmd_check(args) -> int:
    """Validate a config; print the resolved settings, time step and Courant number."""
    from bbw_bay.core.config import load_config
    from bbw_bay.core.solver import RK_STAGES
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    setup = build(config, season=args.season, steady=False)
    model = setup.model
    dt = setup.run_options["dt"] or model.stable_dt()
    if setup.run_options["dt"]:
        model.solver.check_dt(dt)
    rate = model.solver.positivity_rate()
    print(f"config     {config.path}")
    print(f"grid       {setup.grid.describe()}")
    flow = setup.flow
    print(
        f"flow       {config['flow']['kind']}, {flow.times.size} field(s), max |transport| "
        f"{max(np.abs(flow.transport_u).max(), np.abs(flow.transport_v).max()):.4g} m³/s"
    )
    print(
        "tracers    "
        + ", ".join(f"{n} (k={t.decay_per_day:g}/d)" for n, t in model.tracers.items())
    )
    print(f"sources    {len(model.sources)}")
    for src, cell in zip(model.sources, model.layout.cells, strict=True):
        loads = ", ".join(f"{k}={v:.4g}" for k, v in src.loads.items())
        print(
            f"  - {src.name:<24} cell (j={cell[0]}, i={cell[1]}) Q={src.discharge:g} m³/s "
            f"loads [g/s]: {loads}"
        )
    print(
        f"advection  {model.advection}; time step {dt:.4g} s "
        f"({'given' if setup.run_options['dt'] else '0.9 × positivity bound'}); "
        f"positivity number dt·rate/(s−1) = {dt * rate.max() / (RK_STAGES - 1):.3f} (must be ≤ 1)"
    )
    print(f"Courant    max outflow Courant number {_courant(setup.grid, flow, dt):.3f}")
    print("resolved settings:")
    for section in ("grid", "flow", "transport", "run"):
        print(f"  [{section}] " + ", ".join(f"{k}={v!r}" for k, v in config[section].items()))
    return 0


def _courant(grid, flow, dt: float) -> float:
    volume = grid.volume
    outflow = flow.max_outflow_rate()
    ratio = np.zeros(grid.shape)
    ratio[grid.wet] = outflow[grid.wet] / volume[grid.wet]
    return float(ratio.max() * dt)


def cmd_verify(args) -> int:
    """Run the analytic verification cases; print their error norms and PASS/FAIL."""
    from bbw_bay.core.verification import CASES

    failures = 0
    for name, case in CASES.items():
        result = case()
        print(f"{name}:")
        for key, value in result.items():
            print(f"  {key:<26} {value:.3e}")
        missed = case.failures(result)  # each case carries its own pass criteria
        for line in missed:
            print(f"  missed: {line}")
        ok = not missed
        print(f"  {'PASS' if ok else 'FAIL'}")
        failures += not ok
    return 1 if failures else 0


def cmd_info(args) -> int:
    """What produced an output file: version, config, input checksums, budget."""
    from bbw_bay.core.output import read_netcdf

    with read_netcdf(args.file) as ds:
        attrs = dict(ds.attrs)
        print(f"file       {args.file}")
        print(f"produced   {attrs.get('source', 'unknown')} ({attrs.get('history', '')})")
        if attrs.get("config_file"):
            print(f"config     {attrs['config_file']}")
        print(f"variables  {', '.join(map(str, ds.data_vars))}; dims {dict(ds.sizes)}")
        for key in ("steps", "dt_max_s", "advection", "steady_iterations"):
            if key in attrs:
                print(f"{key:<10} {attrs[key]}")
        if attrs.get("input_checksums"):
            print("inputs (sha256):")
            for name, digest in json.loads(attrs["input_checksums"]).items():
                print(f"  {digest[:16]}…  {name}")
        if attrs.get("mass_budget"):
            print("mass budget:", attrs["mass_budget"])
        print("config:")
        print("  " + attrs.get("config", "").replace("\n", "\n  "))
    return 0


# ---------------------------------------------------------------------- evaluate, plot
def cmd_evaluate(args) -> int:
    """GB 3097 class shares and pass/fail per zone of an output file."""
    from bbw_bay.core.output import first_record_is_initial, read_netcdf
    from bbw_bay.quality.evaluate import evaluate, evaluation_table, to_csv

    with read_netcdf(args.file) as ds:
        if first_record_is_initial(ds):
            if not args.drop_initial:
                raise UsageError(
                    f"{args.file}: its first record is the initial state at the start of the "
                    "run (snapshot records), which a time mean would count as one record; "
                    "evaluate the records after it with --drop-initial, or re-run with "
                    'run.output = "mean" (the default: time means over each output interval)'
                )
            ds = ds.isel(time=slice(1, None))
        elif args.drop_initial:
            raise UsageError(
                f"--drop-initial: {args.file} does not begin with an initial state (its records "
                "are time means, or it is a steady state)"
            )
        result = evaluate(ds)
        print(evaluation_table(result))
        _print(diagnostic_zone_mean_lines(ds))
    if args.csv:
        to_csv(result, args.csv)
        print(f"wrote {args.csv}")
    return 0


def _record_index(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"--time must be 'mean' or a record index (0, 1, ..., -1); found {text!r}"
        ) from None


def cmd_plot(args) -> int:
    """Draw a figure from an output file."""
    from bbw_bay.plots.files import plot_file

    kw = {}
    if args.time is not None:
        if args.kind not in ("concentration", "class"):
            raise UsageError(f"--time applies to --kind concentration or class, not {args.kind}")
        kw["time"] = args.time if args.time == "mean" else _record_index(args.time)
    plot_file(args.file, args.kind, tracer=args.tracer, output=args.output, **kw)
    print(f"wrote {args.output}")
    return 0


# ---------------------------------------------------------------------- parsers
def add_run_commands(command, common) -> None:
    """Register run, steady, residence, check, verify, info, evaluate and plot."""
    p = command(
        "run",
        cmd_run,
        "march the model in time and write a netCDF",
        "bbw-bay run configs/channel.toml -o channel.nc",
    )
    common(p)
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUTPUT.checkpoint.npz (run.checkpoint_interval_days > 0)",
    )
    common(
        command(
            "steady",
            cmd_steady,
            "solve the steady state (sparse direct solver)",
            "bbw-bay steady configs/beibu_gulf.toml --season winter",
        )
    )
    p = command(
        "residence",
        cmd_residence,
        "e-folding residence time of the gulf proper and each zone, per season",
        "bbw-bay residence configs/beibu_gulf.toml --season winter,summer",
    )
    common(p, output=False)
    p.add_argument(
        "--max-days",
        type=float,
        default=400.0,
        help="stop marching after this many days (default 400)",
    )
    common(
        command(
            "check",
            cmd_check,
            "validate a config; print settings, time step and Courant",
            "bbw-bay check configs/channel.toml",
        ),
        output=False,
    )
    command(
        "verify",
        cmd_verify,
        "run the analytic verification cases; print error norms",
        "bbw-bay verify",
    )
    p = command(
        "info",
        cmd_info,
        "what produced an output file (version, config, checksums)",
        "bbw-bay info baseline.nc",
    )
    p.add_argument("file", help="a netCDF written by bbw-bay")
    p = command(
        "evaluate",
        cmd_evaluate,
        "GB 3097 class shares and pass/fail per zone",
        "bbw-bay evaluate baseline.nc --csv zones.csv",
    )
    p.add_argument("file", help="a netCDF written by bbw-bay run or steady (lon/lat grid)")
    p.add_argument("--csv", help="also write the table as CSV")
    p.add_argument(
        "--drop-initial",
        action="store_true",
        help="leave out the first record of a snapshot file, its initial state",
    )
    p = command(
        "plot",
        cmd_plot,
        "draw a figure from an output file",
        "bbw-bay plot baseline.nc --kind class -o class.png",
    )
    p.add_argument("file", help="a netCDF written by bbw-bay")
    p.add_argument(
        "--kind",
        required=True,
        choices=("concentration", "class", "flow", "timeseries", "scenarios"),
    )
    p.add_argument("--tracer", default=None, help="tracer to draw (default: the first)")
    p.add_argument(
        "--time",
        default=None,
        help="maps: 'mean' (time mean, as the evaluation) or a record index (default -1, the last)",
    )
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
