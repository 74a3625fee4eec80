"""The backward program: its numbers against central differences of the forward pass at every
size (up to 32x32x32x32), its size linear in the weights, its gradients equal to the closed forms
(symbolically), and what `show` and `gradients` print at the sizes the config allows."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
from test_derive import make_spec, random_values

from derive.backward import backward_program
from derive.chain import CLOSED_FORM_MAX_PARAMETERS, gradients
from derive.config import load_config
from derive.evaluate import evaluator_for, values_args
from derive.explain import derivation
from derive.latex import TEXT, document
from derive.network import build_network, gradient_symbol
from derive.operations import ACTIVATIONS
from derive.table import iteration_table

pytestmark = pytest.mark.core


@pytest.mark.parametrize(
    ("layers", "activation", "loss"),
    [
        ((32, 32, 32, 32), "sigmoid", "half_sse"),
        ((32, 32, 32, 32), "tanh", "cross_entropy"),
        ((12, 20, 7, 5), "relu", "mse"),
    ],
)
def test_program_equals_central_differences_of_the_forward_pass(layers, activation, loss):
    """Twenty sampled parameters of every layer, each nudged by +-h in E_total's forward pass."""
    spec = make_spec(layers, activation, loss, "trained")
    values = random_values(spec, seed=zlib.crc32(repr(layers).encode()))
    evaluator = evaluator_for(spec)
    network = evaluator.network
    base = np.array(values_args(values))
    program = evaluator(*base)
    rng = np.random.default_rng(1)
    offset = len(network.inputs) + len(network.targets)
    picks = rng.choice(len(network.trained), size=20, replace=False)
    h = 1e-6
    nudged = np.repeat(base[:, None], 2 * len(picks), axis=1)
    for k, j in enumerate(picks):
        nudged[offset + j, 2 * k] += h
        nudged[offset + j, 2 * k + 1] -= h
    loss_values = evaluator(*nudged)[network.loss]
    numeric = (loss_values[0::2] - loss_values[1::2]) / (2 * h)
    exact = np.array([float(program[gradient_symbol(network.trained[j])]) for j in picks])
    np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-9)


def test_operations_grow_linearly_with_the_weights():
    """Operations per weight stay within 3 to 6 from 48 to 3,072 weights (3 to 64 wide): a
    first-layer weight costs 3 (forward product and sum, gradient product), others 2 more."""
    per_weight = {}
    for layers in [(4, 4, 4, 4), (8, 8, 8), (16, 16, 16, 16), (64, 16, 3), (32, 32, 32, 32)]:
        spec = make_spec(layers, "sigmoid", "half_sse", "trained")
        per_weight[layers] = backward_program(build_network(spec)).operations / spec.n_weights
    assert all(3 <= r <= 6 for r in per_weight.values()), per_weight


@pytest.mark.parametrize(
    ("activation", "loss"),
    [("sigmoid", "half_sse"), ("tanh", "cross_entropy"), ("relu", "mse"), ("linear", "mse")],
)
def test_program_gradients_are_the_closed_forms(activation, loss):
    """Each delta written out (replaced by its definition, down to the forward symbols) gives
    exactly the chain-rule closed form, which test_derive proves equal to sympy.diff."""
    network = build_network(make_spec((2, 3, 2, 2), activation, loss, "trained"))
    program = backward_program(network)
    backward = dict(program.steps[program.n_forward :])
    for closed, symbol in zip(gradients(network), program.gradients, strict=True):
        expr = backward[symbol]
        while (written := expr.xreplace(backward)) != expr:
            expr = written
        assert sp.expand(expr - closed.closed_form) == 0, closed.parameter


def test_small_network_is_shown_whole():
    network = build_network(make_spec((2, 2, 2), "sigmoid", "half_sse", "none"))
    shown = derivation(network)
    assert shown.complete and shown.note == ""
    assert [g.parameter.name for g in shown.chains] == [f"w{k}" for k in range(1, 9)]
    text = document(shown, TEXT)
    assert "delta_h1 = (delta_o1*w5 + delta_o2*w7)*a_h1*(1 - a_h1)" in text
    assert "dE_total/dw1 = delta_h1*i1" in text


