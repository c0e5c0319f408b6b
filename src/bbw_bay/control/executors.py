"""Independent tasks (scenarios, ensemble members) run serially or on an executor, with retries.

An *executor* is anything with ``submit(func, arg) -> future`` whose futures have ``result()``:
a ``concurrent.futures`` executor, or a ``dask.distributed.Client``. ``None`` runs the tasks one
after the other in this process. `open_executor` makes one from the command-line options
(``--workers N``: a local dask cluster of N single-threaded worker processes, or a process pool
when dask is not installed; ``--scheduler ADDRESS``: an existing dask cluster).

A failed task is logged with its description (e.g. a member's drawn parameters) and submitted
again, up to ``retries`` more times; a task that still fails makes `run_tasks` raise
`TaskFailure` naming every such task. Results come back in the order of the inputs, whatever
order the tasks finished in.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bbw_bay.errors import BadInputError, RuntimeFailure

log = logging.getLogger(__name__)

#: Environment of dask worker processes: one thread each for Numba and BLAS, so N workers use
#: N cores on a shared machine (dask sets OMP/MKL/OpenBLAS itself; Numba reads its own variable).
WORKER_ENVIRONMENT = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


class ExecutorError(BadInputError):
    """Bad executor options (unknown scheduler, dask missing, workers < 1)."""


class TaskFailure(RuntimeFailure):
    """Some tasks failed for good; ``failures`` holds (index, description, error, attempts)."""

    def __init__(self, failures: list[tuple[int, str, BaseException, int]]) -> None:
        self.failures = failures
        lines = [f"{len(failures)} task(s) failed:"]
        lines += [
            f"  {what} ({n} attempt(s)): {type(err).__name__}: {err}"
            for _, what, err, n in failures
        ]
        super().__init__("\n".join(lines))


def dask_available() -> bool:
    """True when dask.distributed can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def is_dask_client(executor: Any) -> bool:
    """True for a dask.distributed Client."""
    return type(executor).__module__.split(".")[0] == "distributed"


@contextlib.contextmanager
def open_executor(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """The executor for ``--workers``/``--scheduler`` (None: serial), closed on exit.

    Parameters
    ----------
    workers : number of local worker processes (None or 1: run serially in this process)
    scheduler : address of a running dask scheduler, e.g. "tcp://10.0.0.5:8786"
    """
    if workers is not None and workers < 1:
        raise ExecutorError(f"--workers must be >= 1, found {workers}")
    if scheduler:
        if not dask_available():
            raise ExecutorError(
                f"--scheduler {scheduler} needs dask.distributed; install it with "
                "pip install 'bbw_bay[dask]'"
            )
        from distributed import Client

        try:
            client = Client(scheduler, timeout="30s")
        except OSError as err:
            raise ExecutorError(f"cannot reach the dask scheduler at {scheduler}: {err}") from None
        log.info("connected to dask scheduler %s", scheduler)
        with contextlib.closing(client):
            yield client
        return
    if workers is None or workers == 1:
        yield None
        return
    if not dask_available():
        log.warning("dask.distributed is not installed; using a pool of %d processes", workers)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield pool
        return
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.INFO):  # dask logs every start and stop at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=WORKER_ENVIRONMENT,
        silence_logs=logging.WARNING,
    )
    log.info("started a local dask cluster with %d worker processes", workers)
    with contextlib.closing(cluster), contextlib.closing(Client(cluster)) as client:
        yield client


def run_tasks(
    func: Callable[[Any], Any],
    *,
    items: Sequence[Any],
    executor: Any = None,
    retries: int = 2,
    describe: Callable[[int], str] | None = None,
    name: str = "task",
    progress: Callable[[int, int], None] | None = None,
    permanent: tuple[type[BaseException], ...] = (),
) -> list:
    """``[func(item) for item in items]``, serially or on ``executor``, retrying failures.

    Parameters
    ----------
    func : a picklable callable of one argument (module-level function or functools.partial)
    items : the arguments, one task each
    executor : None (serial), a concurrent.futures executor or a dask.distributed Client
    retries : extra attempts for a failed task (0: none)
    describe : task index -> text for log and error messages (default "task k")
    name : prefix of dask task keys
    progress : called as progress(done, total) after each task that succeeded
    permanent : exception types that fail the same way every time (bad input, a steady solve
        that does not converge): reported at once, not retried

    Raises
    ------
    TaskFailure naming every task that failed all its attempts (``retries + 1``, or one for a
    ``permanent`` error).
    """
    if retries < 0:
        raise ExecutorError(f"retries must be >= 0, found {retries}")
    describe = describe or (lambda k: f"{name} {k}")
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    attempts: dict[int, int] = {}
    pending = list(range(len(items)))
    for attempt in range(retries + 1):
        if not pending:
            break
        outcomes = _attempt(func, items, pending, executor, attempt, name)
        pending = []
        for k, ok, value in outcomes:
            if ok:
                results[k] = value
                errors.pop(k, None)
                if progress is not None:
                    progress(len(results), len(items))
                continue
            errors[k] = value
            attempts[k] = attempt + 1
            again = attempt < retries and not isinstance(value, permanent)
            log.warning(
                "%s failed (attempt %d of %d): %s: %s%s",
                describe(k),
                attempt + 1,
                retries + 1,
                type(value).__name__,
                value,
                "; retrying" if again else "",
            )
            if again:
                pending.append(k)
    if errors:
        raise TaskFailure([(k, describe(k), errors[k], attempts[k]) for k in sorted(errors)])
    return [results[k] for k in range(len(items))]


def _attempt(func, items, indices, executor, attempt: int, name: str) -> Iterator[tuple]:
    """(index, True, result) or (index, False, exception) for one round, as tasks finish."""
    if executor is None:
        for k in indices:
            yield (k, *_call(func, items[k]))
        return
    if is_dask_client(executor):
        # pure=False: a retry must run again, not return the failed result cached under its key
        futures = {
            k: executor.submit(func, items[k], pure=False, key=f"{name}-{k}-attempt-{attempt}")
            for k in indices
        }
    else:
        futures = {k: executor.submit(func, items[k]) for k in indices}
    for k, future in futures.items():
        try:
            yield k, True, future.result()
        except Exception as err:  # noqa: BLE001 - a failed task is reported and retried
            yield k, False, err


def _call(func, item) -> tuple:
    try:
        return True, func(item)
    except Exception as err:  # noqa: BLE001 - a failed task is reported and retried
        return False, err
