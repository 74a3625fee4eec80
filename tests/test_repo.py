"""The repository itself: lint clean, README and CI in step, no third-party code committed, the
torch-free test files free of torch, and no test skipped in CI."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_MARK = "pytestmark = pytest.mark.core"
# What `pip install -e '.[test]'` does not install, or what imports it (tests/test_*.py marked core
# run in such a venv in CI).
NOT_CORE = {"torch", "torchvision", "torchinfo", "tqdm", "safetensors", "mkdocs", "material",
            "pymdownx", "jinja2", "mnist", "sitegen"}  # fmt: skip


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


def core_test_files() -> list[Path]:
    files = sorted((ROOT / "tests").glob("test_*.py"))
    return [p for p in files if CORE_MARK in p.read_text().splitlines()]


def test_derive_tests_run_without_torch():
    """The README promises `pip install -e .` gives a working derive without torch; .ci/run runs
    the core test files in such a venv, so they must not import torch and friends at the top."""
    core = {p.name for p in core_test_files()}
    derive_tests = {"test_config.py", "test_derive.py", "test_table.py", "test_xlsx.py",
                    "test_check.py", "test_plot.py", "test_oracle.py",
                    "test_cli_faults.py"}  # fmt: skip
    assert derive_tests <= core, derive_tests - core
    for path in core_test_files():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in NOT_CORE, f"{path.name} imports {module}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv-core/bin/pip install -q -e '.[test]'" in ci
    assert f"grep -l '^{CORE_MARK}$' tests/test_*.py" in ci


NODE_TESTS = """
import shutil
import pytest

@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_marked(): pass

def test_with_fixture(node): pass
"""


def test_a_skipped_test_fails_in_ci(tmp_path):
    """Without Node.js (an empty PATH) tests that need it skip on a laptop and fail in CI, whether
    they skip by a mark or by the `node` fixture (tests/conftest.py)."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_node.py").write_text(NODE_TESTS)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"]
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": str(tmp_path)}
    laptop = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert laptop.returncode == 0 and "2 skipped" in laptop.stdout, laptop.stdout
    ci = subprocess.run(
        command, cwd=tmp_path, env=env | {"CI": "true"}, capture_output=True, text=True
    )
    assert ci.returncode == 1 and "2 errors" in ci.stdout, ci.stdout
    assert "skipped in CI, which must run every test: Skipped: needs Node.js" in ci.stdout
    assert "needs Node.js (the project's npm ci needs it too); .ci/run should have" in ci.stdout
