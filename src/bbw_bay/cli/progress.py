"""Progress reports on standard error: a bar on a terminal, a line per 10 % otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bbw_bay.units import DAY


def progress_bar(quiet: bool) -> tuple[Callable[[float, float], None] | None, Callable[[], None]]:
    """(progress(done, total) [s of model time], close()): tqdm on a terminal, log lines
    otherwise; (None, no-op) when quiet."""
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
            print(f"  {percent:5.1f}% of {total / DAY:.4g} days simulated", file=sys.stderr)

    return log_line, lambda: None


def task_progress(quiet: bool, what: str) -> Callable[[int, int], None] | None:
    """progress(done, total) printing one line per finished task to stderr (None when quiet)."""
    if quiet:
        return None
    t0 = time.perf_counter()

    def report(done: int, total: int) -> None:
        print(f"  {what} {done}/{total} done ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    return report
