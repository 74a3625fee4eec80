"""Writes keep the old file whatever happens (a full disk, kill -9), their leftovers are removed by
the next write, a symbolic link writes its target (tests/test_mnist_hostile.py: a training never
deletes or overwrites another run's files). Each test builds its own hostile situation."""

from __future__ import annotations

import fcntl
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from safeio.atomic import OutputError, leftovers, write_atomic, write_text_atomic

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parent.parent


def derive(*args: str, file_limit: int | None = None) -> subprocess.CompletedProcess:
    """`python -m derive ARGS`; with `file_limit`, no file it writes may grow past that many bytes
    (as a full disk stops it: the write fails, EFBIG, instead of killing the process)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "derive", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit if file_limit is not None else None,
    )


@pytest.mark.parametrize(
    ("args", "suffix"),
    [
        (["plot", "--out"], ".png"),
        (["table", "--format", "xlsx", "--out"], ".xlsx"),
        (["table", "--out"], ".csv"),
    ],
    ids=["png", "xlsx", "csv"],
)
def test_a_full_disk_keeps_the_old_file(args, suffix, tmp_path):
    old = tmp_path / f"old{suffix}"
    old.write_bytes(b"the old file")
    done = derive(*args, str(old), file_limit=2_000)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
    assert old.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [old.name]


def test_a_symbolic_link_writes_its_target(tmp_path):
    target = tmp_path / "real" / "table.csv"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    done = derive("table", "--steps", "1", "--out", str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and target.read_text().startswith("lr,")


def test_a_link_to_nothing_is_refused(tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere" / "table.csv")
    done = derive("table", "--steps", "1", "--out", str(link))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "which does not exist" in done.stderr
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


KILLED_WRITE = """
import sys, time
from safeio.atomic import write_atomic
def write(temp):
    temp.write_text("half")
    print("writing", flush=True)
    time.sleep(600)
write_atomic(sys.argv[1], write)
"""


def test_a_write_killed_outright_leaves_a_temp_file_the_next_write_removes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("old\n")
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITE, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline() == "writing\n"
    child.kill()
    child.wait()
    (left,) = leftovers(path)
    assert path.read_text() == "old\n" and left.read_text() == "half"
    live = path.parent / f".{path.name}.abcd1234{path.suffix}"  # another write, still running
    live.write_text("in progress")
    with live.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert leftovers(path) == [live]  # the killed write's removed, the live one's kept


def test_a_leftover_that_is_a_link_is_never_followed(tmp_path):
    path = tmp_path / "out.txt"
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    (tmp_path / f".{path.name}.zzzz9999{path.suffix}").symlink_to(precious)
    write_text_atomic(path, "new")
    assert precious.read_text() == "keep"


def test_a_write_error_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def fail(temp: Path) -> None:
        temp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device"):
        write_atomic(path, fail)
    assert path.read_bytes() == b"old" and leftovers(path) == []
