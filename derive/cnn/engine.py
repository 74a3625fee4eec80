"""Backpropagation through a CNN as array operations: each layer's forward pass beside its backward.

Like micrograd, one small pair of functions per operation (OPS), on NumPy arrays of a batch of
images (N, C, H, W). `forward` keeps what each layer received; `backward` walks the layers in
reverse, each turning dE/d(its output) into dE/d(its input) and the gradients of its own arrays.
The rules are those derive/cnn/symbolic.py derives with SymPy, scalar by scalar, on a small net:

- convolution: dE/dK = sum over output positions of delta x the input patch there; dE/dx = the
  full correlation of the deltas (zero-padded by kernel - 1) with the kernel flipped;
- max-pool: each window's delta goes to its winner (the first maximum, as torch picks), 0 elsewhere;
- ReLU: delta x 1[z > 0]; BatchNorm (evaluation): an affine map, delta x gamma / sqrt(var + eps);
- global average pool: delta / (H W) to every position; dense: dE/dW = delta x input (an outer
  product), dE/dx = W^T delta;
- softmax with cross-entropy: dE/dz = (p - t) / N for the mean loss over a batch of N.

A pass costs a few multiply-adds per weight and output position: linear in the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from derive.cnn.spec import CNNSpec, Layer

Arrays = dict[str, np.ndarray]


def patches(x: np.ndarray, kernel: int, padding: int) -> np.ndarray:
    """(N, C, H', W', k, k): every k x k window of x, zero-padded by `padding` on each side."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return sliding_window_view(x, (kernel, kernel), axis=(2, 3))


def grouped(windows: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, ...) -> (N, groups, C / groups, ...)."""
    n, c = windows.shape[:2]
    return windows.reshape(n, groups, c // groups, *windows.shape[2:])


def kernel_groups(weight: np.ndarray, groups: int) -> np.ndarray:
    """(out, in / groups, k, k) -> (groups, out / groups, in / groups, k, k)."""
    return weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])


def conv_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    g = layer.groups
    windows = grouped(patches(x, layer.kernel, layer.padding), g)
    kernels = kernel_groups(p["weight"], g)  # (groups, out / groups, in / groups, k, k)
    out = np.einsum("ngchwuv,gocuv->ngohw", windows, kernels, optimize=True)
    out = out.reshape(x.shape[0], layer.channels, *out.shape[3:])
    return out + p["bias"][None, :, None, None] if layer.bias else out


def conv_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    g, k = layer.groups, layer.kernel
    deltas = grouped(dy, g)
    windows = grouped(patches(x, k, layer.padding), g)
    # dE/dK[o, c, u, v] = sum over images and positions (i, j) of delta[o, i, j] x[c, i+u, j+v]
    d_kernel = np.einsum("ngohw,ngchwuv->gocuv", deltas, windows, optimize=True)
    # dE/dx[c, a, b] = sum over o, u, v of delta[o, a-u, b-v] K[o, c, u, v]: the deltas padded by
    # k - 1 and correlated with the flipped kernel; then the forward padding is cut off again.
    flipped = kernel_groups(p["weight"][:, :, ::-1, ::-1], g)
    spread = grouped(patches(dy, k, k - 1), g)
    dx = np.einsum("ngohwuv,gocuv->ngchw", spread, flipped, optimize=True)
    dx = dx.reshape(x.shape[0], x.shape[1], *dx.shape[3:])
    q = layer.padding
    dx = dx[:, :, q : dx.shape[2] - q, q : dx.shape[3] - q]
    grads = {"weight": d_kernel.reshape(p["weight"].shape)}
    if layer.bias:
        grads["bias"] = dy.sum(axis=(0, 2, 3))
    return dx, grads


def pool_windows(x: np.ndarray) -> np.ndarray:
    """(N, C, H/2, W/2, 4): each 2x2 window's four values, row by row (odd edges dropped)."""
    n, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
    return x.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)


def maxpool_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    return pool_windows(x).max(axis=-1)


