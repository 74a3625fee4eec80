"""The mnist commands in a hostile environment (torch needed: not a core test): a training never
deletes or overwrites another run's files; --help into a full standard output is one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_faults import one_line

from mnist.cli import UsageError
from mnist.run_folder import run_folder

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", ["mnist.export", "mnist.train", "mnist.plots", "mnist.data"])
def test_help_into_a_full_standard_output_is_one_line_exit_2(module):
    """argparse's own printing swallows a failed write: each mnist command's --help too."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"python -m {module}: error: cannot write to standard output: No space left on device\n"
    )


def test_a_fresh_training_never_touches_a_folder_that_holds_a_run(tmp_path):
    reference = ROOT / "mnist" / "reference"
    seed = next(p for p in sorted(reference.glob("*/seed-1")) if (p / "metrics.jsonl").exists())
    copy = tmp_path / "copy"
    shutil.copytree(seed, copy)  # a reference run: metrics, results, settings, no checkpoint
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    with (
        pytest.raises(UsageError, match="already holds a run") as refused,
        run_folder(copy, False, True),
    ):
        pass
    assert "metrics.jsonl" in str(refused.value) and "\n" not in str(refused.value)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    empty = tmp_path / "empty"
    with run_folder(empty, False, True):
        assert empty.is_dir()
    os.rmdir(empty)
