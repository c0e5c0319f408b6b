"""The ``bbw-bay`` command line: the only module that prints.

Exit codes: 0 success, 2 bad input (config, data, arguments), 1 runtime failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from bbw_bay.errors import BadInputError
from bbw_bay.version import __version__

EXAMPLES = """examples:
  bbw-bay run configs/beibu_gulf.toml -o baseline.nc
  bbw-bay steady configs/beibu_gulf.toml --season winter -o winter.nc
  bbw-bay check configs/channel.toml
  bbw-bay run configs/channel.toml --set run.duration_days=2 -o quick.nc --overwrite
"""

log = logging.getLogger("bbw_bay")


class UsageError(BadInputError):
    """A bad command-line argument."""


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'bad input' (exit code 2)."""
    from bbw_bay.core.config import ConfigError
    from bbw_bay.core.flow import FlowError
    from bbw_bay.core.grid import GridError
    from bbw_bay.core.model import ModelError
    from bbw_bay.core.output import OutputError
    from bbw_bay.core.solver import StabilityError
    from bbw_bay.core.sources import SourceError
    from bbw_bay.gulf.data import ForcingError

    errors = [
        ConfigError,
        FlowError,
        ForcingError,
        GridError,
        ModelError,
        OutputError,
        StabilityError,
        SourceError,
        UsageError,
        FileNotFoundError,
    ]
    for module, name in (
        ("bbw_bay.core.currents", "CurrentsError"),
        ("bbw_bay.gulf.loads", "LoadsError"),
        ("bbw_bay.quality.evaluate", "ZoneError"),
        ("bbw_bay.control.response", "ResponseError"),
        ("bbw_bay.control.capacity", "CapacityError"),
        ("bbw_bay.control.scenarios", "ScenarioError"),
        ("bbw_bay.control.executors", "ExecutorError"),
        ("bbw_bay.core.steady", "NoSteadyStateError"),
        ("bbw_bay.gulf.circulation", "CirculationError"),
        ("bbw_bay.gulf.tides", "TideError"),
    ):
        try:
            errors.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


# ---------------------------------------------------------------------- helpers
def _progress_bar(quiet: bool):
    """A progress callback: tqdm on a terminal, log lines otherwise; None when quiet."""
    if quiet:
        return None, lambda: None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=100,
                unit="%",
                desc="simulating",
                leave=False,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% [{elapsed}<{remaining}]",
            )

            def update(done: float, total: float) -> None:
                bar.n = 100.0 * done / total
                bar.refresh()

            return update, bar.close
        except ImportError:
            pass
    last = [-1.0]

    def log_line(done: float, total: float) -> None:
        percent = 100.0 * done / total
        if percent - last[0] >= 10.0 or done >= total:
            last[0] = percent
            print(f"  {percent:5.1f}% of {total / 86400:.4g} days simulated", file=sys.stderr)

    return log_line, lambda: None


def _output_path(args, default_suffix: str) -> Path:
    if args.output:
        return Path(args.output)
    return Path(Path(args.config).stem + default_suffix)


def _check_writable(path: Path, overwrite: bool) -> None:
    from bbw_bay.core.output import check_writable

    check_writable(path, overwrite=overwrite)


def _checksums(config) -> dict:
    from bbw_bay.gulf.data import forcing_dir, sha256

    sums = {}
    if config.path:
        sums[str(config.path)] = sha256(config.path)
    folder = forcing_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*")):
            if path.suffix in (".nc", ".toml", ".csv"):
                sums[f"forcing/{path.name}"] = sha256(path)
    return sums


def _summary(model, path: Path | None, wall: float) -> str:
    stats = model.statistics
    lines = [
        f"wrote {path}" if path else "done",
        f"  steps {stats.steps}, dt {stats.dt_min:.4g}–{stats.dt_max:.4g} s, "
        f"wall time {wall:.2f} s",
        "  mass budget [t]:   loads in   boundary in   decayed   storage change   imbalance",
    ]
    for name, b in stats.budget.items():
        change = b["final_g"] - b["initial_g"]
        lines.append(
            f"    {name:<8} {b['loads_in_g'] / 1e6:12.4g} {b['boundary_in_g'] / 1e6:13.4g} "
            f"{b['decayed_g'] / 1e6:9.4g} {change / 1e6:16.4g} {b['imbalance_g'] / 1e6:11.2e}"
        )
    lines.append(f"  largest relative imbalance {stats.max_relative_imbalance:.2e}")
    lines.extend(_region_budget_lines(stats.region_budget))
    return "\n".join(lines)


