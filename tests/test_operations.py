"""Every operation of derive/operations.py through every backend, at ordinary values and at the
float limits: its NumPy and plain-Python forms, the NumPy, plain-Python and JavaScript programs
printed from its SymPy function, the stored operations program, its JavaScript in
derive/operations.js and its spreadsheet formula (computed by the `formulas` engine), each
against the record's definition worked out by SymPy to 50 digits, and that definition against
torch (in tests/test_torch_reference.py, with each derivative against autograd). Then each
derivative against sympy.diff of the definition (the lemma)."""

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import formulas
import numpy as np
import pytest
import sympy as sp

from derive import functions
from derive.descent import SCALAR_FUNCTIONS, ScalarPrinter
from derive.evaluate import numpy_source
from derive.functions import FUNCTIONS, definition, lemmas
from derive.javascript import OPERATIONS_JS, JavaScriptPrinter
from derive.numpy_program import load_program, run_operations
from derive.operations import OPERATIONS
from derive.program_operations import to_operations
from derive.spreadsheet import spreadsheet_formula

pytestmark = pytest.mark.core

ORDINARY = [-3.7, -1.0, -0.5, 0.0, 0.25, 1.0, 2.5]
LIMITS = [-1.7e308, -1e308, -745.2, -709.9, -40.0, -5e-324, 5e-324, 40.0, 709.9, 745.2, 1e308]
INFINITE = [-math.inf, math.inf]
POINTS = ORDINARY + LIMITS + INFINITE


def arguments(name: str, x: float) -> tuple[float, ...]:
    """The point, and for a variadic operation a second argument: ordinary, or as large."""
    return (x,) if OPERATIONS[name].arity == 1 else (x, 0.3 if not abs(x) > 1e3 else -x / 2)


def exact(name: str, args: tuple[float, ...]) -> float:
    """The record's definition at `args`, by SymPy, to 50 digits, rounded once to a float."""
    value = definition(
        name,
        tuple(
            sp.oo if a == math.inf else -sp.oo if a == -math.inf else sp.Float(a, 50) for a in args
        ),
    )
    value = sp.N(value, 50)
    if value in (sp.oo, -sp.oo):
        return math.copysign(math.inf, float(value == sp.oo) - 0.5)
    return float(value)


def close(got: float, want: float) -> bool:
    if math.isinf(want):
        return got == want
    # Below 1e-300 the float itself (a subnormal) carries few digits.
    return math.isclose(got, want, rel_tol=4e-15, abs_tol=1e-300)


def js_number(x: float) -> str:
    """x as text JavaScript's Number() reads back exactly (Infinity, not Python's inf)."""
    return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(x, repr(x))


def node_results(name: str, points: list[tuple[float, ...]], tmp_path: Path) -> dict:
    """`name` at each point by derive/operations.js and by the JavaScript printed from SymPy."""
    symbols = sp.symbols(f"x0:{len(points[0])}", real=True)
    printed = JavaScriptPrinter()._print(FUNCTIONS[name](*symbols))
    module = tmp_path / "ops.mjs"
    module.write_text(
        OPERATIONS_JS.read_text()
        + f"\nconst printed = ({', '.join(s.name for s in symbols)}) => {printed};\n"
        + "const decode = (v) => (typeof v === 'string' ? Number(v) : v);\n"
        + "const encode = (v) => (Number.isFinite(v) ? v : String(v));\n"
        + f"const points = {json.dumps([[js_number(a) for a in p] for p in points])};\n"
        + "const out = points.map((p) => p.map(decode)).map((p) =>"
        + f" [encode({name}(...p)), encode(printed(...p))]);\n"
        + "console.log(JSON.stringify(out));\n"
    )
    done = subprocess.run(["node", str(module)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    decoded = [[float(v) for v in pair] for pair in json.loads(done.stdout)]
    return {"operations.js": [a for a, _ in decoded], "printed JavaScript": [b for _, b in decoded]}


def spreadsheet_results(name: str, points: list[tuple[float, ...]]) -> list[float]:
    """The record's formula, computed by the `formulas` engine (no inf in a spreadsheet)."""
    symbols = sp.symbols(f"x0:{len(points[0])}", real=True)
    cells = {s: f"X{k + 1}" for k, s in enumerate(symbols)}
    compiled = formulas.Parser().ast(spreadsheet_formula(FUNCTIONS[name](*symbols), cells))[1]
    function = compiled.compile()
    order = [cells[s] for s in symbols]
    assert list(function.inputs) == order
    return [float(np.asarray(function(*p)).ravel()[0]) for p in points]


def python_results(name: str, points: list[tuple[float, ...]]) -> dict[str, list[float]]:
    op = OPERATIONS[name]
    symbols = sp.symbols(f"x0:{len(points[0])}", real=True)
    applied = FUNCTIONS[name](*symbols)
    out = sp.Symbol("out", real=True)
    program = load_program(numpy_source(symbols, ((out, applied),), (out,)))
    scalar_source = f"f = lambda {', '.join(s.name for s in symbols)}: " + ScalarPrinter()._print(
        applied
    )
    namespace = dict(SCALAR_FUNCTIONS)
    exec(scalar_source, namespace)  # our own printed code, as derive/descent.py runs it
    operations, outputs = to_operations(symbols, ((out, applied),), (out,))
    with np.errstate(all="ignore"):
        return {
            "numpy": [float(op.numpy(*map(np.float64, p))) for p in points],
            "scalar": [float(op.scalar(*p)) for p in points],
            "printed NumPy": [float(program(*map(np.float64, p))[0]) for p in points],
            "printed Python": [float(namespace["f"](*p)) for p in points],
            "operations program": [
                float(run_operations(operations, outputs, [np.float64(a) for a in p])[0])
                for p in points
            ],
        }


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_backend_computes_the_definition(name, tmp_path):
    points = [arguments(name, x) for x in POINTS]
    results = python_results(name, points) | node_results(name, points, tmp_path)
    # A spreadsheet has no inf, and shows #NUM! once an intermediate passes the largest float
    # (logsumexp's x - max(x) for arguments of opposite sign past 9e307).
    finite = [p for p in points if all(math.isfinite(a - b) for a in p for b in p)]
    results["spreadsheet"] = spreadsheet_results(name, finite)
    for backend, values in results.items():
        at = finite if backend == "spreadsheet" else points
        for p, got in zip(at, values, strict=True):
            want = exact(name, p)
            assert close(got, want), f"{name}{p} by {backend}: {got!r}, not {want!r}"


@pytest.mark.parametrize("name", OPERATIONS)
def test_nan_gives_the_same_in_every_python_backend(name):
    """NaN in: every backend agrees (NaN out, except step, which reads NaN > 0 as false)."""
    results = python_results(name, [arguments(name, math.nan)])
    kinds = {backend: math.isnan(v[0]) for backend, v in results.items()}
    assert len(set(kinds.values())) == 1, kinds


def test_derivatives_are_proven():
    assert lemmas() == dict.fromkeys(OPERATIONS, 0)


def test_a_wrong_derivative_fails_its_lemma(monkeypatch):
    """The lemma is not a formality: a record with sigmoid's derivative written y (1 + y) fails."""
    wrong = replace(OPERATIONS["sigmoid"], derivative="y*(1 + y)")
    monkeypatch.setitem(OPERATIONS, "sigmoid", wrong)
    functions.derivative.cache_clear()
    try:
        assert lemmas()["sigmoid"] != 0
    finally:
        monkeypatch.undo()
        functions.derivative.cache_clear()