def maxpool_winners(x: np.ndarray) -> np.ndarray:
    """1 at each window's first maximum, 0 elsewhere, shaped as x (odd edges 0)."""
    windows = pool_windows(x)
    one_hot = np.eye(4)[windows.argmax(axis=-1)]  # argmax: the first maximum, as torch
    n, c, h2, w2 = one_hot.shape[:4]
    spread = one_hot.reshape(n, c, h2, w2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    mask = np.zeros_like(x)
    mask[:, :, : h2 * 2, : w2 * 2] = spread.reshape(n, c, h2 * 2, w2 * 2)
    return mask


def maxpool_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    up = np.zeros_like(x)
    h2, w2 = dy.shape[2:]
    up[:, :, : h2 * 2, : w2 * 2] = dy.repeat(2, axis=2).repeat(2, axis=3)
    return up * maxpool_winners(x), {}


def relu_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    return np.maximum(x, 0.0)


def relu_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    return dy * (x > 0), {}  # 0 at x = 0, as torch takes it


def per_channel(v: np.ndarray) -> np.ndarray:
    return v[None, :, None, None]


def batchnorm_scale(p: Arrays, layer: Layer) -> np.ndarray:
    """gamma / sqrt(var + eps): evaluation-mode BatchNorm is x -> scale (x - mean) + beta."""
    return p["weight"] / np.sqrt(p["running_var"] + layer.eps)


def batchnorm_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    scale = batchnorm_scale(p, layer)
    return per_channel(scale) * (x - per_channel(p["running_mean"])) + per_channel(p["bias"])


def batchnorm_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    normalised = (x - per_channel(p["running_mean"])) / per_channel(
        np.sqrt(p["running_var"] + layer.eps)
    )
    grads = {"weight": (dy * normalised).sum(axis=(0, 2, 3)), "bias": dy.sum(axis=(0, 2, 3))}
    return dy * per_channel(batchnorm_scale(p, layer)), grads


def gap_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    return x.mean(axis=(2, 3))


def gap_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    h, w = x.shape[2:]
    return np.broadcast_to(dy[:, :, None, None] / (h * w), x.shape).copy(), {}


def dense_forward(x: np.ndarray, p: Arrays, layer: Layer) -> np.ndarray:
    out = x.reshape(x.shape[0], -1) @ p["weight"].T
    return out + p["bias"] if layer.bias else out


def dense_backward(x: np.ndarray, p: Arrays, layer: Layer, dy: np.ndarray):
    flat = x.reshape(x.shape[0], -1)
    grads = {"weight": dy.T @ flat}
    if layer.bias:
        grads["bias"] = dy.sum(axis=0)
    return (dy @ p["weight"]).reshape(x.shape), grads


@dataclass(frozen=True)
class Op:
    forward: Callable[[np.ndarray, Arrays, Layer], np.ndarray]
    backward: Callable[[np.ndarray, Arrays, Layer, np.ndarray], tuple[np.ndarray, Arrays]]


OPS = {
    "conv": Op(conv_forward, conv_backward),
    "maxpool": Op(maxpool_forward, maxpool_backward),
    "relu": Op(relu_forward, relu_backward),
    "batchnorm": Op(batchnorm_forward, batchnorm_backward),
    "gap": Op(gap_forward, gap_backward),
    "dense": Op(dense_forward, dense_backward),
}


def log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class ForwardPass:
    inputs: tuple[np.ndarray, ...]  # what each layer received; inputs[0] is the images
    logits: np.ndarray  # (N, classes), the last layer's output z
    probabilities: np.ndarray  # softmax(z)
    loss: float  # mean over the batch of -sum_k t_k ln p_k


@dataclass(frozen=True)
class BackwardPass:
    deltas: tuple[np.ndarray, ...]  # dE/d(output) of each layer, in layer order
    input_gradient: np.ndarray  # dE/d(images)
    gradients: dict[str, Arrays]  # layer name -> array name -> dE/d(array)


def forward(
    spec: CNNSpec, arrays: dict[str, Arrays], images: np.ndarray, targets: np.ndarray
) -> ForwardPass:
    """The network on a batch of images (N, C, H, W) with targets (N, classes)."""
    x = np.asarray(images, dtype=float)
    received = []
    for layer in spec.layers:
        received.append(x)
        x = OPS[layer.kind].forward(x, arrays.get(layer.name, {}), layer)
    logits = x.reshape(x.shape[0], -1)
    log_p = log_softmax(logits)
    loss = float(-(targets * log_p).sum() / logits.shape[0]) + 0.0  # + 0.0: no -0.0
    return ForwardPass(tuple(received), logits, np.exp(log_p), loss)


def backward(
    spec: CNNSpec, arrays: dict[str, Arrays], run: ForwardPass, targets: np.ndarray
) -> BackwardPass:
    """Every gradient of the mean cross-entropy, from the softmax down to the images."""
    n = run.logits.shape[0]
    # dE/dz_k = p_k sum_j t_j - t_k (SymPy's result, derive/cnn/symbolic.py): p - t for targets
    # that sum to 1; divided by N for the mean over the batch.
    dy = (run.probabilities * targets.sum(axis=1, keepdims=True) - targets) / n
    deltas: list[np.ndarray] = []
    gradients: dict[str, Arrays] = {}
    for layer, x in zip(reversed(spec.layers), reversed(run.inputs), strict=True):
        deltas.append(dy)
        dy, grads = OPS[layer.kind].backward(x, arrays.get(layer.name, {}), layer, dy)
        if layer.name:
            gradients[layer.name] = grads
    return BackwardPass(tuple(reversed(deltas)), dy, gradients)


def gradient_vector(spec_order: dict[str, np.ndarray], gradients: dict[str, Arrays]) -> np.ndarray:
    """The gradients flattened in the order of `spec_order` ("layer.array" -> array)."""
    parts = []
    for key in spec_order:
        name, array = key.split(".")
        parts.append(gradients[name][array].ravel())
    return np.concatenate(parts) if parts else np.zeros(0)
