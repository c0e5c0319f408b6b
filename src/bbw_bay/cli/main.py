"""The ``bbw-bay`` command line: the parser, the dispatch and the exit codes.

Exit codes: 0 success; 2 bad input (a `bbw_bay.errors.BadInputError`: config, data, arguments);
1 a run that failed (a `bbw_bay.errors.RuntimeFailure`, e.g. an instability, or an operating
system error such as a full disk) or a bug (any other exception: a line saying so and how to
report it; ``-v`` shows the traceback). Output piped
into a reader that stops early (``| head``) ends quietly with 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bbw_bay.cli.common import check_season
from bbw_bay.cli.control_commands import add_control_commands
from bbw_bay.cli.observation_commands import add_parsers as add_observation_commands
from bbw_bay.cli.run_commands import add_run_commands
from bbw_bay.cli.scenario_commands import add_scenario_commands
from bbw_bay.errors import BadInputError, RuntimeFailure
from bbw_bay.version import __version__

EXAMPLES = """examples:
  bbw-bay run configs/beibu_gulf.toml -o baseline.nc
  bbw-bay steady configs/beibu_gulf.toml --season winter -o winter.nc
  bbw-bay check configs/channel.toml
  bbw-bay run configs/channel.toml --set run.duration_days=2 -o quick.nc --overwrite
"""

#: What a user does with an unexpected failure.
REPORT_A_BUG = (
    "this is a bug in bbw_bay {version}, not a problem with your input; please report it to the "
    "bbw_bay maintainers with the command line and the traceback that the same command with -v "
    "prints"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``bbw-bay`` argument parser with every subcommand."""
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

    add_run_commands(command, common)
    add_control_commands(command, common)
    add_scenario_commands(command)
    add_observation_commands(sub)
    return parser


def _message(err: BaseException) -> str:
    """One line for a bad-input error; a bare OSError gets its file name and reason."""
    if isinstance(err, OSError) and err.filename and str(err).startswith("[Errno"):
        return f"{err.filename}: {err.strerror or 'cannot be read'}"
    return str(err)


def _quiet_broken_pipe() -> int:
    """The reader of standard output went away (``| head``): stop without a message.

    Standard output is pointed at /dev/null so that the interpreter's final flush does not
    raise again (the recipe of the Python documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. captured output)
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bbw-bay``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed usage and the error (2), or --help (0)
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    verbose = getattr(args, "verbose", False)
    level = (
        logging.DEBUG
        if verbose
        else (logging.ERROR if getattr(args, "quiet", False) else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    try:
        check_season(getattr(args, "season", None))
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except BadInputError as err:
        print(f"bbw-bay: error: {_message(err)}", file=sys.stderr)
        return 2
    except RuntimeFailure as err:
        print(f"bbw-bay: failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the machine, not the input or the code: a full disk, a lost mount
        print(f"bbw-bay: failed: {_message(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bbw-bay: interrupted", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - a bug: one line and how to report it
        if verbose:
            raise
        print(
            f"bbw-bay: internal error: {err}\n  {REPORT_A_BUG.format(version=__version__)}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