def test_large_network_is_shown_by_its_recursion_and_a_sample():
    spec = make_spec((64, 64, 64, 64), "sigmoid", "half_sse", "trained")
    assert spec.n_weights > CLOSED_FORM_MAX_PARAMETERS
    shown = derivation(build_network(spec))
    assert not shown.complete and "sample" in shown.note
    assert len(shown.deltas) == 3 * 64 and len(shown.gradient_rules) == spec.n_weights + 192
    # First and last weight into each layer; each chain's first factor sums the next deltas.
    assert [g.parameter.name for g in shown.chains] == [
        "w1", "w4096", "w4097", "w8192", "w8193", "w12288"
    ]  # fmt: skip
    k = [sp.Symbol(f"delta_k{m}", real=True) for m in range(1, 65)]
    w = [sp.Symbol(f"w{4096 + 64 * (m - 1) + 1}", real=True) for m in range(1, 65)]  # k_m <- h1
    assert shown.chains[0].chain[0].value == sum(d * v for d, v in zip(k, w, strict=True))


def derive_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], capture_output=True, text=True, timeout=120
    )


def test_show_at_the_largest_size_says_what_it_leaves_out(tmp_path):
    config = tmp_path / "big.toml"
    spec = make_spec((64, 64, 64, 64), "relu", "cross_entropy", "trained")
    values = random_values(spec, seed=3)
    config.write_text(toml(spec, values))
    done = derive_cli("show", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("12480 trained parameters, more than the 150")
    assert "delta_h64 = " in done.stdout and "dE_total/dw12288 = delta_o64*a_k64" in done.stdout


def toml(spec, values) -> str:
    def numbers(xs):
        return "[" + ", ".join(repr(float(x)) for x in xs) + "]"

    return (
        f"[network]\nlayers = {list(spec.layers)}\nactivation = {list(spec.activations)}\n"
        f'loss = "{spec.loss}"\nbias = "{spec.bias}"\n[values]\n'
        f"inputs = {numbers(values.inputs)}\ntargets = {numbers(values.targets)}\n"
        f"weights = {numbers(values.weights)}\n"
        + (f"biases = {numbers(values.biases)}\n" if spec.bias != "none" else "")
    )


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_values_near_the_float_limit_give_valid_json_and_one_warning(activation, tmp_path):
    """Targets of 1e308 overflow the squared error: null in the JSON, named, one stderr line."""
    config = tmp_path / "huge.toml"
    spec = make_spec((2, 2, 2), activation, "half_sse", "none")
    values = random_values(spec, seed=1)
    config.write_text(
        toml(spec, values).replace(f"targets = [{float(values.targets[0])!r}", "targets = [1e308")
    )
    done = derive_cli("gradients", "--config", str(config), "--format", "json")
    report = json.loads(done.stdout)  # valid JSON: no Infinity or NaN
    assert done.returncode == 1
    assert report["loss"] is None and "E_total" in report["not_finite"]
    assert len(done.stderr.splitlines()) == 1 and "not finite" in done.stderr
    text = derive_cli("gradients", "--config", str(config))
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "E_total = inf" in text.stdout


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["half_sse", "mse", "cross_entropy"])
def test_table_at_the_float_limit_reports_instead_of_raising(activation, loss, tmp_path):
    """Values of 1e308 overflow Python floats too (** and math.exp raise OverflowError there):
    the table's printed loop must give inf or nan and name the run that diverged."""
    spec = make_spec((2, 3, 2), activation, loss, "trained")
    values = random_values(spec, seed=5)
    huge = replace(
        values,
        inputs=(1e308, *values.inputs[1:]),
        weights=(1e308, -1e308, *values.weights[2:]),
    )
    config = tmp_path / "huge.toml"
    config.write_text(toml(spec, huge))
    table = iteration_table(load_config(config), [0.5, 1e300], 5)
    assert table.divergences  # reported, not raised
    assert not np.isfinite(table.values).all()
