"""A run folder (--out): locked while a training writes it, so that a second training into it is
refused instead of overwriting the first one's results; a fresh training into a folder that holds
any run's files (a finished run, a copy of a reference run, one killed before its first
checkpoint) is refused too, never deleting or overwriting them; its metrics when a run resumes."""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mnist.cli import DataError, UsageError
from mnist.metrics import read_metrics, write_metrics
from mnist.names import CHECKPOINT, METRICS, RUN_FILES  # any of them: the folder holds a run
from safeio.atomic import check_writable


def run_files(run_dir: Path) -> list[str]:
    """The names of RUN_FILES the folder holds (a link or a folder of that name too)."""
    return [name for name in RUN_FILES if os.path.lexists(run_dir / name)]


@contextlib.contextmanager
def run_folder(run_dir: Path, resume: bool, writer: bool) -> Iterator[None]:
    """The run folder, locked while this training writes it (a second training into it is
    refused); a fresh run's is created, and refused if it already holds a run."""
    if not writer:
        yield
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir}: is a file, give a folder")
    if resume and not run_dir.is_dir():
        raise UsageError(f"no {CHECKPOINT} in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:  # released by the kernel when this process ends, however it ends
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{run_dir}: another training is writing this folder now") from None
        if not resume:
            found = run_files(run_dir)
            if found:
                how = "--resume to continue it" if CHECKPOINT in found else "another --out"
                raise UsageError(
                    f"{run_dir} already holds a run ({', '.join(found)}); use {how}, or remove "
                    "those files yourself: a fresh training never deletes or overwrites them"
                )
            check_writable(run_dir / METRICS)  # before training, not after the first epoch
        yield
    finally:
        os.close(fd)


def resumed_history(run_dir: Path, epoch: int, writer: bool) -> list[dict]:
    """The metrics of epochs 1..epoch; lines after the checkpoint's epoch were written by a run
    killed before its checkpoint, and are dropped."""
    history = [m for m in read_metrics(run_dir / METRICS) if m["epoch"] <= epoch]
    if [m["epoch"] for m in history] != list(range(1, epoch + 1)):
        raise DataError(f"{run_dir / METRICS}: does not list epochs 1..{epoch} of the checkpoint")
    if writer:
        write_metrics(run_dir / METRICS, history)
    return history
