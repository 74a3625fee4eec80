"""The derivation against torch autograd (float64): every gradient of every network shape, and
gradient descent step by step. Kept apart from the derive tests, which run without torch too."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from test_derive import CASES, all_params, derived, make_spec, random_values
from test_table import STABLE_SHAPES, shape_id

from derive.config import Config, NetworkSpec, Values, load_config
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
