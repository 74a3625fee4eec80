"""One command-line error layer (safeio.cli) for derive and the mnist commands, run as a user runs
them (subprocesses): a bad flag, a bad TOML value, a full standard output and a reader that has
gone (`| head`) end the same way in both: one stderr line and the same exit code, no traceback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_faults import one_line

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 120  # seconds; importing torch or SymPy takes a few

# A command of each kind, with arguments that get it to its first line on standard output.
PRINTING = {
    "derive": ["derive", "table", "--steps", "2000"],
    "mnist.config": ["mnist.config"],
    "mnist.summary": ["mnist.summary"],
    "mnist.train --help": ["mnist.train", "--help"],
}


def run(module_args: list[str], cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *module_args], cwd=cwd, text=True,
                          stderr=subprocess.PIPE, timeout=TIME_LIMIT, **kwargs)  # fmt: skip


BAD_FLAG = {  # each command with the arguments it needs before a flag is looked at
    "derive": ["gradients"],
    "mnist.train": [],
    "mnist.export": ["a-run"],
    "mnist.data": [],
}


@pytest.mark.parametrize("module", BAD_FLAG)
def test_a_bad_flag_is_one_line_naming_the_program_exit_2(module):
    done = run([module, *BAD_FLAG[module], "--bad-flag"], stdout=subprocess.PIPE)
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr) == (
        f"python -m {module}: error: unrecognized arguments: --bad-flag\n"
    )


def test_a_bad_toml_value_is_one_line_exit_2_in_derive(tmp_path):
    config = tmp_path / "net.toml"
    text = (ROOT / "derive" / "configs" / "classic.toml").read_text()
    config.write_text(text.replace("0.15", '"a word"', 1))
    assert '"a word"' in config.read_text()
    done = run(["derive", "gradients", "--config", str(config)], stdout=subprocess.PIPE)
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr).startswith(f"error: {config}")


@pytest.fixture
def copied_tree(tmp_path) -> Path:
    """The project's code (derive, mnist without its reference runs, safeio) in a folder of its
    own, whose mnist/defaults.toml a test may spoil."""
    for package in ("derive", "mnist", "safeio"):
        ignore = shutil.ignore_patterns("reference", "__pycache__")
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    return tmp_path


@pytest.mark.parametrize(
    ("line", "bad", "message"),
    [
        ("lr = 0.2", "lr = 50.0", "lr must be > 0 and <= 10, got 50.0"),
        ('model = "nano-w"', 'model = "huge"', "model must be one of"),
        ("epochs = 20", "epochs = [20", "not valid TOML"),
    ],
)
def test_a_bad_toml_value_is_one_line_exit_2_in_mnist(copied_tree, line, bad, message):
    defaults = copied_tree / "mnist" / "defaults.toml"
    text = defaults.read_text()
    assert line in text
    defaults.write_text(text.replace(line, bad, 1))
    for command in (["mnist.train", "--epochs", "1"], ["mnist.config"]):
        done = run(command, cwd=copied_tree, stdout=subprocess.PIPE)
        assert done.returncode == 2 and done.stdout == "", command
        err = one_line(done.stderr)
        assert err.startswith(f"error: {defaults}: ") and message in err, command


@pytest.mark.parametrize("name", PRINTING)
def test_a_full_standard_output_is_the_same_line_in_every_command(name):
    module, *args = PRINTING[name]
    with open("/dev/full", "w") as full:
        done = run([module, *args], stdout=full)
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"python -m {module}: error: cannot write to standard output: No space left on device\n"
    )


@pytest.mark.parametrize("name", PRINTING)
def test_a_reader_that_has_gone_ends_quietly_with_exit_1(name):
    read_end, write_end = os.pipe()
    os.close(read_end)  # what `| head` leaves once it has read enough
    try:
        done = run(PRINTING[name], stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


@pytest.mark.parametrize("name", PRINTING)
def test_head_of_the_output_gives_its_first_line_and_no_traceback(name):
    module_args = " ".join(PRINTING[name])
    script = f'{sys.executable} -m {module_args} | head -1; echo "exit ${{PIPESTATUS[0]}}" >&2'
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIME_LIMIT)  # fmt: skip
    assert len(done.stdout.splitlines()) == 1 and done.stdout.strip()
    # The command either finished writing before head left (0) or met the closed pipe (1).
    assert done.stderr in ("exit 0\n", "exit 1\n"), done.stderr
    if name == "derive":  # 2,000 steps x 6 learning rates: far more than a pipe holds
        assert done.stderr == "exit 1\n"


def test_a_closed_standard_output_stops_a_training_before_it_writes_a_file(tmp_path):
    out = tmp_path / "run"
    script = f"{sys.executable} -m mnist.train --out {out} --limit 64 --epochs 1 >&-"
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIME_LIMIT)  # fmt: skip
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        "python -m mnist.train: error: cannot write to standard output: standard output is closed\n"
    )
    assert list(out.iterdir()) == []  # nothing of a run: the same command without >&- may start


def ctrl_c_while_torch_loads() -> subprocess.CompletedProcess:
    """`python -m mnist.summary` sent SIGINT once torch's library is in its memory: after the mnist
    package has set up its signals, before the command has done anything."""
    proc = subprocess.Popen([sys.executable, "-m", "mnist.summary"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        maps = Path(f"/proc/{proc.pid}/maps")
        deadline = time.monotonic() + TIME_LIMIT
        while "libtorch" not in maps.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "torch was never loaded"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIME_LIMIT)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_while_torch_loads_is_one_line_exit_130(default_signals):
    done = ctrl_c_while_torch_loads()
    assert (done.returncode, done.stdout) == (130, "")
    assert one_line(done.stderr) == "python -m mnist.summary: interrupted\n"


def test_an_ignored_ctrl_c_stays_ignored(default_signals):
    """A script's background job (`cmd &`) starts with SIGINT ignored, so that Ctrl-C meant for
    the foreground does not stop it: mnist, like derive and Python itself, leaves that alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # for the child; default_signals restores ours
    done = ctrl_c_while_torch_loads()
    assert (done.returncode, done.stderr) == (0, "")
    assert "parameters (budget 4,000)" in done.stdout
