"""What every ``bbw-bay`` command shares: argument errors, seasons, outputs, input checksums."""

from __future__ import annotations

import difflib
from pathlib import Path

from bbw_bay.errors import BadInputError
from bbw_bay.units import SEASONS as CIRCULATION_SEASONS


class UsageError(BadInputError):
    """A bad command-line argument."""


#: Seasons that --season accepts: the circulation's four seasons and their annual mean.
SEASONS = ("annual", *CIRCULATION_SEASONS)


def check_season(season: str | None) -> None:
    """UsageError unless ``season`` is None or one of `SEASONS`."""
    if season is not None and season not in SEASONS:
        close = difflib.get_close_matches(season, SEASONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"--season {season!r} is not one of {', '.join(SEASONS)}{hint}")


def output_path(args, default_suffix: str) -> Path:
    """``-o`` if given, else the config's name with ``default_suffix`` in this folder."""
    if args.output:
        return Path(args.output)
    return Path(Path(args.config).stem + default_suffix)


def check_writable(path: Path, overwrite: bool) -> None:
    """OutputError unless ``path`` can be written (see `bbw_bay.core.output.check_writable`)."""
    from bbw_bay.core.output import check_writable as check

    check(path, overwrite=overwrite)


def file_inputs(config) -> dict[str, Path]:
    """{name: file} of what a run of ``config`` reads: the config, the files it names and the
    shipped forcing data."""
    from bbw_bay.gulf.data import forcing_dir

    files = {}
    if config.path:
        files["config file"] = Path(config.path)
    for key, name in named_files(config).items():
        files[key] = config.folder / name
    folder = forcing_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*")):
            if path.suffix in (".nc", ".toml", ".csv"):
                files[f"forcing/{path.name}"] = path
    return files


def run_inputs(config, args) -> dict:
    """Every input a run depends on: the files of `file_inputs` and the command-line choices
    (--set, --season), for provenance and for refusing a resume after one changed."""
    return {**file_inputs(config), "--set": list(args.set), "--season": args.season}


def checksums(config) -> dict[str, str]:
    """{name: sha256} of the files of `file_inputs`."""
    from bbw_bay.core.checkpoint import file_digest

    return {name: file_digest(path) for name, path in file_inputs(config).items()}


def named_files(config) -> dict[str, str]:
    """{config key: file name} of the files a config names (relative to its folder)."""
    named = {}
    if config["sources"]["file"] not in ("", "default"):
        named["sources.file"] = config["sources"]["file"]
    if config["flow"]["kind"] == "dataset":
        named["flow.path"] = config["flow"]["path"]
    return named


def tracer_list(text: str | None) -> list[str] | None:
    """Tracer names from "DIN" or "DIN,PO4" (None: all)."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def write_table_csv(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file renamed onto ``path`` (atomic)."""
    from bbw_bay.core.output import atomic_write

    atomic_write(path, write)
