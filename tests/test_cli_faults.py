"""A hostile environment for `python -m derive`: each test builds its own fault (a FIFO or
/dev/zero as config, TOML nested 5,000 deep, an unreadable file, a 300-character file name,
standard output full, closed or gone, a signal in the middle of an XLSX write) and expects one
stderr line, the documented exit code, the work bounded in time and memory, and nothing half
written left behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from signal import SIGINT, SIGTERM

import pytest

from derive.__main__ import main
from derive.config import MAX_CONFIG_BYTES, MAX_NESTING

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1 << 30  # bytes of address space for a subprocess: a runaway read dies under it
TIME_LIMIT = 60  # seconds; the normal run takes a few (mostly Python importing SymPy)


@dataclass
class Done:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float  # the child's peak resident memory


def run_derive(*args: str, tmp_path: Path, stdout=None, prepare: str = "none") -> Done:
    """`python -m derive ARGS` under a 1 GiB address-space limit, timed and measured by
    tests/limited_run.py after its `prepare` step; stdout goes to `stdout` (a file or
    descriptor) if given, else to a file."""
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    report = tmp_path / "usage.txt"
    launcher = [sys.executable, str(ROOT / "tests" / "limited_run.py"), str(report)]
    limits = [str(MEMORY_LIMIT), str(TIME_LIMIT), prepare]
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        proc = subprocess.run(
            [*launcher, *limits, sys.executable, "-m", "derive", *args],
            stdin=subprocess.DEVNULL,
            stdout=out_file if stdout is None else stdout,
            stderr=err_file,
            cwd=ROOT,
            timeout=TIME_LIMIT + 30,
        )
    peak_mb, seconds = map(float, report.read_text().split())
    return Done(proc.returncode, out_path.read_text(), err_path.read_text(), seconds, peak_mb)


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err


def assert_bounded(done: Done) -> None:
    assert done.seconds < TIME_LIMIT, done
    assert done.peak_mb < 500, done


# Config files that are not files -----------------------------------------------------------


def test_config_naming_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "net.toml"
    os.mkfifo(fifo)
    done = run_derive("gradients", "--config", str(fifo), tmp_path=tmp_path)
    assert done.code == 2
    assert one_line(done.err) == f"error: {fifo}: is a FIFO (named pipe), not a regular file\n"
    assert_bounded(done)


def test_config_dev_zero_is_refused_before_reading(tmp_path):
    done = run_derive("gradients", "--config", "/dev/zero", tmp_path=tmp_path)
    assert done.code == 2
    assert one_line(done.err) == "error: /dev/zero: is a character device, not a regular file\n"
    assert_bounded(done)


def test_config_folder_is_refused(tmp_path, capsys):
    assert main(["gradients", "--config", str(tmp_path)]) == 2
    assert one_line(capsys.readouterr().err).endswith("is a folder, not a regular file\n")


def test_config_with_a_300_character_name_is_one_line(tmp_path, capsys):
    path = tmp_path / ("c" * 295 + ".toml")
    assert main(["gradients", "--config", str(path)]) == 2
    assert one_line(capsys.readouterr().err) == f"error: {path}: cannot read: File name too long\n"


def test_config_that_is_not_utf8_names_the_byte(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes("# café\n".encode("latin-1"))
    assert main(["gradients", "--config", str(path)]) == 2
    assert one_line(capsys.readouterr().err) == f"error: {path}: not UTF-8 text (byte 5 is 0xe9)\n"


def test_config_over_the_size_limit_is_refused_before_parsing(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    start = time.process_time()
    assert main(["gradients", "--config", str(big)]) == 2
    assert time.process_time() - start < 1
    err = one_line(capsys.readouterr().err)
    assert f"{big}: {big.stat().st_size:,} bytes; at most {MAX_CONFIG_BYTES:,} are read" in err


@pytest.mark.parametrize("opening", ["[", "{x = "])
def test_toml_nested_5000_deep_names_the_file_and_the_limit(tmp_path, capsys, opening):
    closing = {"[": "]", "{x = ": "}"}[opening]
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + opening * 5000 + "1" + closing * 5000 + "\n")
    assert main(["gradients", "--config", str(deep)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"error: {deep}: arrays or tables nested 5000 deep; at most {MAX_NESTING} are read\n"
    )


def test_brackets_inside_strings_and_comments_are_not_nesting(tmp_path, capsys):
    # Valid TOML nesting one level: it is read, and found to lack its [values] table.
    path = tmp_path / "strings.toml"
    path.write_text(
        '[network] # [[[[[[[[[[[[[[[[[[[[\nx = "[[[[[[[[[[[[[[[[[[[["\n'
        'y = \'{{{{{{{{{{{{{{{{{{{{\'\nz = """\n[[[[[[[[[[[[[[[[[[[[\n"""\n'
    )
    assert main(["gradients", "--config", str(path)]) == 2
    assert one_line(capsys.readouterr().err).endswith(f"{path}: missing table [values]\n")


def test_integer_of_5000_digits_is_one_line(tmp_path, capsys):
    path = tmp_path / "digits.toml"
    path.write_text("[network]\nlayers = [2, " + "9" * 5000 + "]\n")
    assert main(["gradients", "--config", str(path)]) == 2
    assert "not valid TOML: Exceeds the limit" in one_line(capsys.readouterr().err)


def test_unreadable_config_is_one_line(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text("[network]\n")
    path.chmod(0)
    prepare = "drop-read-override" if os.geteuid() == 0 else "none"
    done = run_derive("gradients", "--config", str(path), tmp_path=tmp_path, prepare=prepare)
    assert done.code == 2
    assert one_line(done.err) == (
        f"error: {path}: permission denied (the file is not readable by this user)\n"
    )


# Output paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["table", "--out"], ["plot", "--out"]])
def test_300_character_file_name_is_one_line(tmp_path, capsys, command):
    name = "n" * 296 + (".csv" if command[0] == "table" else ".png")
    assert main([*command, str(tmp_path / name)]) == 2
    err = one_line(capsys.readouterr().err)
    assert f"{name}: file name is 300 bytes long; the file system allows 255" in err
    assert list(tmp_path.iterdir()) == []


def test_250_character_file_name_is_written(tmp_path, capsys):
    # The temp file beside it must not be the one whose name is too long.
    path = tmp_path / ("n" * 246 + ".csv")
    assert main(["table", "--steps", "1", "--out", str(path)]) == 0
    assert path.read_text().startswith("lr,step,")
    assert list(tmp_path.iterdir()) == [path]


def test_300_character_folder_name_is_one_line(tmp_path, capsys):
    path = tmp_path / ("d" * 300) / "table.csv"
    assert main(["table", "--out", str(path)]) == 2
    assert "File name too long" in one_line(capsys.readouterr().err)


# Standard output ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["gradients"], ["table", "--steps", "1"], ["--help"]])
def test_full_standard_output_is_one_line_exit_2(tmp_path, command):
    with open("/dev/full", "w") as full:
        done = run_derive(*command, tmp_path=tmp_path, stdout=full)
    assert done.code == 2
    assert one_line(done.err) == (
        "python -m derive: error: cannot write to standard output: No space left on device\n"
    )


def test_closed_standard_output_is_one_line_exit_2(tmp_path):
    done = run_derive(
        "gradients", tmp_path=tmp_path, stdout=subprocess.DEVNULL, prepare="close-stdout"
    )
    assert done.code == 2
    assert one_line(done.err) == (
        "python -m derive: error: cannot write to standard output: standard output is closed\n"
    )


def test_closed_standard_output_is_fine_when_nothing_is_printed(tmp_path):
    out = tmp_path / "table.csv"
    done = run_derive(
        "table", "--steps", "1", "--out", str(out), tmp_path=tmp_path, stdout=subprocess.DEVNULL,
        prepare="close-stdout",
    )  # fmt: skip
    assert (done.code, done.err) == (0, "")
    assert out.read_text().startswith("lr,step,")


def test_reader_gone_ends_quietly(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has read enough
    done = run_derive("table", "--steps", "1", tmp_path=tmp_path, stdout=write_end)
    os.close(write_end)
    assert (done.code, done.err) == (1, "")


# Signals in the middle of an XLSX write ----------------------------------------------------

OLD_WORKBOOK = b"the workbook written before"


def interrupted_xlsx_write(tmp_path: Path, signum: int) -> tuple[subprocess.Popen, str, Path]:
    """Start an XLSX export over an existing file, send `signum` once the writer is busy (its
    scratch files appear in TMPDIR), and return the process, its stderr and the output folder.
    On a loaded machine this process can be descheduled from seeing the scratch files until the
    export has finished (it exits 0 and the signal finds no process): then it tries again."""
    for attempt in range(3):
        out_dir, scratch = tmp_path / f"out{attempt}", tmp_path / f"tmp{attempt}"
        out_dir.mkdir()
        scratch.mkdir()
        target = out_dir / "table.xlsx"
        target.write_bytes(OLD_WORKBOOK)
        proc = subprocess.Popen(
            [sys.executable, "-m", "derive", "table", "--format", "xlsx", "--steps", "400",
             "--out", str(target)],
            cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + TIME_LIMIT
        while not any(scratch.iterdir()):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(
                    f"the export ended or stalled before writing; stderr: {proc.stderr.read()}"
                )
            time.sleep(0.005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=TIME_LIMIT)
        assert list(scratch.iterdir()) == [], "scratch files left in the temp folder"
        if proc.returncode != 0 or attempt == 2:
            return proc, err, out_dir
    raise AssertionError("unreachable")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_during_xlsx_write_leaves_nothing(tmp_path, signum, default_signals):
    proc, err, out_dir = interrupted_xlsx_write(tmp_path, signum)
    assert proc.returncode == 128 + signum
    assert one_line(err) == f"python -m derive: stopped by {signal.Signals(signum).name}\n"
    assert [p.name for p in out_dir.iterdir()] == ["table.xlsx"]
    assert (out_dir / "table.xlsx").read_bytes() == OLD_WORKBOOK


def test_ctrl_c_during_xlsx_write_is_one_line_exit_130(tmp_path, default_signals):
    proc, err, out_dir = interrupted_xlsx_write(tmp_path, signal.SIGINT)
    assert proc.returncode == 130
    assert one_line(err) == "python -m derive: interrupted\n"
    assert [p.name for p in out_dir.iterdir()] == ["table.xlsx"]
    assert (out_dir / "table.xlsx").read_bytes() == OLD_WORKBOOK


# A signal can land inside a constructor that openpyxl's save calls (ZipFile's, say): the object
# is left half-built, and its __del__ fails as the command ends. This writer does that every time.
HALF_BUILT_WRITE = """
import os, signal, sys, time
from safeio.atomic import write_atomic
from safeio.cli import run_guarded

class HalfBuilt:
    def __init__(self, temp):
        temp.write_text("half")
        os.kill(os.getpid(), int(sys.argv[2]))
        time.sleep(5)  # the signal's exception ends this
        self.ready = True

    def __del__(self):
        self.ready  # AttributeError: __init__ never got here

def run():
    write_atomic(sys.argv[1], HalfBuilt)
    return 0

sys.exit(run_guarded("writer", run))
"""


@pytest.mark.parametrize(
    ("signum", "line"), [(SIGTERM, "stopped by SIGTERM"), (SIGINT, "interrupted")]
)
def test_a_signal_that_leaves_an_object_half_built_is_still_one_line(
    tmp_path, signum, line, default_signals
):
    target = tmp_path / "kept.txt"
    target.write_text("old")
    proc = subprocess.run(
        [sys.executable, "-c", HALF_BUILT_WRITE, str(target), str(int(signum))],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert one_line(proc.stderr) == f"writer: {line}\n"
    assert proc.returncode == (130 if signum == SIGINT else 128 + signum)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    from safeio.atomic import OutputError, write_atomic

    target = tmp_path / "kept.txt"
    target.write_text("old")

    def half_then_fail(temp: Path) -> None:
        temp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_inside_a_write_keeps_the_old_file_and_no_temp(tmp_path, signum, default_signals):
    from safeio.atomic import Terminated, write_atomic

    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # else the kill below ends pytest
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
    target = tmp_path / "kept.txt"
    target.write_text("old")

    def half_then_signal(temp: Path) -> None:
        temp.write_text("half")
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the signal's exception ends this

    expected = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    with pytest.raises(expected) as raised:
        write_atomic(target, half_then_signal)
    if expected is Terminated:
        assert raised.value.code == 128 + signum
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the write's handler is gone


def test_a_signal_inside_a_scratch_folder_removes_it_with_its_unrecorded_files(
    tmp_path, monkeypatch, default_signals
):
    """What openpyxl does: a scratch file made by tempfile and not yet recorded for clean-up
    when SIGTERM lands. The scratch folder holding it goes, and tempfile's default comes back."""
    from safeio.atomic import Terminated, scratch_folder, write_atomic

    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    target = tmp_path / "kept.txt"
    target.write_text("old")

    def scratch_then_signal(temp: Path) -> None:
        with scratch_folder(prefix="lib-") as folder:
            assert folder.parent == system_temp and tempfile.gettempdir() == str(folder)
            made = tempfile.NamedTemporaryFile(delete=False)  # noqa: SIM115 (left open on purpose)
            assert Path(made.name).parent == folder
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal's exception ends this

    with pytest.raises(Terminated):
        write_atomic(target, scratch_then_signal)
    assert list(system_temp.iterdir()) == []
    assert tempfile.tempdir == str(system_temp)
    assert target.read_text() == "old"


@pytest.mark.parametrize("taken_by", ["this thread", "another thread"])
def test_a_signal_while_the_scratch_folder_is_made_removes_it(
    tmp_path, monkeypatch, default_signals, taken_by
):
    """SIGTERM while the folder is being made is held until it is made, then lands: the folder
    goes before the exception is out (CI runs found it left when SIGHUP or SIGTERM landed there).
    A signal sent to a process goes to any one of its threads that does not block it: derive has
    a second one (numpy's OpenBLAS), pytest-xdist's workers too."""
    from safeio.atomic import Terminated, scratch_folder, write_atomic

    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    make_folder = tempfile.TemporaryDirectory
    other_ends = threading.Event()
    other = threading.Thread(target=other_ends.wait)  # started here: it does not block signals
    other.start()

    def make_folder_then_signal(**kwargs):
        folder = make_folder(**kwargs)
        if taken_by == "this thread":
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        else:
            signal.pthread_kill(other.ident, signal.SIGTERM)
            busy_until = time.monotonic() + 0.2  # Python runs its handler between two steps
            while time.monotonic() < busy_until:
                pass
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", make_folder_then_signal)

    def scratch(temp: Path) -> None:
        with scratch_folder(prefix="lib-"):
            time.sleep(5)  # the signal's exception ends this

    try:
        write_atomic(tmp_path / "kept.txt", scratch)
    except Terminated:
        # Looked at while the exception and its frames live: removed by the clean-up, not
        # left to the garbage collector (which a program that exits at once may never run).
        left = list(system_temp.iterdir())
    else:
        pytest.fail("SIGTERM did not stop the write")
    finally:
        other_ends.set()
        other.join()
    assert left == []
