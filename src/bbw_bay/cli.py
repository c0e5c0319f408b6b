"""The ``bbw-bay`` command line: the only module that prints.

Exit codes: 0 success, 2 bad input (config, data, arguments), 1 runtime failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bbw_bay import __version__

EXAMPLES = """examples:
  bbw-bay run configs/beibu_gulf.toml -o baseline.nc
  bbw-bay steady configs/beibu_gulf.toml --season winter -o winter.nc
  bbw-bay check configs/channel.toml
  bbw-bay run configs/channel.toml --set run.duration_days=2 -o quick.nc --overwrite
"""

log = logging.getLogger("bbw_bay")


class UsageError(ValueError):
    """A bad command-line argument."""


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'bad input' (exit code 2)."""
    from bbw_bay.config import ConfigError
    from bbw_bay.flow import FlowError
    from bbw_bay.forcing import ForcingError
    from bbw_bay.grid import GridError
    from bbw_bay.model import ModelError
    from bbw_bay.output import OutputError
    from bbw_bay.solver import StabilityError
    from bbw_bay.sources import SourceError

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
        ("bbw_bay.currents", "CurrentsError"),
        ("bbw_bay.loads", "LoadsError"),
        ("bbw_bay.evaluate", "ZoneError"),
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
    from bbw_bay.output import check_writable

    check_writable(path, overwrite=overwrite)


def _checksums(config) -> dict:
    from bbw_bay.forcing import forcing_dir, sha256

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
    return "\n".join(lines)


def _checkpoint_file(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint.npz")


def _config_digest(config) -> str:
    return hashlib.sha256(config.text.encode()).hexdigest()


def _save_checkpoint(target: Path, state: dict, digest: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, config_digest=np.array(digest), **{k: np.asarray(v) for k, v in state.items()})
    os.replace(tmp, target)


def _load_checkpoint(target: Path, digest: str) -> dict:
    from bbw_bay.config import ConfigError

    if not target.is_file():
        raise ConfigError(
            f"--resume: no checkpoint {target} (run without --resume first, "
            "with run.checkpoint_interval_days > 0)"
        )
    with np.load(target) as data:
        state = {k: data[k] for k in data.files}
    if str(state.pop("config_digest")) != digest:
        raise ConfigError(f"--resume: checkpoint {target} was made with a different config")
    return state


# ---------------------------------------------------------------------- commands
def cmd_check(args) -> int:
    from bbw_bay.assemble import build
    from bbw_bay.config import load_config

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
        f"positivity number dt·rate = {dt * rate.max():.3f} (must be ≤ 1)"
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
    from bbw_bay.assemble import build
    from bbw_bay.config import load_config
    from bbw_bay.output import add_provenance, write_netcdf

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
    write_netcdf(ds, out, overwrite=True)
    if ckpt.exists():
        ckpt.unlink()
    if not args.quiet:
        print(_summary(model, out, wall))
        _print_evaluation(ds, args)
    return 0


def _print_evaluation(ds, args) -> None:
    """GB 3097 class shares per zone when the evaluation module and zones are available."""
    if not ds.attrs.get("geographic"):
        return
    try:
        from bbw_bay.evaluate import evaluate, evaluation_table
    except ImportError:
        return
    result = evaluate(ds)
    print(evaluation_table(result))


def cmd_steady(args) -> int:
    from bbw_bay.assemble import build
    from bbw_bay.config import load_config
    from bbw_bay.output import add_provenance, write_netcdf

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


def cmd_verify(args) -> int:
    from bbw_bay.verification import CASES

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
    import xarray as xr

    with xr.open_dataset(args.file) as ds:
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
    import xarray as xr

    from bbw_bay.evaluate import evaluate, evaluation_table, to_csv

    with xr.open_dataset(args.file) as ds:
        result = evaluate(ds)
    print(evaluation_table(result))
    if args.csv:
        to_csv(result, args.csv)
        print(f"wrote {args.csv}")
    return 0


def cmd_plot(args) -> int:
    from bbw_bay.plots import plot_file

    plot_file(args.file, args.kind, tracer=args.tracer, output=args.output)
    print(f"wrote {args.output}")
    return 0


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
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bbw-bay``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = (
        logging.DEBUG
        if getattr(args, "verbose", False)
        else (logging.ERROR if getattr(args, "quiet", False) else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except bad_input_errors() as err:
        print(f"bbw-bay: error: {err}", file=sys.stderr)
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
