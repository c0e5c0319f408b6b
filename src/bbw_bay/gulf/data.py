"""Locating and checking the shipped forcing files (the repository's ``forcing/`` folder, installed
as the package data ``bbw_bay.forcing`` and read through `importlib.resources`)."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from pathlib import Path

from bbw_bay.core.inputs import parse_toml
from bbw_bay.errors import BadInputError

#: Environment variable that overrides where the shipped forcing files are looked for.
FORCING_ENV = "BBW_BAY_FORCING"


class ForcingError(BadInputError, FileNotFoundError):
    """A forcing file is missing, unreadable or corrupt."""


def forcing_dir() -> Path:
    """Folder of the shipped forcing files: ``$BBW_BAY_FORCING`` or the installed package data
    ``bbw_bay.forcing`` (the repository's ``forcing/`` in an editable install)."""
    override = os.environ.get(FORCING_ENV)
    if override:
        return Path(override)
    # a wheel installs the files as a plain folder, so the traversable is a real path
    return Path(str(importlib.resources.files("bbw_bay.forcing")))


def forcing_path(name: str) -> Path:
    """Path of a shipped forcing file; a clear ForcingError if it is missing."""
    path = forcing_dir() / name
    if not path.is_file():
        raise ForcingError(
            f"forcing file {name!r} not found in {path.parent} (set ${FORCING_ENV} to the folder "
            "holding bbw_bay's forcing files, or reinstall bbw_bay: its wheel carries them)"
        )
    return path


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | os.PathLike | None = None) -> dict[str, str]:
    """The checksum manifest ``forcing/CHECKSUMS.sha256`` as {file name: sha256}."""
    manifest = Path(path) if path else forcing_dir() / "CHECKSUMS.sha256"
    entries = {}
    for line in manifest.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            entries[name.strip().lstrip("*")] = digest
    return entries


def verify(name: str) -> Path:
    """Path of a shipped file after checking it against the manifest; ForcingError on mismatch."""
    path = forcing_path(name)
    expected = read_manifest().get(name)
    if expected is not None and sha256(path) != expected:
        raise ForcingError(f"forcing file {path} does not match its checksum in CHECKSUMS.sha256")
    return path


def read_toml(
    path: str | os.PathLike,
    *,
    error: type[BadInputError],
    missing: str = "file not found",
    invalid: str = "not valid TOML",
) -> tuple[dict, str]:
    """(parsed mapping, text) of a TOML file; a missing, unreadable, undecodable or malformed file
    raises ``error`` with the path and ``missing`` or ``invalid`` plus the parser's reason, and
    so do values no bbw_bay file can use (NaN, infinities, integers beyond 64 bits, deep
    nesting: `bbw_bay.core.inputs.parse_toml`)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {missing}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: {invalid}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise error(f"{path}: cannot read the file ({err.strerror})") from None
    return parse_toml(text, where=str(path), error=error, invalid=invalid), text


def read_tables(
    path: str | os.PathLike, table: str, *, what: str, error: type[BadInputError]
) -> list:
    """The ``[[table]]`` entries of a TOML file (zones, control points); a missing file, or one
    with no such table, raises ``error`` naming the path (``what``: the file's kind) and the
    table expected."""
    data, _ = read_toml(
        path,
        error=error,
        missing=f"{what} file not found (expected a TOML file of [[{table}]] tables)",
    )
    entries = data.get(table)
    if not isinstance(entries, list) or not entries:
        raise error(f"{path}: expected one or more [[{table}]] tables")
    return entries
