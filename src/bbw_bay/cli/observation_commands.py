"""``bbw-bay validate`` and ``bbw-bay calibrate``: the model against observations.

``validate`` compares every row of an observation file with the model (steady states per season
of the config, or a run file) and prints per-row tables by kind, the skill per variable and
region and the rows it could not compare, with the reason. ``calibrate`` estimates load
multipliers per source group against the concentration rows, prints their posterior, the skill
before and after (in-sample and leave-one-publication-out) and writes a calibrated sources file.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bbw_bay.cli.common import check_writable, write_table_csv
from bbw_bay.quality.skill import DEFAULT_MAX_DISTANCE_KM

VALIDATE_EXAMPLE = (
    "bbw-bay validate configs/beibu_gulf.toml --csv validation.csv -o validation.png\n"
    "  bbw-bay validate configs/beibu_gulf.toml baseline.nc --observations my_stations.csv"
)
CALIBRATE_EXAMPLE = (
    "bbw-bay calibrate configs/beibu_gulf.toml --groups province-kind -o calibrated_sources.toml"
)
#: Kinds of observation rows in the order `validate` prints their tables, with a title.
KIND_TITLES = (
    ("concentration", "concentrations"),
    ("share", "GB 3097 Class I+II area share [percent]"),
    ("flushing", "flushing times [days]"),
    ("tide_amplitude", "tidal amplitudes [m]"),
    ("tide_phase", "tidal phases, Greenwich [degrees] (model-obs wrapped to +-180)"),
    ("tidal_range", "tidal ranges [m]"),
    ("other", "other variables"),
)


def _print(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _num(value: float, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Aligned plain-text columns (the first left-aligned, the others right-aligned)."""
    widths = [max([len(h), *(len(r[k]) for r in rows)]) for k, h in enumerate(header)]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return f"{indent}{first}  {rest}".rstrip()

    return [line(header), *(line(r) for r in rows)]


def _common(p) -> None:
    p.add_argument("config", help="TOML config file (see configs/)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set transport.advection=upwind",
    )
    p.add_argument(
        "--observations",
        default=None,
        metavar="FILE",
        help="observation CSV (default: the shipped forcing/observations.csv)",
    )
    p.add_argument(
        "--max-distance-km",
        type=float,
        default=DEFAULT_MAX_DISTANCE_KM,
        help="largest distance from a point to the wet cell it is compared with "
        f"(default {DEFAULT_MAX_DISTANCE_KM:g} km)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log details")