def _region_budget_lines(budget: dict) -> list[str]:
    """The monitored region's (the gulf proper's) budget [t]: loads, decay, inflow per section."""
    if not budget:
        return []
    first = next(iter(budget.values()))
    sections = [k[len("inflow_") : -len("_g")] for k in first if k.startswith("inflow_")]
    header = "".join(f"{'in: ' + s:>22}" for s in sections)
    lines = [
        "  gulf proper budget [t] (inflow > 0 into the gulf):",
        f"    {'tracer':<8}{'loads in':>11}{'decayed':>11}{header}{'storage change':>16}"
        f"{'imbalance':>11}",
    ]
    for name, b in budget.items():
        flows = "".join(f"{b[f'inflow_{s}_g'] / 1e6:22.4g}" for s in sections)
        change = (b["final_g"] - b["initial_g"]) / 1e6
        lines.append(
            f"    {name:<8}{b['loads_in_g'] / 1e6:11.4g}{b['decayed_g'] / 1e6:11.4g}{flows}"
            f"{change:16.4g}{b['imbalance_g'] / 1e6:11.2e}"
        )
    return lines


def _checkpoint_file(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint.npz")


def _config_digest(config) -> str:
    return hashlib.sha256(config.text.encode()).hexdigest()


def _save_checkpoint(target: Path, state: dict, digest: str) -> None:
    """Write the run state atomically: a kill at any moment leaves the previous checkpoint or
    the new one, complete (temporary file + fsync + rename, see output.atomic_write)."""
    from bbw_bay.core.output import atomic_write

    arrays = {"config_digest": np.array(digest), **{k: np.asarray(v) for k, v in state.items()}}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays)

    atomic_write(target, write)


def _load_checkpoint(target: Path, digest: str) -> dict:
    from bbw_bay.core.config import ConfigError

    if not target.is_file():
        raise ConfigError(
            f"--resume: no checkpoint {target} (run without --resume first, "
            "with run.checkpoint_interval_days > 0)"
        )
    try:
        with np.load(target) as data:  # reading every member checks its CRC-32
            state = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(
            f"--resume: checkpoint {target} is unreadable ({err}); delete it and run "
            "without --resume"
        ) from None
    if "config_digest" not in state:
        raise ConfigError(f"--resume: {target} is not a bbw-bay checkpoint (no config digest)")
    if str(state.pop("config_digest")) != digest:
        raise ConfigError(
            f"--resume: checkpoint {target} was made with a different config (or other --set "
            "options); resume with the same config and options, or run without --resume"
        )
    return state


# ---------------------------------------------------------------------- commands
def cmd_check(args) -> int:
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
    courant = _courant(setup.grid, flow, dt)
    print(f"Courant    max outflow Courant number {courant:.3f}")
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


def cmd_run(args) -> int:
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import add_provenance, remove_stale_temporaries, write_netcdf
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    out = _output_path(args, ".nc")
    if not args.resume:
        _check_writable(out, args.overwrite)
    setup = build(config, season=args.season)
    model = setup.model
    options = dict(setup.run_options)
    digest = _config_digest(config)
    ckpt = _checkpoint_file(out)
    interval = float(config["run"]["checkpoint_interval_days"]) * 86400.0
    if interval > 0:
        options["checkpoint"] = lambda state: _save_checkpoint(ckpt, state, digest)
        options["checkpoint_interval"] = interval
    if args.resume:
        options["resume_state"] = _load_checkpoint(ckpt, digest)
        if not args.quiet:
            print(
                f"resuming from {ckpt} at day {float(options['resume_state']['time']) / 86400:.3f}",
                file=sys.stderr,
            )
    update, close = _progress_bar(args.quiet)
    t0 = time.perf_counter()
    try:
        ds = model.run(progress=update, **options)
    finally:
        close()
    wall = time.perf_counter() - t0
    add_provenance(
        ds,
        config_text=config.text,
        settings=model.settings(),
        budget=model.statistics.budget,
        inputs=_checksums(config),
    )
    if model.statistics.region_budget:
        ds.attrs["gulf_proper_budget"] = json.dumps(model.statistics.region_budget)
    write_netcdf(ds, out, overwrite=True)
    if ckpt.exists():
        ckpt.unlink()
    remove_stale_temporaries(ckpt)
    remove_stale_temporaries(out)
    if not args.quiet:
        print(_summary(model, out, wall))
        _print_evaluation(ds, args)
    return 0


