"""Checkpoints of a `bbw_bay.core.simulation.Simulation`: the state needed to continue a run.

Layout (``path`` = ``PATH``): ``PATH`` is an ``.npz`` archive written atomically (temporary
file, fsync, rename: a kill at any moment leaves the previous checkpoint or the new one) with
the state the next step reads: concentrations, model time, the running time integral of the
current output interval, the mass-budget sums, the step counts, the open-boundary memory, and
the checksums of every input the run depends on. Finished output records are appended once each
to ``PATH.records`` (raw little-endian float64, one fixed-size record after another) instead of
being copied into every checkpoint: a checkpoint stays the size of one state however many
records precede it, and each record is written once (keeping them in the checkpoint would
rewrite every earlier record at each checkpoint, quadratic in the run length). The checkpoint
stores how many records are complete and their SHA-256; the records file is fsynced before a
checkpoint names it, and a resume truncates whatever a killed process appended after its last
checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bbw_bay.core.output import atomic_write, remove_stale_temporaries
from bbw_bay.core.solver import MassBudget
from bbw_bay.errors import BadInputError

#: Version of the checkpoint layout; a checkpoint of another layout is refused.
CHECKPOINT_FORMAT = "bbw_bay.simulation/1"
#: One output record: (interval start [s], interval end [s], (ntr,) mean background [mg/L],
#: (ntr, ny, nx) model state: the interval's time mean, or a snapshot when start = end).
Record = tuple[float, float, np.ndarray, np.ndarray]
#: Budget sums a checkpoint carries (attributes of `MassBudget`).
BUDGET_TERMS = (
    "initial",
    "loads_in",
    "boundary_in",
    "decayed",
    "region_initial",
    "region_loads_in",
    "region_decayed",
    "section_in",
)
_SCALARS = (
    "time",
    "event",
    "pending",
    "interval_start",
    "steps",
    "dt_max",
    "dt_min",
    "spinup_steps",
    "n_records",
    "last_checkpoint",
)
AFRESH = "delete it and start afresh (without --resume / resume=False)"


class CheckpointError(BadInputError):
    """A checkpoint that cannot be resumed: missing, unreadable, of another run or other inputs."""


@dataclass
class RunState:
    """Everything the next step of a run reads; a checkpoint holds exactly this."""

    c: np.ndarray  # (ntr, ny, nx) model state
    time: float  # [s]
    event: int  # index of the next event (end of spin-up, or an output time) to reach
    budget: MassBudget  # of the current phase (spin-up or evaluated period)
    acc: np.ndarray  # (ntr, ny, nx) ∫ c dt over the current output interval so far [mg/L·s]
    pending: float  # trapezoid weight [s] the last step owes to the current c
    interval_start: float  # [s]
    steps: int = 0
    dt_max: float = 0.0
    dt_min: float = np.inf
    spinup_steps: int = 0
    spinup_budget: dict = field(default_factory=dict)
    spinup_region_budget: dict = field(default_factory=dict)
    n_records: int = 0
    last_checkpoint: float = 0.0


class Checkpointer:
    """Writes and reads the checkpoints of one run.

    Parameters
    ----------
    path : the checkpoint file (``.npz``); records go to ``path + ".records"``
    interval : model time between checkpoints [s]; 0 writes none
    """

    def __init__(self, path: str | os.PathLike, *, interval: float = 0.0) -> None:
        self.path = Path(path)
        self.interval = float(interval)
        self.records_file = self.path.with_name(self.path.name + ".records")

    def due(self, state: RunState) -> bool:
        """True when ``interval`` of model time has passed since the last checkpoint."""
        return self.interval > 0 and state.time - state.last_checkpoint >= self.interval - 1e-9

    def start(self) -> None:
        """A fresh run: drop an older checkpoint and begin an empty records file."""
        self.remove()
        self.records_file.write_bytes(b"")

    def append(self, record: Record) -> None:
        """Append one finished record to the records file."""
        with open(self.records_file, "ab") as fh:
            fh.write(record_bytes(record))

    def remove(self) -> None:
        """Delete the checkpoint, its records file and any temporaries a killed run left."""
        for path in (self.path, self.records_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            remove_stale_temporaries(path)

    def save(
        self,
        state: RunState,
        records: list[Record],
        *,
        inputs: Mapping[str, str],
        boundary: Mapping[str, np.ndarray],
    ) -> None:
        """Write ``state`` (with the run's input checksums and open-boundary memory)."""
        with open(self.records_file, "ab") as fh:  # the records it names reach the disk first
            fh.flush()
            os.fsync(fh.fileno())
        arrays = {
            "format": np.array(CHECKPOINT_FORMAT),
            "inputs": np.array(json.dumps(dict(inputs))),
            "records_sha256": np.array(records_digest(records)),
            "c": state.c,
            "acc": state.acc,
            "scalars": np.array([float(getattr(state, k)) for k in _SCALARS]),
            "spinup_budget": np.array(
                json.dumps([state.spinup_budget, state.spinup_region_budget])
            ),
            **{f"budget_{k}": getattr(state.budget, k) for k in BUDGET_TERMS},
            **{f"boundary_{k}": v for k, v in boundary.items()},
        }

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: a bool

        atomic_write(self.path, write)

    def load(
        self,
        *,
        inputs: Mapping[str, str],
        names: tuple[str, ...],
        shape: tuple[int, int],
        sections: tuple[str, ...],
        boundary: Mapping[str, np.ndarray],
    ) -> tuple[RunState, list[Record], dict[str, np.ndarray]]:
        """(state, records, open-boundary memory) of the checkpoint.

        CheckpointError if it is missing or unreadable, of another layout, made with other
        ``inputs`` (the first that differs is named), or holds arrays of other shapes than
        ``names`` × ``shape`` (and ``boundary``'s), so a crafted file gives a clear message.
        """
        saved = self._read()
        check_inputs(self.path, json_or_none(saved.get("inputs")), dict(inputs))
        ntr, full = len(names), (len(names), *shape)
        expected = {
            "c": full,
            "acc": full,
            "scalars": (len(_SCALARS),),
            **{f"budget_{k}": (ntr,) for k in BUDGET_TERMS},
            "budget_section_in": (ntr, len(sections)),
            **{f"boundary_{k}": v.shape for k, v in boundary.items()},
        }
        for name, want in expected.items():
            _check_array(self.path, name, saved.get(name), want)
        budgets = json_or_none(saved.get("spinup_budget"))
        if not (isinstance(budgets, list) and len(budgets) == 2):
            raise CheckpointError(f"checkpoint {self.path}: unreadable spin-up budget; {AFRESH}")
        scalars = dict(zip(_SCALARS, saved["scalars"].tolist(), strict=True))
        budget = MassBudget(
            names,
            saved["budget_initial"].copy(),
            sections=sections,
            region_initial=saved["budget_region_initial"].copy(),
        )
        for key in BUDGET_TERMS[1:]:
            getattr(budget, key)[:] = saved[f"budget_{key}"]
        for key in ("event", "steps", "spinup_steps", "n_records"):
            if scalars[key] != int(scalars[key]) or scalars[key] < 0:
                raise CheckpointError(
                    f"checkpoint {self.path}: {key} = {scalars[key]!r} is not a count; {AFRESH}"
                )
            scalars[key] = int(scalars[key])
        state = RunState(
            c=saved["c"].copy(),
            budget=budget,
            acc=saved["acc"].copy(),
            spinup_budget=budgets[0],
            spinup_region_budget=budgets[1],
            **scalars,
        )
        records = self._records(state.n_records, names, shape, str(saved["records_sha256"]))
        memory = {k[len("boundary_") :]: v for k, v in saved.items() if k.startswith("boundary_")}
        return state, records, memory

    def _read(self) -> dict[str, np.ndarray]:
        if not self.path.is_file():
            raise CheckpointError(
                f"no checkpoint {self.path} to resume from (run first with a checkpoint interval "
                "> 0)"
            )
        try:
            with np.load(self.path) as data:  # reading every member checks its CRC-32
                saved = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise CheckpointError(
                f"checkpoint {self.path} is unreadable ({err}); {AFRESH}"
            ) from None
        if "format" not in saved or str(saved["format"]) != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{self.path} is not a checkpoint of this bbw_bay ({CHECKPOINT_FORMAT}); {AFRESH}"
            )
        return saved

    def _records(self, n: int, names, shape, digest: str) -> list[Record]:
        """The first ``n`` records of the records file (a tail after them is discarded)."""
        size = 8 * (2 + len(names) * (1 + shape[0] * shape[1]))
        have = self.records_file.stat().st_size if self.records_file.is_file() else -1
        if have < n * size:
            found = "is missing" if have < 0 else f"holds {have // size}"
            raise CheckpointError(
                f"checkpoint {self.path} needs {n} output records in {self.records_file}, which "
                f"{found}; {AFRESH}"
            )
        with open(self.records_file, "r+b") as fh:
            data = fh.read(n * size)
            fh.truncate(n * size)  # drop what a killed run appended after its checkpoint
        records = [
            record_from_bytes(data[k * size : (k + 1) * size], len(names), shape) for k in range(n)
        ]
        if records_digest(records) != digest:
            raise CheckpointError(
                f"{self.records_file} does not hold the records checkpoint {self.path} was saved "
                f"with; {AFRESH}"
            )
        return records


