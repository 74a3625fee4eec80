"""Symbolic gradients against sympy.diff and finite differences (torch autograd: in
test_torch_reference.py, so that these run without torch)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.chain import gradients, proof_residual
from derive.config import NetworkSpec, Values, load_config
from derive.evaluate import evaluator_for, gradient_symbol, values_args
from derive.functions import lemmas
from derive.network import build_network
from derive.operations import ACTIVATIONS, OPERATIONS

pytestmark = pytest.mark.core

SHAPES = [(2, 2, 2), (3, 4, 2), (2, 3, 3, 2), (1, 2, 2, 3)]
LOSSES = ["half_sse", "mse", "cross_entropy"]
BIAS_MODES = ["none", "fixed", "trained"]


def make_spec(layers, activation, loss, bias) -> NetworkSpec:
    activations = [activation] * (len(layers) - 1)
    if loss == "cross_entropy":
        activations[-1] = "softmax"
    return NetworkSpec(tuple(layers), tuple(activations), loss, bias)


def random_values(spec: NetworkSpec, seed: int) -> Values:
    rng = np.random.default_rng(seed)
    targets = rng.uniform(0.05, 0.95, spec.layers[-1])
    if spec.loss == "cross_entropy":
        targets = targets / targets.sum()
    return Values(
        tuple(rng.uniform(-1, 1, spec.layers[0])),
        tuple(targets),
        tuple(rng.uniform(-1, 1, spec.n_weights)),
        tuple(rng.uniform(-0.5, 0.5, spec.n_biases)),
    )


def derived(spec: NetworkSpec, values: Values) -> tuple[float, np.ndarray]:
    evaluator = evaluator_for(spec)
    result = evaluator(*values_args(values))
    grads = [float(result[gradient_symbol(p)]) for p in evaluator.network.trained]
    return float(result[evaluator.network.loss]), np.array(grads)


def all_params(values: Values) -> np.ndarray:
    return np.array(values.weights + values.biases)


# Every shape with trained biases, and the classic shape in the other bias modes too.
CASES = [
    (layers, activation, loss, "trained")
    for layers in SHAPES
    for activation in ACTIVATIONS
    for loss in LOSSES
] + [
    ((2, 2, 2), activation, loss, bias)
    for activation in ACTIVATIONS
    for loss in LOSSES
    for bias in ("none", "fixed")
]


@pytest.mark.parametrize(("layers", "activation", "loss", "bias"), CASES)
def test_gradients_match_central_differences(layers, activation, loss, bias):
    spec = make_spec(layers, activation, loss, bias)
    values = random_values(spec, seed=7 + len(layers))
    _, grads = derived(spec, values)
    evaluator = evaluator_for(spec)
    network = evaluator.network
    base = np.array(values_args(values))
    offset = len(values.inputs) + len(values.targets)
    step = 1e-6
    numeric = []
    for j, _ in enumerate(network.trained):
        shifted = np.array([base, base])
        shifted[0, offset + j] += step
        shifted[1, offset + j] -= step
        plus, minus = evaluator(*shifted.T)[network.loss]
        numeric.append((plus - minus) / (2 * step))
    np.testing.assert_allclose(grads, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("layers", "activation", "loss", "bias"),
    [((2, 3, 2, 2), a, loss, "trained") for a in ACTIVATIONS for loss in LOSSES]
    + [((2, 2, 2), "sigmoid", "half_sse", bias) for bias in BIAS_MODES],
)
def test_every_closed_form_equals_sympy_diff(layers, activation, loss, bias):
    network = build_network(make_spec(layers, activation, loss, bias))
    for gradient in gradients(network):
        assert proof_residual(network, gradient) == 0, gradient.parameter


def test_function_derivatives_are_those_of_their_elementary_forms():
    assert lemmas() == dict.fromkeys(OPERATIONS, 0)


def test_a_wrong_closed_form_is_not_proven():
    network = build_network(make_spec((2, 2, 2), "sigmoid", "half_sse", "none"))
    gradient = gradients(network)[4]
    wrong = type(gradient)(gradient.parameter, gradient.chain[1:], gradient.sums)
    assert proof_residual(network, wrong) != 0


def test_classic_chain_for_w5_and_w1():
    network = build_network(load_config().network)
    by_name = {g.parameter.name: g for g in gradients(network)}
    w5 = by_name["w5"]
    assert [(f.of.name, f.by.name) for f in w5.chain] == [
        ("E_total", "a_o1"),
        ("a_o1", "o1"),
        ("o1", "w5"),
    ]
    a_o1, t1, a_h1 = sp.symbols("a_o1 t1 a_h1", real=True)
    assert sp.expand(w5.chain[0].value - (-(t1 - a_o1))) == 0
    assert sp.expand(w5.chain[1].value - a_o1 * (1 - a_o1)) == 0
    assert w5.chain[2].value == a_h1
    w1 = by_name["w1"]
    (path_sum,) = w1.sums
    assert (path_sum.of.name, path_sum.by.name) == ("E_total", "a_h1")
    assert [[(f.of.name, f.by.name) for f in path] for path in path_sum.paths] == [
        [("E_total", "a_o1"), ("a_o1", "o1"), ("o1", "a_h1")],
        [("E_total", "a_o2"), ("a_o2", "o2"), ("o2", "a_h1")],
    ]


def test_naming_and_weight_numbering_for_four_layers():
    network = build_network(make_spec((2, 3, 2, 2), "sigmoid", "half_sse", "trained"))
    assert [n.name for n in network.neurons] == ["h1", "h2", "h3", "k1", "k2", "o1", "o2"]
    routes = [(w.symbol.name, w.source.name, w.dest.name) for w in network.weights]
    assert routes[:4] == [
        ("w1", "i1", "h1"),
        ("w2", "i2", "h1"),
        ("w3", "i1", "h2"),
        ("w4", "i2", "h2"),
    ]
    assert routes[6:9] == [("w7", "a_h1", "k1"), ("w8", "a_h2", "k1"), ("w9", "a_h3", "k1")]
    assert [n.bias.name for n in network.neurons] == ["b1", "b2", "b3", "b4", "b5", "b6", "b7"]