def _print_evaluation(ds, args) -> None:
    """GB 3097 class shares per zone when the evaluation module and zones are available."""
    if not ds.attrs.get("geographic"):
        return
    try:
        from bbw_bay.quality.evaluate import evaluate, evaluation_table
    except ImportError:
        return
    result = evaluate(ds)
    print(evaluation_table(result))
    _print_diagnostic_zone_means(ds)


def _print_diagnostic_zone_means(ds) -> None:
    """Per-zone means of water age [days] and of tagged-tracer contributions [mg/L]."""
    from bbw_bay.quality.evaluate import zone_means

    ages = [v for v in ds.data_vars if str(v).endswith("_mean_days")]
    tags = [v for v in ds.data_vars if "@" in str(v)]
    for names, what in (
        (ages, "mean age since release [days]"),
        (tags, "tagged contributions, time mean [mg/L]"),
    ):
        if not names:
            continue
        table = zone_means(ds, names)
        print(f"zone means of {what}:")
        print(f"  {'zone':<22}" + "".join(f"{str(n)[:24]:>26}" for n in names))
        for zone in table["zone"].values:
            row = table.sel(zone=zone).values
            print(f"  {zone:<22}" + "".join(f"{x:26.4g}" for x in row))


def cmd_steady(args) -> int:
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import add_provenance, write_netcdf
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    out = _output_path(args, f"_steady{'_' + args.season if args.season else ''}.nc")
    _check_writable(out, args.overwrite)
    setup = build(config, season=args.season, steady=True)
    t0 = time.perf_counter()
    ds = setup.model.steady_state()
    wall = time.perf_counter() - t0
    add_provenance(
        ds,
        config_text=config.text,
        settings=setup.model.settings(),
        budget=json.loads(ds.attrs["mass_budget"]),
        inputs=_checksums(config),
    )
    write_netcdf(ds, out, overwrite=True)
    if not args.quiet:
        print(
            f"wrote {out} (steady state, {ds.attrs['steady_iterations']} defect-correction "
            f"iterations, {wall:.2f} s)"
        )
        budget = json.loads(ds.attrs["mass_budget"])
        print("  mass budget [t/yr]: loads in   boundary in   decayed   relative imbalance")
        for name, b in budget.items():
            f = 86400 * 365.25 / 1e6
            print(
                f"    {name:<8} {b['loads_in_g_per_s'] * f:10.4g} "
                f"{b['boundary_in_g_per_s'] * f:13.4g} {b['decayed_g_per_s'] * f:9.4g} "
                f"{b['relative_imbalance']:12.2e}"
            )
        _print_evaluation(ds, args)
    return 0


def cmd_residence(args) -> int:
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
        print(
            "e-folding residence time [days] of a conservative tracer filling each region "
            "(steady flow, upwind, implicit Euler dt = 1 d)"
        )
        columns = list(table)
        print(f"{'region':<22}" + "".join(f"{c:>10}" for c in columns))
        for region in next(iter(table.values())):
            cells = "".join(
                f"{table[c][region]:10.1f}"
                if np.isfinite(table[c][region])
                else f"{'>' + str(int(args.max_days)):>10}"
                for c in columns
            )
            print(f"{region:<22}{cells}")
    return 0


#: Seasons `bbw-bay residence` reports by default.
RESIDENCE_SEASONS = ("winter", "spring", "summer", "autumn", "annual")


def setup_has_seasons(config) -> bool:
    """True when the config's flow is the built-in seasonal circulation."""
    return config["flow"]["kind"] == "circulation"


