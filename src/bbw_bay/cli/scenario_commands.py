"""``bbw-bay scenarios, ensemble``: scenario files and Monte Carlo ensembles; parse, call, print."""

from __future__ import annotations

import time
from pathlib import Path

from bbw_bay.cli.common import UsageError, check_writable, write_table_csv
from bbw_bay.cli.control_commands import receptor_options, receptors_from_args
from bbw_bay.cli.progress import task_progress


def cmd_scenarios(args) -> int:
    from bbw_bay.control.executors import open_executor
    from bbw_bay.control.scenario_compare import comparison_table, to_csv
    from bbw_bay.control.scenario_spec import load_spec
    from bbw_bay.control.scenarios import run_scenarios
    from bbw_bay.core.output import write_netcdf

    spec = load_spec(args.spec)
    out = Path(args.output) if args.output else Path(Path(args.spec).stem + ".nc")
    check_writable(out, args.overwrite)
    if args.csv:
        check_writable(Path(args.csv), args.overwrite)
    t0 = time.perf_counter()
    with open_executor(workers=args.workers, scheduler=args.scheduler) as executor:
        ds = run_scenarios(
            spec,
            executor=executor,
            retries=args.retries,
            progress=task_progress(args.quiet, "scenario"),
        )
    wall = time.perf_counter() - t0
    write_netcdf(ds, out, overwrite=args.overwrite)
    if args.csv:
        write_table_csv(Path(args.csv), lambda tmp: to_csv(ds, tmp))
    if not args.quiet:
        print(comparison_table(ds))
        print(
            f"wrote {out}"
            + (f" and {args.csv}" if args.csv else "")
            + f" ({ds.sizes['scenario']} cases, {wall:.1f} s)"
        )
    return 0


def cmd_ensemble(args) -> int:
    from bbw_bay.control.capacity_ensemble import capacity_band_table, run_capacity_ensemble
    from bbw_bay.control.ensemble_spec import load_ensemble
    from bbw_bay.control.ensembles import ensemble_table, run_ensemble
    from bbw_bay.control.executors import open_executor
    from bbw_bay.core.output import write_netcdf

    spec = load_ensemble(args.spec)
    out = Path(args.output) if args.output else Path(Path(args.spec).stem + ".nc")
    check_writable(out, args.overwrite)
    capacity = _ensemble_capacity_options(args, spec)
    t0 = time.perf_counter()
    with open_executor(workers=args.workers, scheduler=args.scheduler) as executor:
        options = {
            "members": args.members,
            "seed": args.seed,
            "executor": executor,
            "retries": args.retries,
            "progress": task_progress(args.quiet, "member"),
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
        from bbw_bay.control.capacity_ensemble import neutral_member
        from bbw_bay.control.ensembles import member_model

        receptors = receptors_from_args(member_model(neutral_member(spec), spec=spec), args)
    return {
        "tracer": args.tracer or "DIN",
        "sources": args.sources,
        "mode": args.mode or "max",
        "growth": growth,
        "skip_unattainable": args.skip_unattainable,
        "receptors": receptors,
    }


def add_scenario_commands(command) -> None:
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
    receptor_options(band)
