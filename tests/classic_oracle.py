"""The classic 2-2-2 sigmoid network worked out in plain Python: no SymPy, no NumPy, no project
code, only the arithmetic a reader can check by hand. The tests compare the project with it.

Weights are numbered as everywhere in the project (and in Matt Mazur's post): w1 = i1->h1,
w2 = i2->h1, w3 = i1->h2, w4 = i2->h2, w5 = h1->o1, w6 = h2->o1, w7 = h1->o2, w8 = h2->o2;
biases b1, b2 of h1, h2 and b3, b4 of o1, o2, held fixed;
E_total = 1/2 (t1 - o1)^2 + 1/2 (t2 - o2)^2.
"""

from __future__ import annotations

import math

INPUTS = (0.05, 0.1)
TARGETS = (0.01, 0.99)
WEIGHTS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55)
NO_BIASES = (0.0, 0.0, 0.0, 0.0)
MAZUR_BIASES = (0.35, 0.35, 0.6, 0.6)  # his b1 = 0.35 for both hidden, b2 = 0.60 for both outputs


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def forward(w, b=NO_BIASES) -> tuple[float, float, float, float]:
    """The activations (h1, h2, o1, o2)."""
    i1, i2 = INPUTS
    h1 = sigmoid(w[0] * i1 + w[1] * i2 + b[0])
    h2 = sigmoid(w[2] * i1 + w[3] * i2 + b[1])
    o1 = sigmoid(w[4] * h1 + w[5] * h2 + b[2])
    o2 = sigmoid(w[6] * h1 + w[7] * h2 + b[3])
    return h1, h2, o1, o2


def total_error(w, b=NO_BIASES) -> float:
    _, _, o1, o2 = forward(w, b)
    return 0.5 * (TARGETS[0] - o1) ** 2 + 0.5 * (TARGETS[1] - o2) ** 2


def gradients(w, b=NO_BIASES) -> list[float]:
    """dE_total/dw1 ... dE_total/dw8, by the chain rule written out."""
    i1, i2 = INPUTS
    h1, h2, o1, o2 = forward(w, b)
    d1 = (o1 - TARGETS[0]) * o1 * (1 - o1)  # dE_total/d(net input of o1)
    d2 = (o2 - TARGETS[1]) * o2 * (1 - o2)
    e1 = (d1 * w[4] + d2 * w[6]) * h1 * (1 - h1)  # dE_total/d(net input of h1), both paths
    e2 = (d1 * w[5] + d2 * w[7]) * h2 * (1 - h2)
    return [e1 * i1, e1 * i2, e2 * i1, e2 * i2, d1 * h1, d1 * h2, d2 * h1, d2 * h2]


def descend(lr: float, steps: int, w=WEIGHTS, b=NO_BIASES) -> list[tuple[float, ...]]:
    """The weights before each update and after the last: steps + 1 tuples."""
    history = [tuple(w)]
    for _ in range(steps):
        w = tuple(wj - lr * gj for wj, gj in zip(w, gradients(w, b), strict=True))
        history.append(w)
    return history
