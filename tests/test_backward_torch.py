"""The backward program at every allowed size against torch autograd (float64): random networks of
two to four layers up to 32x32x32x32, every activation and loss. Kept apart from the derive tests,
which run without torch too."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from test_derive import make_spec, random_values
from test_torch_reference import torch_loss

from derive.evaluate import evaluator_for, gradient_symbol, values_args

# (layers, activation, loss, bias): wide and deep, each function and loss at least once.
NETWORKS = [
    ((5, 7, 3), "tanh", "mse", "trained"),
    ((8, 6, 5, 4), "relu", "cross_entropy", "trained"),
    ((16, 12, 9, 10), "sigmoid", "half_sse", "fixed"),
    ((20, 17, 6), "linear", "cross_entropy", "none"),
    ((32, 32, 32, 32), "sigmoid", "half_sse", "trained"),
    ((32, 32, 32, 32), "tanh", "cross_entropy", "trained"),
]


@pytest.mark.parametrize(
    ("layers", "activation", "loss", "bias"), NETWORKS, ids=lambda v: "x".join(map(str, v))
)
def test_backward_program_equals_torch_autograd(layers, activation, loss, bias):
    spec = make_spec(layers, activation, loss, bias)
    values = random_values(spec, seed=zlib.crc32(repr((layers, activation, loss)).encode()))
    evaluator = evaluator_for(spec)
    result = evaluator(*values_args(values))
    network = evaluator.network

    params = torch.tensor(values.weights + values.biases, dtype=torch.float64, requires_grad=True)
    expected = torch_loss(spec, values, params[: spec.n_weights], params[spec.n_weights :])
    expected.backward()
    grads = np.array([float(result[gradient_symbol(p)]) for p in network.trained])
    assert float(result[network.loss]) == pytest.approx(expected.item(), rel=1e-10)
    reference = params.grad.numpy()[: len(network.trained)]
    # rel 1e-10 of each gradient, or of the largest for those that nearly cancel to 0.
    np.testing.assert_allclose(grads, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())
