"""The repository itself: lint clean, README and CI in step, no third-party code committed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell commands in the README's set-up section, in order."""
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", setup, flags=re.S)


def test_ci_runs_the_readme_test_command():
    main_job, test_command = readme_commands()
    assert "mkdocs serve" in main_job
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command.strip() in ci_lines


def test_ruff_check_and_format_are_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_no_third_party_code_or_data_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # MathJax's own files, MNIST in any form, model checkpoints, built sites.
    forbidden = re.compile(
        r"(^|/)(node_modules|data|site|runs)/|tex-[a-z]+(-full)?\.js$|-ubyte$|\.pkl|\.pt$|\.whl$"
    )
    assert [path for path in tracked if forbidden.search(path)] == []
