"""One error hierarchy for bbw_bay.

`BadInputError` is a problem with what the user gave (a config, a data file, an argument): the
CLI exits 2 and prints its one-line message. `RuntimeFailure` is a run that failed although its
inputs were accepted (an instability, a failed verification, a task that died): exit 1. Both
derive from `BbwBayError`. Every module's errors derive from one of them; bad-input errors also
derive from ``ValueError`` (or the builtin they replaced) so callers that caught those still do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BbwBayError(Exception):
    """Base of every error bbw_bay raises on purpose."""


class BadInputError(BbwBayError, ValueError):
    """Bad user input: config, data file, argument (CLI exit code 2)."""


class RuntimeFailure(BbwBayError, RuntimeError):
    """A run that failed although its inputs were accepted (CLI exit code 1)."""


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``valid``, or ``""``; for error messages."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(what: str, name: str, valid: Iterable[str]) -> str:
    """``unknown <what> 'name'; expected one of a, b, c (did you mean 'x'?)``."""
    options = sorted(str(v) for v in valid)
    return f"unknown {what} {name!r}; expected one of {', '.join(options)}" + did_you_mean(
        name, options
    )
