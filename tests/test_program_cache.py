"""derive gradients' cache of programs as data (derive/program_cache.py): the numbers from a
cached program equal the hand-worked classic net (tests/classic_oracle.py) and the uncached run;
whatever the program depends on changes the key; a damaged entry (each kind built here) is rebuilt
with one warning; a link is never followed; an unusable folder is skipped."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import classic_oracle as oracle
import numpy as np
import pytest

import derive
from derive import program_cache
from derive.config import load_config

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parent.parent
CLASSIC = ROOT / "derive" / "configs" / "classic.toml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache on (conftest turns it off), under a fresh XDG_CACHE_HOME; its folder."""
    monkeypatch.delenv(program_cache.NO_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "backprop-demystified"


def gradients_cli(
    *flags: str, env: dict[str, str] | None = None, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """`python [PYTHON...] -m derive gradients FLAGS...` in a fresh process."""
    command = [sys.executable, *python, "-m", "derive", "gradients", *flags]
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_classic(report: dict) -> None:
    """The classic net's loss, outputs and gradients as worked out by hand."""
    _, _, o1, o2 = oracle.forward(oracle.WEIGHTS)
    assert math.isclose(report["loss"], oracle.total_error(oracle.WEIGHTS), rel_tol=1e-13)
    assert np.allclose([report["outputs"]["a_o1"], report["outputs"]["a_o2"]], [o1, o2], 0, 1e-15)
    expected = oracle.gradients(oracle.WEIGHTS)
    got = [report["gradients"][f"w{k}"] for k in range(1, 9)]
    assert np.allclose(got, expected, rtol=1e-12, atol=0)


def test_a_cached_program_gives_the_hand_worked_numbers_without_sympy(cache: Path):
    cold = gradients_cli("--format", "json")
    assert cold.returncode == 0, cold.stderr
    assert [Path(e).suffix for e in entries(cache)] == [".program"]  # data, no source
    warm = gradients_cli("--format", "json", python=("-X", "importtime"))
    assert warm.returncode == 0
    assert warm.stdout == cold.stdout
    assert_classic(json.loads(warm.stdout))
    imported = [line.rsplit("|", 1)[-1].strip() for line in warm.stderr.splitlines()]
    assert "numpy" in imported
    assert not [m for m in imported if m.split(".")[0] in ("sympy", "openpyxl", "matplotlib")]
    uncached = gradients_cli("--format", "json", "--no-cache")
    assert uncached.stdout == warm.stdout


def test_text_output_is_the_same_with_and_without_the_cache(cache: Path):
    runs = [gradients_cli(), gradients_cli(), gradients_cli(env={"BACKPROP_NO_CACHE": "1"})]
    assert [r.returncode for r in runs] == [0, 0, 0]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    lines = dict(line.split(" = ") for line in runs[1].stdout.splitlines())
    assert float(lines["dE_total/dw5"]) == pytest.approx(oracle.gradients(oracle.WEIGHTS)[4], 1e-12)


def test_no_cache_flag_and_variable_neither_read_nor_write(cache: Path):
    assert gradients_cli("--no-cache").returncode == 0
    assert gradients_cli(env={"BACKPROP_NO_CACHE": "1"}).returncode == 0
    assert entries(cache) == []


def program_for(config: Path):
    config = load_config(config)
    return program_cache.gradient_program(config.network), config


def test_a_changed_network_misses_and_changed_values_share_the_program(cache: Path, tmp_path: Path):
    _, classic = program_for(CLASSIC)
    moved = tmp_path / "moved.toml"
    text = CLASSIC.read_text()
    assert "0.15" in text
    moved.write_text(text.replace("0.15", "0.35", 1))
    program, config = program_for(moved)
    assert len(entries(cache)) == 1  # same network, other values: one entry
    w = list(oracle.WEIGHTS)
    w[0] = 0.35
    assert config.values.weights == tuple(w)
    got = program.at_values(config.values)
    assert np.allclose([got[f"dE_total/dw{k}"] for k in range(1, 9)], oracle.gradients(w), 1e-12, 0)

    mazur, config = program_for(ROOT / "derive" / "configs" / "mazur.toml")  # fixed biases
    assert len(entries(cache)) == 2
    got = mazur.at_values(config.values)
    expected = oracle.gradients(oracle.WEIGHTS, oracle.MAZUR_BIASES)
    assert np.allclose([got[f"dE_total/dw{k}"] for k in range(1, 9)], expected, 1e-12, 0)

    deep, config = program_for(ROOT / "tests" / "configs" / "table_deep_softmax.toml")
    assert len(entries(cache)) == 3
    fresh = program_cache.derived(config.network)
    assert deep.source == fresh.source
    assert deep.at_values(config.values) == fresh.at_values(config.values)
    assert classic.network != config.network


def test_the_key_follows_derive_source_and_versions(tmp_path: Path, monkeypatch):
    spec = load_config(CLASSIC).network
    key = program_cache.entry_key(spec)
    copy = tmp_path / "derive"
    shutil.copytree(Path(derive.__file__).parent, copy, ignore=shutil.ignore_patterns("check"))
    monkeypatch.setattr(program_cache, "__file__", str(copy / "program_cache.py"))
    assert program_cache.entry_key(spec) == key  # the same files: the same key
    with (copy / "backward.py").open("a") as file:
        file.write("\n# changed\n")
    changed = program_cache.entry_key(spec)
    assert changed != key
    monkeypatch.setattr(sys, "version", sys.version + " (other build)")
    assert program_cache.entry_key(spec) not in (key, changed)
    monkeypatch.undo()
    monkeypatch.setattr(np, "__version__", "0.0.1")
    assert program_cache.entry_key(spec) != key


def rewrite(entry: Path, change, rehash: bool = False) -> None:
    """Change the entry's JSON with `change(meta)`; its hash line kept (damage) or made again."""
    digest, _, body = entry.read_bytes().partition(b"\n")
    meta = json.loads(body)
    change(meta)
    body = json.dumps(meta).encode()
    if rehash:
        digest = hashlib.sha256(body).hexdigest().encode()
    entry.write_bytes(digest + b"\n" + body)


def swap_outputs(meta: dict) -> None:
    """Two output names swapped: dE_total/dw1 named where dE_total/dw2 is computed, and back."""
    names = meta["outputs"]
    a, b = names.index("dE_total/dw1"), names.index("dE_total/dw2")
    names[a], names[b] = names[b], names[a]


def deep_json(entry: Path) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    entry.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


DAMAGE = {
    "two output names swapped": lambda e: rewrite(e, swap_outputs),
    "an output name missing": lambda e: rewrite(e, lambda m: m["outputs"].pop()),
    "an extra output name": lambda e: rewrite(e, lambda m: m["outputs"].append("x")),
    "an operand changed": lambda e: rewrite(e, lambda m: m["operations"][-1].__setitem__(1, 0)),
    "cut short": lambda e: e.write_bytes(e.read_bytes()[:300]),
    "empty": lambda e: e.write_bytes(b""),
    "not UTF-8": lambda e: e.write_bytes(b"\xff\xfe{"),
    "nested 100,000 deep": deep_json,
    "gone": lambda e: e.unlink(),
    "a folder": lambda e: (e.unlink(), e.mkdir()),
    "a link to a good copy": lambda e: (e.rename(e.with_name("copy")), e.symlink_to("copy")),
    "a FIFO": lambda e: (e.unlink(), os.mkfifo(e)),
}
QUIET = ("gone",)  # a missing entry is a miss, not damage


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_entry_is_derived_again_with_one_warning(cache: Path, damage, capsys):
    program_for(CLASSIC)
    (entry,) = cache.glob("*.program")
    good = entry.read_bytes()
    damage(entry)
    capsys.readouterr()
    program, config = program_for(CLASSIC)
    err = capsys.readouterr().err
    report = program.at_values(config.values)
    assert_classic(
        {
            "loss": report["E_total"],
            "outputs": report,
            "gradients": {f"w{k}": report[f"dE_total/dw{k}"] for k in range(1, 9)},
        }
    )
    name = next(k for k, v in DAMAGE.items() if v is damage)
    if name in QUIET:
        assert err == ""
    else:
        assert err.count("\n") == 1 and "; derived again" in err and "Traceback" not in err
    if name == "a folder":
        assert entry.is_dir()  # not replaced: a cache only, never worth deleting a folder for
    else:
        assert not entry.is_symlink() and entry.read_bytes() == good


def test_a_damaged_entry_on_the_command_line_is_one_warning_line(cache: Path):
    assert gradients_cli().returncode == 0
    (entry,) = cache.glob("*.program")
    rewrite(entry, swap_outputs)
    done = gradients_cli("--format", "json")
    assert done.returncode == 0
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("warning: ")
    assert_classic(json.loads(done.stdout))


def test_an_entry_is_data_never_run(cache: Path):
    """An entry with its hash made again (as only someone who may write the folder can) but an
    operation that is not one of the evaluator's is refused, not looked up or called."""
    program_for(CLASSIC)
    (entry,) = cache.glob("*.program")
    rewrite(entry, lambda m: m["operations"].append(["__import__", 0]), rehash=True)
    program, config = program_for(CLASSIC)
    assert program.at_values(config.values)["dE_total/dw1"] == pytest.approx(
        oracle.gradients(oracle.WEIGHTS)[0], 1e-12
    )


def test_a_cache_folder_that_is_a_link_is_not_used(cache: Path, tmp_path: Path):
    other = tmp_path / "someone-else"
    other.mkdir(mode=0o700)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(other)
    program, config = program_for(CLASSIC)
    assert entries(other) == []  # nothing read or written through the link
    assert program.at_values(config.values)["E_total"] == pytest.approx(
        oracle.total_error(oracle.WEIGHTS), 1e-13
    )


def test_leftovers_of_a_killed_write_are_removed(cache: Path):
    program_for(CLASSIC)
    old = cache / ".0123.abcd.tmp"
    old.write_text("half")
    os.utime(old, (1, 1))
    fresh = cache / ".4567.abcd.tmp"  # perhaps another process's write in progress
    fresh.write_text("half")
    (entry,) = cache.glob("*.program")
    entry.unlink()
    program_for(CLASSIC)
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("where", ["a file", "/dev/null", "a file in the cache's place"])
def test_an_unusable_cache_folder_is_skipped(tmp_path: Path, monkeypatch, where: str):
    # Files, not a read-only folder: the tests may run as root, who writes there all the same.
    monkeypatch.delenv(program_cache.NO_CACHE, raising=False)
    home = Path("/dev/null") if where == "/dev/null" else tmp_path / "cache"
    if where == "a file":
        home.write_text("not a folder")
    elif where == "a file in the cache's place":
        home.mkdir()
        (home / "backprop-demystified").write_text("not a folder")
    done = gradients_cli("--format", "json", env={"XDG_CACHE_HOME": str(home)})
    assert (done.returncode, done.stderr) == (0, "")
    assert_classic(json.loads(done.stdout))


def test_a_relative_xdg_cache_home_is_ignored(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(program_cache.NO_CACHE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert program_cache.cache_folder() == tmp_path / ".cache" / "backprop-demystified"


def plant_wrong_program(cache: Path) -> None:
    """Rewrite the stored classic program to give dE_total/dw1 = 12345, its hash to match."""
    (entry,) = cache.glob("*.program")

    def plant(meta: dict) -> None:
        meta["operations"].append(["num", 12345.0])
        meta["output_operations"][meta["outputs"].index("dE_total/dw1")] = (
            len(meta["operations"]) - 1
        )

    rewrite(entry, plant, rehash=True)


def test_a_folder_others_may_write_to_is_not_read(cache: Path):
    program_for(CLASSIC)
    plant_wrong_program(cache)
    program, config = program_for(CLASSIC)  # a private folder's entry is trusted ...
    assert program.at_values(config.values)["dE_total/dw1"] == 12345
    cache.chmod(0o777)  # ... one that anyone may change is not
    program, config = program_for(CLASSIC)
    report = program.at_values(config.values)
    assert report["dE_total/dw1"] == pytest.approx(oracle.gradients(oracle.WEIGHTS)[0], 1e-12)
