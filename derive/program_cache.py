"""The program of `derive gradients`, kept on disk so the prompt need not load SymPy.

The program is kept as data, never as code: its steps as a list of operations with their
operands (derive/numpy_program.py checks them, then evaluates them with its own fixed evaluator),
with the names of its results. An entry is one file, KEY.program in $XDG_CACHE_HOME/
backprop-demystified (default ~/.cache/backprop-demystified): a line with the SHA-256 of the rest,
then the JSON. KEY is a SHA-256 of the network spec (the values are the program's arguments, not
part of it), the source of every derive module and the Python, NumPy and SymPy versions: whatever
could change the program changes the key, so nothing is ever cleared by hand.

The folder is opened once, without following a link, and checked there (owned by this user, no
one else may write to it); the entry is opened relative to that descriptor, never through a link.
An entry that is missing is derived and stored; one that is damaged (its hash, its JSON, its
operations, its names) is derived again with one warning line; a folder that cannot be used is
left alone. The numbers are the same either way: a derived program runs through the same
operations and evaluator. BACKPROP_NO_CACHE=1 (or `derive gradients --no-cache`) bypasses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from derive.config import NetworkSpec, Values
from derive.numpy_program import (
    BadProgram,
    check_operations,
    run_operations,
    run_program,
    values_args,
)
from safeio.cli import visible

NO_CACHE = "BACKPROP_NO_CACHE"
FOLDER = "backprop-demystified"
FORMAT = 2  # of an entry; part of the key
SUFFIX = ".program"
MAX_ENTRY_BYTES = 64 << 20  # a 64x64x64x64 program is a few MB of operations
NAME_FIELDS = ("outputs", "network_outputs", "parameters", "gradients")  # GradientProgram's
STALE_SECONDS = 600  # a temp file this old is what an interrupted write left


class Damaged(ValueError):
    """A stored entry that cannot be used; the message says why."""


@dataclass(frozen=True)
class GradientProgram:
    """What `derive gradients` runs: the program's operations and the names of its results."""

    operations: list = dataclasses.field(repr=False, compare=False)
    output_operations: tuple[int, ...]  # the operation of each of `outputs`
    outputs: tuple[str, ...]  # what `function` returns, in order
    loss: str
    network_outputs: tuple[str, ...]  # a_o1, ...
    parameters: tuple[str, ...]  # the trained ones, in config order
    gradients: tuple[str, ...]  # dE_total/dp for each of `parameters`

    @property
    def function(self) -> Callable:
        """`function(*values_args)` returns one array per name in `outputs`."""
        outputs = list(self.output_operations)
        return lambda *args: run_operations(self.operations, outputs, args)

    @cached_property
    def source(self) -> str:
        """The operations as text, one a line: what the program computes."""
        lines = [
            f"v{k} = {op[0]}({', '.join(map(str, op[1:]))})" for k, op in enumerate(self.operations)
        ]
        lines += [
            f"{name} = v{k}" for name, k in zip(self.outputs, self.output_operations, strict=True)
        ]
        return "\n".join(lines) + "\n"

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
    descriptor = open_folder(folder)
    if descriptor is None:
        return derived(spec)
    try:
        try:
            found = read_entry(descriptor, key)
        except Damaged as exc:
            print(
                visible(f"warning: {folder / (key + SUFFIX)}: {exc}; derived again"),
                file=sys.stderr,
            )
            found = None
        if found is not None:
            return found
        program = derived(spec)
        write_entry(descriptor, key, program)
        return program
    finally:
        os.close(descriptor)