# ---------------------------------------------------------------------- input checksums
def input_digests(inputs: Mapping[str, Any]) -> dict[str, str]:
    """{name: checksum}: a `os.PathLike` by its file's SHA-256, any other value by its JSON."""
    out = {}
    for name, value in inputs.items():
        if isinstance(value, os.PathLike):
            path = Path(value)
            if not path.is_file():
                raise BadInputError(f"input {name!r}: {path} is not a file")
            out[str(name)] = file_digest(path)
        else:
            out[str(name)] = json.dumps(value, sort_keys=True, default=str)
    return out


def file_digest(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """Hex SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def arrays_digest(arrays: Mapping[str, Any] | None) -> str | None:
    """Hex SHA-256 of named arrays (by their float64 bytes); None for None."""
    if arrays is None:
        return None
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(str(name).encode())
        digest.update(np.ascontiguousarray(arrays[name], dtype=float).tobytes())
    return digest.hexdigest()


def model_digest(model: Any) -> str:
    """Hex SHA-256 of what a model computes with: settings, sources, tracers, grid, flow,
    diffusive conductances and area loads."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.settings(), sort_keys=True, default=str).encode())
    digest.update(repr(model.sources).encode())
    digest.update(repr(model.tracers).encode())
    solver = model.solver
    for array in (
        model.grid.depth,
        model.grid.wet,
        model.flow.times,
        model.flow.transport_u,
        model.flow.transport_v,
        solver.conductance_u,
        solver.conductance_v,
        solver.area_loads,
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def check_inputs(path: Path, then: Any, now: dict[str, str]) -> None:
    """CheckpointError naming the first input whose checksum differs between ``then`` (the
    checkpoint's) and ``now``."""
    if not isinstance(then, dict):
        raise CheckpointError(f"checkpoint {path} has no readable input checksums; {AFRESH}")
    for name in [*now, *(k for k in then if k not in now)]:
        if then.get(name) != now.get(name):
            raise CheckpointError(
                f"checkpoint {path} was made with a different {name} (checkpoint: "
                f"{_shown(then.get(name))}, now: {_shown(now.get(name))}); resume with the same "
                "inputs, or start afresh (without --resume / resume=False)"
            )


def json_or_none(value: np.ndarray | None) -> Any:
    """The JSON a 0-d string array holds, or None."""
    try:
        return None if value is None else json.loads(str(value))
    except ValueError:
        return None


def _shown(value: str | None) -> str:
    if value is None:
        return "absent"
    if len(value) == 64 and all(ch in "0123456789abcdef" for ch in value):
        return f"sha256 {value[:12]}…"
    return value


def _check_array(path: Path, name: str, got: np.ndarray | None, want: tuple[int, ...]) -> None:
    ok = got is not None and got.shape == want and got.dtype == np.float64
    if got is not None and ok:  # +inf: time since outflow on faces without any; dt_min at 0
        infinite_ok = "since" in name or name == "scalars"
        allowed = np.isfinite(got) | (np.isposinf(got) if infinite_ok else False)
        ok = bool(np.all(allowed))
    if not ok:
        found = "missing" if got is None else f"{got.dtype} of shape {got.shape}"
        raise CheckpointError(
            f"checkpoint {path}: {name} must be finite float64 of shape {want} for this model, "
            f"found {found}; {AFRESH}"
        )


# ---------------------------------------------------------------------- records
def record_bytes(record: Record) -> bytes:
    """A record as little-endian float64 bytes: t0, t1, background, state."""
    t0, t1, background, state = record
    return np.concatenate([[t0, t1], background, state.ravel()]).astype("<f8").tobytes()


def record_from_bytes(data: bytes, ntr: int, shape: tuple[int, int]) -> Record:
    """Inverse of `record_bytes`."""
    values = np.frombuffer(data, dtype="<f8")
    state = values[2 + ntr :].reshape(ntr, *shape).copy()
    return float(values[0]), float(values[1]), values[2 : 2 + ntr].copy(), state


def records_digest(records: list[Record]) -> str:
    """Hex SHA-256 of records' bytes."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record_bytes(record))
    return digest.hexdigest()


__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "Checkpointer",
    "Record",
    "RunState",
    "arrays_digest",
    "file_digest",
    "input_digests",
    "json_digest",
    "model_digest",
]
