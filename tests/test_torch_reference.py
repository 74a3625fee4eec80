"""The derivation against torch autograd (float64): every gradient of every network shape,
gradient descent step by step, and each operation of derive/operations.py with its derivative.
Kept apart from the derive tests, which run without torch too."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import sympy as sp
import torch
from test_derive import CASES, all_params, derived, make_spec, random_values
from test_operations import LIMITS, ORDINARY, arguments, close, exact
from test_table import STABLE_SHAPES, shape_id

from derive.config import Config, NetworkSpec, Values, load_config
from derive.functions import X, Y, definition, derivative, elementary
from derive.operations import OPERATIONS
from derive.table import iteration_table

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": torch.nn.functional.leaky_relu,  # negative_slope 0.01
    "linear": lambda z: z,
    "softmax": lambda z: z,  # the cross-entropy loss takes log_softmax of the logits
}


def torch_loss(spec: NetworkSpec, values: Values, weights, biases) -> torch.Tensor:
    """The same network written directly in torch: weights row-major (destination, source)."""
    a = torch.tensor(values.inputs, dtype=torch.float64)
    w_at = b_at = 0
    for size_in, size_out, activation in zip(
        spec.layers, spec.layers[1:], spec.activations, strict=False
    ):
        w = weights[w_at : w_at + size_in * size_out].reshape(size_out, size_in)
        w_at += size_in * size_out
        z = w @ a
        if spec.bias != "none":
            z = z + biases[b_at : b_at + size_out]
            b_at += size_out
        a = ACTIVATIONS[activation](z)
    t = torch.tensor(values.targets, dtype=torch.float64)
    if spec.loss == "half_sse":
        return 0.5 * ((t - a) ** 2).sum()
    if spec.loss == "mse":
        return ((t - a) ** 2).mean()
    return -(t * torch.log_softmax(a, dim=0)).sum()


@pytest.mark.parametrize(("layers", "activation", "loss", "bias"), CASES)
def test_gradients_match_torch_autograd(layers, activation, loss, bias):
    spec = make_spec(layers, activation, loss, bias)
    values = random_values(spec, seed=zlib.crc32(repr((layers, activation, loss, bias)).encode()))
    params = torch.tensor(all_params(values), dtype=torch.float64, requires_grad=True)
    expected_loss = torch_loss(spec, values, params[: spec.n_weights], params[spec.n_weights :])
    expected_loss.backward()
    n_trained = spec.n_weights + (spec.n_biases if bias == "trained" else 0)
    loss_value, grads = derived(spec, values)
    assert loss_value == pytest.approx(expected_loss.item(), rel=1e-10, abs=1e-15)
    np.testing.assert_allclose(grads, params.grad.numpy()[:n_trained], rtol=1e-10, atol=1e-15)


def torch_descent(config: Config, lr: float, steps: int) -> tuple[list, list]:
    """E_total and the flat parameters at every step, from torch autograd and plain SGD."""
    spec, values = config.network, config.values
    weights = torch.tensor(values.weights, dtype=torch.float64)
    biases = torch.tensor(values.biases or [0.0] * spec.n_biases, dtype=torch.float64)
    trained = [weights, biases] if spec.bias == "trained" else [weights]
    for p in trained:
        p.requires_grad_(True)
    losses, params = [], []
    for _ in range(steps + 1):
        loss = torch_loss(spec, values, weights, biases)
        losses.append(loss.item())
        params.append(torch.cat([p.detach() for p in trained]).tolist())
        for p in trained:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in trained:
                p -= lr * p.grad
    return losses, params


@pytest.mark.parametrize("path", STABLE_SHAPES, ids=shape_id)
def test_descent_matches_torch_autograd(path):
    config = load_config(path)
    lrs, steps = [0.3, 1.5], 20
    table = iteration_table(config, lrs, steps)
    trained = [table.names.index(p.name) for p in table.evaluator.network.trained]
    for k, lr in enumerate(lrs):
        losses, params = torch_descent(config, lr, steps)
        np.testing.assert_allclose(
            table.values[k, :, table.names.index("E_total")], losses, rtol=1e-10, atol=1e-15
        )
        np.testing.assert_allclose(table.values[k][:, trained], params, rtol=1e-10, atol=1e-14)


# Each operation of derive/operations.py as torch computes it (autograd for its derivative).
TORCH_OPERATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": torch.nn.functional.leaky_relu,
    "linear": lambda x: x,
    "step": lambda x: (x > 0).to(x.dtype),
    "logsumexp": lambda x, y: torch.logsumexp(torch.stack([x, y]), dim=0),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_definition_is_torchs(name):
    points = [arguments(name, x) for x in ORDINARY + LIMITS]
    for p in points:
        tensors = [torch.tensor(a, dtype=torch.float64) for a in p]
        want = float(TORCH_OPERATIONS[name](*tensors))
        assert close(exact(name, p), want), (name, p)


@pytest.mark.parametrize("name", [n for n in OPERATIONS if n != "step"])
def test_derivative_is_torch_autograds(name):
    """The record's derivative, in x and y = f(x), against autograd at the ordinary points (0,
    ReLU's kink, included: both take the slope from the left there)."""
    for value in ORDINARY:
        p = arguments(name, value)
        tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in p]
        (slope,) = torch.autograd.grad(TORCH_OPERATIONS[name](*tensors), tensors[0])
        y = definition(name, tuple(sp.Float(a, 40) for a in p))
        mine = elementary(derivative(name)).xreplace({X: sp.Float(p[0], 40), Y: y})
        assert math.isclose(float(sp.N(mine, 30)), float(slope), rel_tol=1e-12), (name, p)
