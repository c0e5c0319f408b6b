"""Nothing lost: a run killed with SIGKILL resumes from its checkpoint to the uninterrupted result.

The kills are real: ``bbw-bay run`` runs in a subprocess and receives SIGKILL (a) the moment a
checkpoint's temporary file appears, i.e. while the checkpoint is being written, and (b) at
seeded random moments while it computes. After every kill the checkpoint must be a complete
archive (the previous one or the new one, never a torn one), and ``--resume`` must finish the
run with the same numbers as a run that was never interrupted.

Why the same numbers: the checkpoint holds every quantity the next step reads — concentrations,
model time, the running time integral of the current output interval, the mass-budget sums, the
step count and the open-boundary memory (exit concentration and time since outflow per face) — as
exact float64 copies, and the finished output records are read back from the records file beside
it (bbw_bay.core.checkpoint). The time
step is recomputed from the same config, and the kernels compute every row with the same
operations in the same order (the row-block split depends only on NUMBA_NUM_THREADS, pinned for
every process here). A resumed run thus repeats the uninterrupted run's floating-point
operations exactly and the results agree bit for bit; the 1e-12 relative tolerance only leaves
room for a future change that reorders a sum, and would still catch a lost or repeated step
(which changes the fields at the 1e-3 level).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bbw_bay.cli.main import main
from bbw_bay.core.checkpoint import CHECKPOINT_FORMAT, file_digest
from tests.conftest import REPO

CHANNEL = REPO / "configs" / "channel.toml"
#: 6 days in 2,592 forced 200 s steps (the automatic step would be ~2,400 s), an output and a
#: checkpoint every 0.25 day: ~3 s of computing, so kills land mid-run.
SETTINGS = (
    "transport.dt_s=200",
    "run.duration_days=6",
    "run.output_interval_days=0.25",
    "run.checkpoint_interval_days=0.25",
)
INTERVAL_S = 0.25 * 86400.0
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
TIMEOUT_S = 120.0


def command(out: Path, *extra: str) -> list[str]:
    script = Path(sys.executable).with_name("bbw-bay")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "bbw_bay.cli.main"]
    sets = [arg for setting in SETTINGS for arg in ("--set", setting)]
    return [*head, "run", str(CHANNEL), *sets, "-o", str(out), "-q", *extra]


def start(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        command(out, *extra), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def checkpoint_of(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint.npz")


def temporaries(path: Path) -> set[Path]:
    """atomic_write's temporaries of ``path`` (``.NAME.<random>.tmp``)."""
    return set(path.parent.glob(f".{path.name}.*.tmp"))


def identity(path: Path):
    """(inode, mtime) of a file, or None; a rename onto the path changes it."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def kill_when(proc: subprocess.Popen, condition, *, delay: float = 0.0) -> bool:
    """SIGKILL ``proc`` ``delay`` s after ``condition()`` first holds; False if it ended first."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("the run neither reached the condition nor ended")
        time.sleep(0.0005)
    if delay:
        time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return True


#: Output records of these runs: the default, time means over each output interval (a
#: "snapshot" run would also record its start).
OUTPUT = "mean"
#: Bytes of one record in the records file: t0, t1, 3 background values, 3 channel fields.
RECORD_BYTES = 8 * (2 + 3 * (1 + 40 * 120))


def read_checkpoint(path: Path) -> dict:
    """Every array of the checkpoint (reading each zip member checks its CRC-32) after checking
    that it is one consistent state: its inputs, time and records agree."""
    with np.load(path) as data:
        state = {name: data[name] for name in data.files}
    assert str(state["format"]) == CHECKPOINT_FORMAT
    inputs = json.loads(str(state["inputs"]))
    assert inputs["config file"] == file_digest(CHANNEL)
    assert json.loads(inputs["--set"]) == list(SETTINGS)
    time_s, n_records = float(state["scalars"][0]), int(state["scalars"][8])
    state["time"], state["n_records"] = time_s, n_records
    n_outputs = n_records - (OUTPUT == "snapshot")  # a snapshot run also records its start
    # checkpoints are taken at output times: time = outputs × 0.25 day (to round-off of the sum)
    assert time_s == pytest.approx(n_outputs * INTERVAL_S, rel=1e-12)
    # the records the checkpoint names reached the records file before it
    assert records_of(path).stat().st_size >= n_records * RECORD_BYTES
    assert np.all(np.isfinite(state["c"]))
    return state


def records_of(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".records")


