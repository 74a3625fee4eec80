"""The printed NumPy program of `derive gradients`, kept on disk so the prompt need not load SymPy.

An entry is the program's source exactly as derive/evaluate.py prints it (KEY.py) and a JSON file
naming its results (KEY.json), in $XDG_CACHE_HOME/backprop-demystified (default
~/.cache/backprop-demystified). KEY is a SHA-256 of the network spec (the values are the program's
arguments, not part of it), the source of every derive module and the Python, NumPy and SymPy
versions: whatever could change the program changes the key, so nothing is ever cleared by hand.
An entry that cannot be read or does not match is derived again and rewritten; a folder that
cannot be written, or that others may write to (its programs are run), is left alone.
BACKPROP_NO_CACHE=1 (or `derive gradients --no-cache`) bypasses it. The numbers are the same
either way: both run the same printed source on the same arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.config import NetworkSpec, Values
from derive.numpy_program import load_program, run_program, values_args
from safeio.atomic import OutputError, write_text_atomic
from safeio.inputs import InputError, read_text

NO_CACHE = "BACKPROP_NO_CACHE"
FOLDER = "backprop-demystified"
FORMAT = 1  # of an entry; part of the key
MAX_ENTRY_BYTES = 64 << 20  # a 64x64x64x64 program is about 1 MB of source
NAME_FIELDS = ("outputs", "network_outputs", "parameters", "gradients")  # GradientProgram's


@dataclass(frozen=True)
class GradientProgram:
    """What `derive gradients` runs: the printed program and the names of its results."""

    source: str
    function: Callable = dataclasses.field(repr=False, compare=False)
    outputs: tuple[str, ...]  # what `function` returns, in order
    loss: str
    network_outputs: tuple[str, ...]  # a_o1, ...
    parameters: tuple[str, ...]  # the trained ones, in config order
    gradients: tuple[str, ...]  # dE_total/dp for each of `parameters`

    def at_values(self, values: Values) -> dict[str, float]:
        """Every forward value, delta and gradient at one set of values, keyed by name."""
        results = run_program(self.function, len(self.outputs), values_args(values))
        return {name: float(v) for name, v in zip(self.outputs, results, strict=True)}


def gradient_program(spec: NetworkSpec, use_cache: bool = True) -> GradientProgram:
    """The program for `spec`: from the cache when an entry matches, else derived (and stored)."""
    if not use_cache or os.environ.get(NO_CACHE, "") not in ("", "0"):
        return derived(spec)
    try:
        folder, key = cache_folder(), entry_key(spec)
    except (OSError, RuntimeError):  # no home folder, or derive's own files unreadable
        return derived(spec)
    found = read_entry(folder, key)
    if found is not None:
        return found
    program = derived(spec)
    write_entry(folder, key, program)
    return program


def derived(spec: NetworkSpec) -> GradientProgram:
    from derive.evaluate import evaluator_for  # SymPy loads here, only on a miss

    evaluator = evaluator_for(spec)
    network = evaluator.network
    return GradientProgram(
        source=evaluator.source,
        function=evaluator.function,
        outputs=tuple(s.name for s in evaluator.outputs),
        loss=network.loss.name,
        network_outputs=tuple(n.out.name for n in network.outputs),
        parameters=tuple(p.name for p in network.trained),
        gradients=tuple(s.name for s in evaluator.gradient_outputs),
    )


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / FOLDER


def entry_key(spec: NetworkSpec) -> str:
    """SHA-256 of everything the printed program depends on."""
    digest = hashlib.sha256()
    parts = {
        "format": FORMAT,
        "spec": dataclasses.asdict(spec),
        "python": sys.version,
        "numpy": np.__version__,
    }
    digest.update(json.dumps(parts, sort_keys=True).encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(sympy_release())
    return digest.hexdigest()


def sympy_release() -> bytes:
    """SymPy's release file (its version), read without importing SymPy (~0.3 s)."""
    spec = importlib.util.find_spec("sympy")
    if spec is None or spec.origin is None:
        return b"no sympy"
    return (Path(spec.origin).parent / "release.py").read_bytes()


def read_entry(folder: Path, key: str) -> GradientProgram | None:
    """The stored program under `key`, or None when it is missing, unreadable or not consistent."""
    try:
        if not private(folder):
            return None
        meta = json.loads(read_text(folder / f"{key}.json", MAX_ENTRY_BYTES))
        source = read_text(folder / f"{key}.py", MAX_ENTRY_BYTES)
        names = {field: meta[field] for field in NAME_FIELDS}
        if not (
            meta["key"] == key
            and meta["source_sha256"] == hashlib.sha256(source.encode()).hexdigest()
            and isinstance(meta["loss"], str)
            and all(isinstance(listed, list) for listed in names.values())
            and all(isinstance(name, str) for listed in names.values() for name in listed)
            and {meta["loss"], *names["network_outputs"], *names["gradients"]}
            <= set(names["outputs"])
            and len(names["parameters"]) == len(names["gradients"])
        ):
            return None
        function = load_program(source)
    except (InputError, OSError, ValueError, KeyError, TypeError, SyntaxError):
        return None  # missing, damaged or of another layout: derived again
    return GradientProgram(
        source, function, loss=meta["loss"], **{f: tuple(n) for f, n in names.items()}
    )


def private(folder: Path) -> bool:
    """Whether only this user can change what the folder holds: its programs are run."""
    info = folder.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def write_entry(folder: Path, key: str, program: GradientProgram) -> None:
    """Store the program; where the folder cannot be made or written, store nothing."""
    meta = {
        "key": key,
        "source_sha256": hashlib.sha256(program.source.encode()).hexdigest(),
        "loss": program.loss,
        **{field: list(getattr(program, field)) for field in NAME_FIELDS},
    }
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not private(folder):
            return  # never read back (read_entry): storing would only fill it
        # The source first: an entry counts once its JSON, which names the source's hash, exists.
        write_text_atomic(folder / f"{key}.py", program.source)
        write_text_atomic(folder / f"{key}.json", json.dumps(meta, indent=1) + "\n")
    except (OSError, OutputError):
        pass  # a cache only: the program was derived and runs all the same