def derived(spec: NetworkSpec) -> GradientProgram:
    from derive.evaluate import evaluator_for  # SymPy loads here, only on a miss
    from derive.program_operations import to_operations

    evaluator = evaluator_for(spec)
    network = evaluator.network
    operations, at = to_operations(network.values_args, evaluator.program, evaluator.outputs)
    return GradientProgram(
        operations=operations,
        output_operations=tuple(at),
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
    """SHA-256 of everything the program depends on."""
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


def open_folder(folder: Path) -> int | None:
    """A descriptor of the cache folder (made if missing), opened without following a link and
    checked once through that descriptor: owned by this user, writable by no one else. None for
    a folder that cannot be used so (a cache only: the program is derived all the same)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    info = os.fstat(descriptor)
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        os.close(descriptor)
        return None
    return descriptor


def read_entry(descriptor: int, key: str) -> GradientProgram | None:
    """The stored program under `key`; None when there is none; Damaged when it cannot be used."""
    data = read_file(descriptor, key + SUFFIX)
    if data is None:
        return None
    digest, _, body = data.partition(b"\n")
    if digest != hashlib.sha256(body).hexdigest().encode():
        raise Damaged("its content does not match its hash")
    try:
        meta = json.loads(body)
    except (ValueError, RecursionError):
        raise Damaged("not JSON") from None
    try:
        return program_of(meta, key)
    except (BadProgram, KeyError, TypeError, ValueError) as exc:
        raise Damaged(f"not a program: {str(exc)[:200]}") from None


def read_file(descriptor: int, name: str) -> bytes | None:
    """The file `name` in the folder, a regular file of at most MAX_ENTRY_BYTES opened without
    following a link; None when it does not exist."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(name, flags, dir_fd=descriptor)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Damaged(f"cannot be opened ({exc.strerror}; a link is never followed)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Damaged("not a regular file")
        if info.st_size > MAX_ENTRY_BYTES:
            raise Damaged(f"{info.st_size:,} bytes, more than the {MAX_ENTRY_BYTES:,} read")
        chunks, size = [], 0
        while size <= MAX_ENTRY_BYTES and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_ENTRY_BYTES:
        raise Damaged(f"more than the {MAX_ENTRY_BYTES:,} bytes read")
    return data


def program_of(meta: object, key: str) -> GradientProgram:
    """The program an entry's JSON describes, every part of it checked."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("key") != key:
        raise BadProgram("another format or key")
    names = {field: meta[field] for field in NAME_FIELDS}
    if not all(
        isinstance(listed, list) and all(isinstance(n, str) for n in listed)
        for listed in names.values()
    ):
        raise BadProgram("names are not lists of text")
    outputs, loss = names["outputs"], meta["loss"]
    if len(set(outputs)) != len(outputs) or not isinstance(loss, str):
        raise BadProgram("output names repeat")
    if not {loss, *names["network_outputs"], *names["gradients"]} <= set(outputs):
        raise BadProgram("a result is not among the outputs")
    if len(names["parameters"]) != len(names["gradients"]):
        raise BadProgram("not one gradient per parameter")
    n_arguments, at = meta["arguments"], meta["output_operations"]
    if type(n_arguments) is not int or not isinstance(at, list) or len(at) != len(outputs):
        raise BadProgram("not one operation per output")
    check_operations(meta["operations"], n_arguments, at)
    return GradientProgram(
        operations=meta["operations"],
        output_operations=tuple(at),
        loss=loss,
        **{field: tuple(listed) for field, listed in names.items()},
    )


def entry_bytes(key: str, program: GradientProgram) -> bytes:
    meta = {
        "format": FORMAT,
        "key": key,
        "arguments": 1 + max((op[1] for op in program.operations if op[0] == "arg"), default=-1),
        "operations": program.operations,
        "output_operations": list(program.output_operations),
        "loss": program.loss,
        **{field: list(getattr(program, field)) for field in NAME_FIELDS},
    }
    body = json.dumps(meta, separators=(",", ":"), allow_nan=False).encode()
    return hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def write_entry(descriptor: int, key: str, program: GradientProgram) -> None:
    """Store the program: a temp file in the folder, then a rename over the entry (a link there is
    replaced, never followed). Temp files an interrupted write left are removed first. Where the
    folder cannot be written, store nothing: a cache only."""
    remove_leftovers(descriptor)
    temp = f".{key}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=descriptor,
        )
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(entry_bytes(key, program))
        os.replace(temp, key + SUFFIX, src_dir_fd=descriptor, dst_dir_fd=descriptor)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=descriptor)
        if not isinstance(exc, OSError | ValueError):
            raise


def remove_leftovers(descriptor: int) -> None:
    """Temp files of writes that were killed, older than STALE_SECONDS (a newer one may be another
    process's write in progress)."""
    try:
        names = [n for n in os.listdir(descriptor) if n.startswith(".") and n.endswith(".tmp")]
        for name in names:
            info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
            if time.time() - info.st_mtime > STALE_SECONDS:
                os.unlink(name, dir_fd=descriptor)
    except OSError:
        pass