def run_to_end(out: Path, *extra: str) -> None:
    result = subprocess.run(
        command(out, *extra),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """Kill a checkpointed run repeatedly, then resume it to the end; record what was seen."""
    folder = tmp_path_factory.mktemp("restart")
    reference = folder / "reference.nc"
    run_to_end(reference)
    out = folder / "run.nc"
    ckpt = checkpoint_of(out)
    seen = {"states": [], "mid_write_kills": 0, "kills": 0}

    # (a) kill while a checkpoint is being written, with an earlier checkpoint on disk
    for _ in range(4):
        leftovers = temporaries(ckpt)
        proc = start(out, *(("--resume",) if ckpt.exists() else ()))
        killed = kill_when(proc, lambda left=leftovers: ckpt.exists() and temporaries(ckpt) - left)
        assert killed, "the run ended before its second checkpoint"
        seen["kills"] += 1
        seen["states"].append(read_checkpoint(ckpt))
        seen["mid_write_kills"] += bool(temporaries(ckpt) - leftovers)
        if seen["mid_write_kills"] >= 2:
            break
    seen["saved"] = folder / "saved.checkpoint.npz"
    shutil.copyfile(ckpt, seen["saved"])
    shutil.copyfile(records_of(ckpt), records_of(seen["saved"]))

    # (b) kills at seeded random moments after the resumed run writes its first checkpoint
    rng = np.random.default_rng(20261125)
    for delay in rng.uniform(0.0, 1.0, size=2):
        before = identity(ckpt)
        proc = start(out, "--resume")
        if kill_when(proc, lambda before=before: identity(ckpt) != before, delay=float(delay)):
            seen["kills"] += 1
            seen["states"].append(read_checkpoint(ckpt))

    seen["leftovers_before_end"] = len(temporaries(ckpt))
    run_to_end(out, "--resume")
    seen["out"], seen["reference"], seen["checkpoint"] = out, reference, ckpt
    return seen


def test_checkpoint_is_complete_after_every_kill_even_mid_write(interrupted):
    assert interrupted["kills"] >= 4
    # at least one kill landed while a checkpoint was being written (its temporary was left
    # behind), and the checkpoint on disk was still the previous, complete one
    assert interrupted["mid_write_kills"] >= 1
    assert interrupted["leftovers_before_end"] >= 1
    times = [float(s["time"]) for s in interrupted["states"]]
    assert times == sorted(times) and times[0] >= INTERVAL_S


def test_resumed_run_equals_the_uninterrupted_run(interrupted):
    with (
        xr.open_dataset(interrupted["out"]) as got,
        xr.open_dataset(interrupted["reference"]) as want,
    ):
        np.testing.assert_array_equal(got["time"].values, want["time"].values)
        assert got.attrs["steps"] == want.attrs["steps"] == 2592
        for name in ("DIN", "PO4", "COD"):
            a, b = got[name].values, want[name].values
            scale = np.nanmax(np.abs(b))
            # bit-for-bit in practice (see the module docstring); 1e-12 relative at most
            assert np.nanmax(np.abs(a - b)) <= 1e-12 * scale
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        budget_got = json.loads(got.attrs["mass_budget"])
        budget_want = json.loads(want.attrs["mass_budget"])
        for name, terms in budget_want.items():
            for term, value in terms.items():
                # the budget sums are restored exactly, so they agree like the fields
                assert budget_got[name][term] == pytest.approx(value, rel=1e-12, abs=1e-9)


def test_finished_run_removes_its_checkpoint_and_stale_temporaries(interrupted):
    assert not interrupted["checkpoint"].exists()
    assert not records_of(interrupted["checkpoint"]).exists()
    assert temporaries(interrupted["checkpoint"]) == set()
    assert temporaries(interrupted["out"]) == set()


def copy_checkpoint(saved: Path, out: Path) -> None:
    shutil.copyfile(saved, checkpoint_of(out))
    shutil.copyfile(records_of(saved), records_of(checkpoint_of(out)))


def test_resume_refuses_a_checkpoint_from_another_config(interrupted, tmp_path, capsys):
    # a --set option changed: the resume names it, shows both values and leaves everything
    out = tmp_path / "other.nc"
    copy_checkpoint(interrupted["saved"], out)
    before = checkpoint_of(out).read_bytes()
    sets = [arg for setting in SETTINGS for arg in ("--set", setting)]
    code = main(
        [
            "run",
            str(CHANNEL),
            *sets,
            "--set",
            "transport.diffusivity_m2_per_s=20",
            "-o",
            str(out),
            "--resume",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"checkpoint {checkpoint_of(out)} was made with a different --set" in err
    assert "transport.diffusivity_m2_per_s=20" in err
    assert checkpoint_of(out).read_bytes() == before and not out.exists()


def test_resume_refuses_a_changed_config_file_or_season(interrupted, tmp_path, capsys):
    sets = [arg for setting in SETTINGS for arg in ("--set", setting)]
    edited = tmp_path / "channel.toml"
    edited.write_text(CHANNEL.read_text(encoding="utf-8").replace("15.0", "16.0"), "utf-8")
    for config, extra, changed in (
        (edited, [], "config file"),
        (CHANNEL, ["--season", "winter"], "--season"),
    ):
        out = tmp_path / f"{changed.strip('-').replace(' ', '_')}.nc"
        copy_checkpoint(interrupted["saved"], out)
        code = main(["run", str(config), *sets, *extra, "-o", str(out), "--resume"])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert f"checkpoint {checkpoint_of(out)} was made with a different {changed}" in err
        assert not out.exists()


def test_resume_refuses_a_truncated_checkpoint(interrupted, tmp_path, capsys):
    out = tmp_path / "torn.nc"
    data = interrupted["saved"].read_bytes()
    checkpoint_of(out).write_bytes(data[: len(data) // 2])
    sets = [arg for setting in SETTINGS for arg in ("--set", setting)]
    code = main(["run", str(CHANNEL), *sets, "-o", str(out), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"checkpoint {checkpoint_of(out)} is unreadable" in err and "without --resume" in err


def test_resume_without_a_checkpoint_says_how_to_make_one(tmp_path, capsys):
    out = tmp_path / "fresh.nc"
    code = main(["run", str(CHANNEL), "-o", str(out), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"--resume: no checkpoint {checkpoint_of(out)}" in err
    assert "run.checkpoint_interval_days > 0" in err