def cmd_verify(args) -> int:
    from bbw_bay.core.verification import CASES

    failures = 0
    for name, case in CASES.items():
        result = case()
        print(f"{name}:")
        for key, value in result.items():
            print(f"  {key:<26} {value:.3e}")
        ok = {
            "gaussian_puff": result.get("relative_l1_error", 1.0) < 0.03,
            "point_source_k0": result.get("median_relative_error", 1.0) < 0.005,
            "solid_body_rotation": result.get("relative_mass_error", 1.0) < 1e-12
            and result.get("minimum", -1.0) >= 0.0,
        }[name]
        print(f"  {'PASS' if ok else 'FAIL'}")
        failures += not ok
    return 1 if failures else 0


def cmd_info(args) -> int:
    from bbw_bay.core.output import read_netcdf

    with read_netcdf(args.file) as ds:
        attrs = dict(ds.attrs)
        print(f"file       {args.file}")
        print(f"produced   {attrs.get('source', 'unknown')} ({attrs.get('history', '')})")
        print(f"variables  {', '.join(ds.data_vars)}; dims {dict(ds.sizes)}")
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


def cmd_evaluate(args) -> int:
    from bbw_bay.core.output import read_netcdf
    from bbw_bay.quality.evaluate import evaluate, evaluation_table, to_csv

    with read_netcdf(args.file) as ds:
        result = evaluate(ds)
        print(evaluation_table(result))
        _print_diagnostic_zone_means(ds)
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
    from bbw_bay.plots.maps import plot_file

    kw = {}
    if args.time is not None:
        if args.kind not in ("concentration", "class"):
            raise UsageError(f"--time applies to --kind concentration or class, not {args.kind}")
        kw["time"] = args.time if args.time == "mean" else _record_index(args.time)
    plot_file(args.file, args.kind, tracer=args.tracer, output=args.output, **kw)
    print(f"wrote {args.output}")
    return 0


