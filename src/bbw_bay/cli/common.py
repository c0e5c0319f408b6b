"""What every ``bbw-bay`` command shares: argument errors, seasons, outputs, input checksums."""

from __future__ import annotations

import difflib
from pathlib import Path

from bbw_bay.errors import BadInputError


class UsageError(BadInputError):
    """A bad command-line argument."""


#: Seasons that --season accepts: the circulation's four seasons and their annual mean.
SEASONS = ("annual", "winter", "spring", "summer", "autumn")


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


def checksums(config) -> dict[str, str]:
    """{file: sha256} of the config and of the shipped forcing data a run reads."""
    from bbw_bay.gulf.data import forcing_dir, sha256

    sums = {}
    if config.path:
        sums[str(config.path)] = sha256(config.path)
    for key, name in named_files(config).items():
        sums[f"{key} = {name}"] = sha256(config.folder / name)
    folder = forcing_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*")):
            if path.suffix in (".nc", ".toml", ".csv"):
                sums[f"forcing/{path.name}"] = sha256(path)
    return sums


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