def add_parsers(subparsers) -> None:
    """Register ``validate`` and ``calibrate`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "validate",
        help="compare the model with observations: per-row tables and skill per variable",
        epilog=f"examples:\n  {VALIDATE_EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd_validate)
    _common(p)
    p.add_argument(
        "run",
        nargs="?",
        default=None,
        metavar="RUN.nc",
        help="a run file to read concentrations from (default: steady state per season)",
    )
    p.add_argument("--csv", default=None, metavar="OUT.csv", help="write every row as CSV")
    p.add_argument(
        "-o", "--output", default=None, metavar="FIG.png", help="log-log scatter and ratio map"
    )
    from bbw_bay.control.calibration import GROUPINGS

    p = subparsers.add_parser(
        "calibrate",
        help="calibrate load multipliers against observations; write a calibrated sources file",
        epilog=f"example:\n  {CALIBRATE_EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd_calibrate)
    _common(p)
    p.add_argument(
        "--groups",
        default="river",
        choices=GROUPINGS,
        help="one multiplier per river/outfall, or per province and kind (default river)",
    )
    p.add_argument(
        "-o",
        "--output",
        default="calibrated_sources.toml",
        metavar="FILE",
        help="calibrated sources TOML (default calibrated_sources.toml)",
    )
    p.add_argument(
        "--rates",
        action="store_true",
        help="also estimate each tracer's decay rate (outer loop; about 10 solves per tracer)",
    )


# ---------------------------------------------------------------------- validate
def _row_lines(comparisons, kind: str) -> list[str]:
    rows = [c for c in comparisons if c.observation.kind == kind and c.compared]
    if not rows:
        return []
    phase = kind == "tide_phase"
    third = "model-obs" if phase else "model/obs"
    header = ["id", "variable", "region", "observed", "model", third, "dist km", "basis"]
    body = [
        [
            c.observation.id,
            c.observation.variable,
            c.region or "-",
            _num(c.observed),
            _num(c.model),
            _num(c.difference, 3) if phase else _num(c.ratio, 3),
            _num(c.distance_km, 2),
            c.basis,
        ]
        for c in rows
    ]
    return _table(header, body)


def validation_report(comparisons, basis, *, source: str, max_distance_km: float) -> list[str]:
    """The lines ``bbw-bay validate`` prints."""
    from bbw_bay.quality.skill import not_compared, summarise

    done = sum(c.compared for c in comparisons)
    lines = [
        f"basis: {basis.describe()}",
        f"observations: {source} ({len(comparisons)} rows: {done} compared, "
        f"{len(comparisons) - done} not compared); each point matched to the wet cell that "
        f"contains it or the nearest within {max_distance_km:g} km (dist km)",
    ]
    for kind, title in KIND_TITLES:
        table = _row_lines(comparisons, kind)
        if table:
            lines.extend(["", f"{title}:", *table])
    summary = summarise(comparisons)
    if summary:
        lines.extend(
            [
                "",
                "skill per variable and region (bias = mean(M - O); mlr = mean ln(M/O); r "
                "Pearson; d Willmott; cost = mean |M - O| / sigma, OSPAR):",
            ]
        )
        header = ["variable", "region", "unit", "n", "bias", "RMSE", "mlr", "r", "d", "cost", ""]
        body = [
            [
                s["variable"],
                s["region"],
                s["unit"],
                str(s["n"]),
                _num(s["bias"], 3),
                _num(s["rmse"], 3),
                _num(s["mean_log_ratio"], 3),
                _num(s["correlation"], 3),
                _num(s["willmott"], 3),
                _num(s["cost"], 3),
                str(s["cost_class"]),
            ]
            for s in summary
        ]
        lines.extend(_table(header, body))
    missing = not_compared(comparisons)
    if missing:
        lines.extend(["", "not compared:"])
        for reason, ids in missing.items():
            lines.append(f"  {reason}: {len(ids)} row(s): {', '.join(ids)}")
    return lines


def cmd_validate(args) -> int:
    """Compare the observations with the model; print, and write the CSV and figure if asked."""
    from bbw_bay.core.config import load_config
    from bbw_bay.core.output import read_netcdf
    from bbw_bay.quality.observations import read_observations
    from bbw_bay.quality.skill import write_csv
    from bbw_bay.quality.validation import ModelBasis, validate

    config = load_config(args.config, args.set)
    for path in (args.csv, args.output):
        if path:
            check_writable(Path(path), args.overwrite)
    observations = read_observations(args.observations)
    run = read_netcdf(args.run) if args.run else None
    basis = ModelBasis(config, run=run, label=str(args.run or ""))
    comparisons = validate(observations, basis, max_distance_km=args.max_distance_km)
    source = args.observations or "the shipped forcing/observations.csv"
    if not args.quiet:
        _print(
            validation_report(
                comparisons, basis, source=source, max_distance_km=args.max_distance_km
            )
        )
    if args.csv:
        write_table_csv(Path(args.csv), lambda tmp: write_csv(comparisons, tmp))
        if not args.quiet:
            print(f"wrote {args.csv}")
    if args.output:
        from bbw_bay.plots.common import save_figure
        from bbw_bay.plots.validation import validation_figure

        save_figure(validation_figure(comparisons, basis.dataset), args.output)
        if not args.quiet:
            print(f"wrote {args.output}")
    return 0


# ---------------------------------------------------------------------- calibrate
def calibration_report(cal) -> list[str]:
    """The lines ``bbw-bay calibrate`` prints."""
    import numpy as np

    from bbw_bay.control.calibration import INFORMED_FRACTION

    d = cal.design
    lines = [
        f"calibration rows: {len(d.rows)} ({', '.join(sorted({o.variable for o in d.rows}))}) "
        f"from {len({o.source for o in d.rows})} publication(s)",
    ]
    for ident, why in d.skipped.items():
        lines.append(f"  not used: {ident}: {why}")
    lines.extend(["", f"posterior load multipliers per {cal.grouping} group (informed groups):"])
    body = []
    for k, (tracer, group) in enumerate(d.parameters):
        if not d.informed[k]:
            continue
        body.append(
            [
                f"{tracer} {group}",
                _num(d.prior_sd[k], 2),
                _num(cal.posterior.mean[k], 3),
                _num(cal.posterior.sd[k], 2),
                "at bound 0" if cal.posterior.at_bound[k] else "",
            ]
        )
    lines.extend(_table(["tracer group", "prior sd", "mean", "sd", ""], body))
    n_other = int(np.count_nonzero(~d.informed))
    lines.append(
        f"  ({n_other} other groups: no row moves by {INFORMED_FRACTION:g} sigma when their load "
        "doubles; they keep their prior and their inventory loads)"
    )
    lines.extend(["", "skill (cost = mean |M - O| / sigma; ln ratios of model to observed):"])
    body = [
        [
            name,
            str(s["n"]),
            _num(s["cost"]),
            _num(s["mean_log_ratio"], 3),
            _num(s["rms_log_ratio"], 3),
        ]
        for name, s in (
            ("inventory (before)", cal.before),
            ("calibrated, in-sample", cal.after),
            ("calibrated, leave-one-publication-out", cal.cross_validated),
        )
    ]
    lines.extend(_table(["", "n", "cost", "mean ln", "rms ln"], body))
    verdict = "FLAGGED, not adopted: " if cal.flagged else "verdict: "
    lines.append(f"  {verdict}{cal.reason}")
    if d.decay_per_day != cal.prior_decay_per_day:
        lines.extend(["", "decay rates [1/day] (config -> estimated):"])
        for t, k in d.decay_per_day.items():
            lines.append(f"  {t:<6} {cal.prior_decay_per_day[t]:.4g} -> {k:.4g}")
    for tracer in sorted({o.variable for o in d.rows}):
        rows = [
            r
            for r in cal.loads(tracer)
            if d.informed[d.parameters.index((tracer, cal.group_of(r["source"])))]
        ]
        if rows:
            lines.extend(["", f"{tracer} loads of the informed sources [t/yr]:"])
            body = [
                [r["source"], _num(r["inventory"]), _num(r["mean"]), _num(r["sd"], 3)] for r in rows
            ]
            lines.extend(_table(["source", "inventory", "calibrated", "sd"], body))
    return lines


def cmd_calibrate(args) -> int:
    """Calibrate, print the posterior and the skill, and write the calibrated sources file."""
    from bbw_bay.control.calibration import calibrate
    from bbw_bay.control.calibration_output import check_output, write_calibrated_sources
    from bbw_bay.core.config import load_config
    from bbw_bay.quality.observations import file_digest, read_observations
    from bbw_bay.quality.validation import ModelBasis

    config = load_config(args.config, args.set)
    out = Path(args.output)
    check_output(out, config=config, overwrite=args.overwrite)  # before the solves
    observations = read_observations(args.observations)
    cal = calibrate(
        ModelBasis(config),
        observations,
        grouping=args.groups,
        max_distance_km=args.max_distance_km,
        fit_rates=args.rates,
    )
    source = args.observations or "forcing/observations.csv"
    write_calibrated_sources(
        cal,
        out,
        config=config,
        observations=source,
        digest=file_digest(args.observations),
        overwrite=args.overwrite,
    )
    if not args.quiet:
        _print(calibration_report(cal))
        label = "flagged: not adopted" if cal.flagged else "adopted"
        print(f"\nwrote {out} (label calibrated, {label}; the inventory is unchanged)")
    return 0