# ---------------------------------------------------------------------- apportion, capacity
def _tracer_list(text: str | None) -> list[str] | None:
    """Tracer names from "DIN" or "DIN,PO4" (None: all)."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _receptors(model, args):
    """Control points (--points, default the shipped file on lon/lat grids) and zone means
    (--zones, default the shipped zones on lon/lat grids), filtered by --receptors."""
    from bbw_bay.control.response import (
        load_control_points,
        point_receptors,
        select_receptors,
        zone_receptors,
    )
    from bbw_bay.quality.evaluate import load_zones

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


def _superposition_lines(check: dict) -> list[str]:
    lines = ["superposition check (Σ contributions + background vs full steady solves):"]
    for name, c in check["tracers"].items():
        line = (
            f"  {name:<5} vs upwind full solve: max |diff| {c['upwind_max_abs_diff']:.2e} mg/L"
            f" (relative {c['upwind_max_rel_diff']:.1e})"
        )
        if "scheme_error" in c:
            line += f"; {check['advection']} steady state failed: {c['scheme_error']}"
        elif check["advection"] != "upwind":
            line += (
                f"; vs the {check['advection']} steady state: max |diff| "
                f"{c['scheme_max_abs_diff']:.3g} mg/L, largest relative "
                f"{100 * c['scheme_max_rel_diff']:.1f} % (at {c['scheme_worst_receptor']})"
            )
        lines.append(line)
    return lines


def cmd_apportion(args) -> int:
    from bbw_bay.control.response import (
        Factorisations,
        apportionment_csv,
        apportionment_dataset,
        apportionment_table,
        contribution_maps,
        response_coefficients,
        superposition_check,
    )
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import add_provenance, write_netcdf
    from bbw_bay.gulf.assemble import build

    config = load_config(args.config, args.set)
    for path in (args.output, args.maps, args.map_png, args.plot, args.csv):
        if path:
            _check_writable(Path(path), args.overwrite)
    setup = build(config, season=args.season, steady=True)
    model = setup.model
    receptors = _receptors(model, args)
    factors = Factorisations(model)
    t0 = time.perf_counter()
    matrix = response_coefficients(
        model,
        receptors=receptors,
        tracers=_tracer_list(args.tracer),
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
            print("\n".join(_superposition_lines(check)))
    if args.csv:
        apportionment_csv(ds, args.csv)
        print(f"wrote {args.csv}")
    if args.output:
        add_provenance(
            ds, config_text=config.text, settings=model.settings(), inputs=_checksums(config)
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
            from bbw_bay.plots.maps import contribution_map, save_figure

            source = str(maps["source"].values[0])
            ax = contribution_map(maps, source, tracer=matrix.tracers[0])
            save_figure(ax.figure, args.map_png)
            print(f"wrote {args.map_png} ({source})")
    if args.plot:
        from bbw_bay.plots.maps import apportionment_bars, save_figure

        tracer = matrix.tracers[0]
        ax = apportionment_bars(
            ds["contribution"].sel(tracer=tracer).rename(receptor="zone"),
            title=f"Source apportionment of {tracer} (excess over the background)",
        )
        save_figure(ax.figure, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_capacity(args) -> int:
    from bbw_bay.control.capacity import (
        build_problem,
        capacity_csv,
        capacity_dataset,
        capacity_table,
        solve,
        verify,
    )
    from bbw_bay.control.response import Factorisations, response_coefficients, select_sources
    from bbw_bay.core.config import load_config
    from bbw_bay.gulf.assemble import build
    from bbw_bay.quality.standards import TRACER_PARAMETERS

    if args.season and args.seasons:
        raise UsageError("give --season or --seasons, not both")
    seasons = [s.strip() for s in args.seasons.split(",")] if args.seasons else [args.season]
    for season in seasons:
        _check_season(season)
    try:
        growth = float(args.growth)
    except ValueError:
        raise UsageError(
            f"--growth must be a number (a fraction, e.g. 0.2) or inf; got {args.growth!r}"
        ) from None
    config = load_config(args.config, args.set)
    for path in (args.output, args.csv, args.plot):
        if path:
            _check_writable(Path(path), args.overwrite)
    t0 = time.perf_counter()
    models = {s or "annual": build(config, season=s, steady=True).model for s in seasons}
    first = next(iter(models.values()))
    receptors = _receptors(first, args)
    controlled = select_sources(first, args.sources)
    tracers = _tracer_list(args.tracer) or [t for t in first.names if t in TRACER_PARAMETERS]
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
    add_provenance(
        ds, config_text=config.text, settings=model.settings(), inputs=_checksums(config)
    )
    write_netcdf(ds, path, overwrite=True)


def _plot_capacity(results, path) -> None:
    from bbw_bay.plots.maps import capacity_bars, save_figure

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


def _receptor_options(p) -> None:
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


def _add_capacity_commands(command, common) -> None:
    """Register ``apportion`` and ``capacity``."""

    def receptor_options(p):
        _receptor_options(p)
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
    receptor_options(p)
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
        "allowable loads (环境容量) and minimum reductions by linear programming",
        'bbw-bay capacity configs/beibu_gulf.toml --sources "province=Guangxi,kind=river" '
        "--mode min-reduction --tracer DIN",
    )
    common(p, output=False)
    receptor_options(p)
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


# ---------------------------------------------------------------------- scenarios, ensembles
def _task_progress(quiet: bool, what: str):
    """progress(done, total) printing one line per finished task to stderr (None when quiet)."""
    if quiet:
        return None
    t0 = time.perf_counter()

    def report(done: int, total: int) -> None:
        print(f"  {what} {done}/{total} done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    return report


def _write_table_csv(path: Path, write) -> None:
    from bbw_bay.core.output import atomic_write

    atomic_write(path, write)


def cmd_scenarios(args) -> int:
    from bbw_bay.control.executors import open_executor
    from bbw_bay.control.scenarios import comparison_table, load_spec, run_scenarios, to_csv
    from bbw_bay.core.output import write_netcdf

    spec = load_spec(args.spec)
    out = Path(args.output) if args.output else Path(Path(args.spec).stem + ".nc")
    _check_writable(out, args.overwrite)
    if args.csv:
        _check_writable(Path(args.csv), args.overwrite)
    t0 = time.perf_counter()
    with open_executor(workers=args.workers, scheduler=args.scheduler) as executor:
        ds = run_scenarios(
            spec,
            executor=executor,
            retries=args.retries,
            progress=_task_progress(args.quiet, "scenario"),
        )
    wall = time.perf_counter() - t0
    write_netcdf(ds, out, overwrite=args.overwrite)
    if args.csv:
        _write_table_csv(Path(args.csv), lambda tmp: to_csv(ds, tmp))
    if not args.quiet:
        print(comparison_table(ds))
        print(
            f"wrote {out}"
            + (f" and {args.csv}" if args.csv else "")
            + f" ({ds.sizes['scenario']} cases, {wall:.1f} s)"
        )
    return 0


def cmd_ensemble(args) -> int:
    from bbw_bay.control.ensembles import (
        capacity_band_table,
        ensemble_table,
        load_ensemble,
        run_capacity_ensemble,
        run_ensemble,
    )
    from bbw_bay.control.executors import open_executor
    from bbw_bay.core.output import write_netcdf

    spec = load_ensemble(args.spec)
    out = Path(args.output) if args.output else Path(Path(args.spec).stem + ".nc")
    _check_writable(out, args.overwrite)
    capacity = _ensemble_capacity_options(args, spec)
    t0 = time.perf_counter()
    with open_executor(workers=args.workers, scheduler=args.scheduler) as executor:
        options = {
            "members": args.members,
            "seed": args.seed,
            "executor": executor,
            "retries": args.retries,
            "progress": _task_progress(args.quiet, "member"),
        }
        ds = (
            run_ensemble(spec, **options)
            if capacity is None
            else run_capacity_ensemble(spec, **options, **capacity)
        )
    wall = time.perf_counter() - t0
    write_netcdf(ds, out, overwrite=args.overwrite)
    if not args.quiet:
        print(ensemble_table(ds) if capacity is None else capacity_band_table(ds))
        print(f"wrote {out} ({ds.sizes['member']} members, seed {ds.attrs['seed']}, {wall:.1f} s)")
    return 0


_ENSEMBLE_CAPACITY_OPTIONS = (
    "sources",
    "tracer",
    "mode",
    "growth",
    "skip_unattainable",
    "points",
    "zones",
    "receptors",
)


def _ensemble_capacity_options(args, spec) -> dict | None:
    """Keyword arguments of `run_capacity_ensemble` from ``ensemble --capacity`` (None without
    --capacity; its options alone are a usage error)."""
    given = [
        f"--{name.replace('_', '-')}"
        for name in _ENSEMBLE_CAPACITY_OPTIONS
        if getattr(args, name) not in (None, False)
    ]
    if not args.capacity:
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --capacity")
        return None
    try:
        growth = float(args.growth) if args.growth is not None else 0.2
    except ValueError:
        raise UsageError(
            f"--growth must be a number (a fraction, e.g. 0.2) or inf; got {args.growth!r}"
        ) from None
    receptors = None
    if args.points or args.zones or args.receptors:
        from bbw_bay.control.ensembles import member_model, neutral_member

        receptors = _receptors(member_model(neutral_member(spec), spec=spec), args)
    return {
        "tracer": args.tracer or "DIN",
        "sources": args.sources,
        "mode": args.mode or "max",
        "growth": growth,
        "skip_unattainable": args.skip_unattainable,
        "receptors": receptors,
    }


def _add_scenario_commands(command) -> None:
    """Parsers of ``scenarios`` and ``ensemble``."""

    def tasks(p, what: str):
        p.add_argument("spec", help=f"{what} TOML file (see configs/{what}s/, docs/scenarios.md)")
        p.add_argument("-o", "--output", help="output netCDF (default: SPEC_NAME.nc)")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        p.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help="run tasks on a local dask cluster of N single-threaded worker "
            "processes (default: serially)",
        )
        p.add_argument(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="run tasks on an existing dask cluster, e.g. tcp://host:8786",
        )
        p.add_argument(
            "--retries",
            type=int,
            default=None if what == "ensemble" else 2,
            help="extra attempts for a failed task (default 2)",
        )
        verbosity = p.add_mutually_exclusive_group()
        verbosity.add_argument(
            "-q", "--quiet", action="store_true", help="print nothing but errors"
        )
        verbosity.add_argument("-v", "--verbose", action="store_true", help="log details")

    p = command(
        "scenarios",
        cmd_scenarios,
        "run a scenario file; compare scenarios zone by zone (table + netCDF)",
        "bbw-bay scenarios configs/scenarios/guangxi_reduction.toml -o guangxi.nc --csv g.csv",
    )
    tasks(p, "scenario")
    p.add_argument("--csv", help="also write the comparison table as CSV")
    p = command(
        "ensemble",
        cmd_ensemble,
        "Monte Carlo over uncertain inputs: probability each zone meets its target",
        "bbw-bay ensemble configs/ensembles/beibu_uncertainty.toml --members 20 --seed 1",
    )
    tasks(p, "ensemble")
    p.add_argument("--members", type=int, default=None, help="ensemble size (default: the file's)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed; the same seed gives the same members (default: the file's)",
    )
    band = p.add_argument_group("allowable-load bands (--capacity; see `bbw-bay capacity`)")
    band.add_argument(
        "--capacity",
        action="store_true",
        help="solve the capacity LP in every member: percentiles of each "
        "controlled source's allowable load and the share of members with "
        "an answer",
    )
    band.add_argument(
        "--sources",
        default=None,
        metavar="SELECTOR",
        help='controlled sources: names or fields ("province=Guangxi,kind=river"); default all',
    )
    band.add_argument(
        "--tracer", default=None, help="one tracer with a GB 3097 limit (default DIN)"
    )
    band.add_argument(
        "--mode",
        default=None,
        choices=("max", "min-reduction", "uniform"),
        help="as in `bbw-bay capacity` (default max)",
    )
    band.add_argument(
        "--growth",
        default=None,
        help="max mode: loads may grow to (1 + growth) × today's (default 0.2; inf for no bound)",
    )
    band.add_argument(
        "--skip-unattainable",
        action="store_true",
        help="leave out receptors that background + fixed sources already exceed",
    )
    _receptor_options(band)


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bbw-bay",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="bbw_bay: fast, verifiable pollutant-load simulator for the Beibu Gulf. "
        "Concentrations in mg/L, loads in t/yr or g/s, configs in TOML.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"bbw_bay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p, *, output=True):
        p.add_argument("config", help="TOML config file (see configs/)")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="SECTION.KEY=VALUE",
            help="override a config value, e.g. --set run.duration_days=10",
        )
        p.add_argument(
            "--season",
            default=None,
            help="circulation season: annual, winter, spring, summer, autumn",
        )
        verbosity = p.add_mutually_exclusive_group()
        verbosity.add_argument(
            "-q", "--quiet", action="store_true", help="print nothing but errors"
        )
        verbosity.add_argument("-v", "--verbose", action="store_true", help="log details")
        if output:
            p.add_argument("-o", "--output", help="output netCDF (default: CONFIG_NAME.nc)")
            p.add_argument("--overwrite", action="store_true", help="replace an existing output")

    def command(name, func, help_text, example):
        p = sub.add_parser(
            name,
            help=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

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
    _add_capacity_commands(command, common)
    _add_scenario_commands(command)
    return parser


#: Seasons that --season accepts: the circulation's four seasons and their annual mean.
SEASONS = ("annual", "winter", "spring", "summer", "autumn")


def _check_season(season: str | None) -> None:
    if season is not None and season not in SEASONS:
        import difflib

        close = difflib.get_close_matches(season, SEASONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"--season {season!r} is not one of {', '.join(SEASONS)}{hint}")


def _message(err: BaseException) -> str:
    """One line for a bad-input error; a bare OSError gets its file name and reason."""
    if isinstance(err, OSError) and err.filename and str(err).startswith("[Errno"):
        return f"{err.filename}: {err.strerror or 'cannot be read'}"
    return str(err)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bbw-bay``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed usage and the error (2), or --help (0)
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    level = (
        logging.DEBUG
        if getattr(args, "verbose", False)
        else (logging.ERROR if getattr(args, "quiet", False) else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    try:
        _check_season(getattr(args, "season", None))
        return int(args.func(args) or 0)
    except bad_input_errors() as err:
        print(f"bbw-bay: error: {_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bbw-bay: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the CLI reports every failure without a traceback
        if getattr(args, "verbose", False):
            raise
        print(f"bbw-bay: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
