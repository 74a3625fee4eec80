"""Seconds for the iteration table against two hand-written loops of the same gradient descent.

All three run the classic 2-2-2 network for every learning rate at once (6 learning rates x
10,000 steps by default) and keep every value of every step, as the table does:
- table: derive.table.iteration_table, the backward program printed as a Python loop;
- numpy: the forward pass and the backward deltas written out by hand in NumPy;
- torch: the forward pass in torch (float64), gradients by autograd.
Then the table written as CSV (derive.table.csv_text), as `derive table` writes it.
Targets: the table within 1.5x of the hand-written NumPy loop; at 100,000 steps the table and its
CSV in a few seconds. Best of --repeat runs each.

    python benchmarks/table_speed.py [--steps 100000] [--repeat 3]
"""

import argparse
import time

import numpy as np
import torch

from derive.config import load_config
from derive.evaluate import evaluator_for
from derive.table import LEARNING_RATES, csv_text, iteration_table

COLUMNS = 33  # lr, step, t1, t2, i1, i2, w1..w8, h1.., a_o2, E1, E2, E_total, dE/dw1..dE/dw8


def stable_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def numpy_loop(values, lr: np.ndarray, steps: int) -> np.ndarray:
    """The classic sheet's math by hand: (lr, steps + 1, 33) in the table's column order."""
    i1, i2 = values.inputs
    t1, t2 = values.targets
    out = np.empty((steps + 1, COLUMNS, lr.size))
    out[:, 0] = lr
    out[:, 1] = np.arange(steps + 1)[:, None]
    out[:, 2:6] = np.array([t1, t2, i1, i2])[None, :, None]
    w = np.array(values.weights)[:, None] * np.ones(lr.size)
    for step in range(steps + 1):
        row = out[step]
        w1, w2, w3, w4, w5, w6, w7, w8 = w
        h1 = w1 * i1 + w2 * i2
        h2 = w3 * i1 + w4 * i2
        a_h1 = stable_sigmoid(h1)
        a_h2 = stable_sigmoid(h2)
        o1 = w5 * a_h1 + w6 * a_h2
        o2 = w7 * a_h1 + w8 * a_h2
        a_o1 = stable_sigmoid(o1)
        a_o2 = stable_sigmoid(o2)
        e1 = 0.5 * (t1 - a_o1) ** 2
        e2 = 0.5 * (t2 - a_o2) ** 2
        delta_o1 = (a_o1 - t1) * a_o1 * (1 - a_o1)
        delta_o2 = (a_o2 - t2) * a_o2 * (1 - a_o2)
        delta_h1 = (delta_o1 * w5 + delta_o2 * w7) * a_h1 * (1 - a_h1)
        delta_h2 = (delta_o1 * w6 + delta_o2 * w8) * a_h2 * (1 - a_h2)
        grads = (
            delta_h1 * i1,
            delta_h1 * i2,
            delta_h2 * i1,
            delta_h2 * i2,
            delta_o1 * a_h1,
            delta_o1 * a_h2,
            delta_o2 * a_h1,
            delta_o2 * a_h2,
        )
        row[6:10] = w[:4]
        row[10:14] = h1, a_h1, h2, a_h2
        row[14:18] = w[4:]
        row[18:25] = o1, a_o1, o2, a_o2, e1, e2, e1 + e2
        row[25:33] = grads
        if step < steps:
            w = w - lr * row[25:33]
    return out.transpose(2, 0, 1)


def torch_loop(values, lr: np.ndarray, steps: int) -> np.ndarray:
    """Forward in torch, gradients by autograd, every value kept: (lr, steps + 1, 33)."""
    i1, i2 = values.inputs
    t1, t2 = values.targets
    rate = torch.tensor(lr)
    out = torch.empty((steps + 1, COLUMNS, lr.size), dtype=torch.float64)
    out[:, 0] = rate
    out[:, 1] = torch.arange(steps + 1, dtype=torch.float64)[:, None]
    out[:, 2:6] = torch.tensor([t1, t2, i1, i2], dtype=torch.float64)[None, :, None]
    w = torch.tensor(values.weights, dtype=torch.float64)[:, None].repeat(1, lr.size)
    w.requires_grad_(True)
    for step in range(steps + 1):
        w1, w2, w3, w4, w5, w6, w7, w8 = w
        h1 = w1 * i1 + w2 * i2
        h2 = w3 * i1 + w4 * i2
        a_h1, a_h2 = torch.sigmoid(h1), torch.sigmoid(h2)
        o1 = w5 * a_h1 + w6 * a_h2
        o2 = w7 * a_h1 + w8 * a_h2
        a_o1, a_o2 = torch.sigmoid(o1), torch.sigmoid(o2)
        e1 = 0.5 * (t1 - a_o1) ** 2
        e2 = 0.5 * (t2 - a_o2) ** 2
        loss = e1 + e2
        # The runs are independent: the gradient of their sum is each run's own gradient.
        (grad,) = torch.autograd.grad(loss.sum(), w)
        with torch.no_grad():
            row = out[step]
            row[6:10] = w[:4]
            row[10:14] = torch.stack((h1, a_h1, h2, a_h2))
            row[14:18] = w[4:]
            row[18:25] = torch.stack((o1, a_o1, o2, a_o2, e1, e2, loss))
            row[25:33] = grad
            if step < steps:
                w -= rate * grad
    return out.numpy().transpose(2, 0, 1)


def best_seconds(run, repeat: int):
    """The shortest of `repeat` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="steps (default: 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default: 3)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config()
    lr = np.array(LEARNING_RATES)

    start = time.perf_counter()
    evaluator = evaluator_for(config.network)
    derive_s = time.perf_counter() - start
    table_s, table = best_seconds(
        lambda: iteration_table(config, LEARNING_RATES, args.steps, evaluator), args.repeat
    )
    csv_s, text = best_seconds(lambda: csv_text(table), args.repeat)
    numpy_s, by_hand = best_seconds(lambda: numpy_loop(config.values, lr, args.steps), args.repeat)
    torch_s, by_torch = best_seconds(lambda: torch_loop(config.values, lr, args.steps), args.repeat)

    # Same numbers from all three, or the timings mean nothing.
    np.testing.assert_allclose(table.values, by_hand, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(table.values, by_torch, rtol=1e-9, atol=1e-12)

    print(
        f"{len(lr)} learning rates x {args.steps} steps, classic 2-2-2 network, best of "
        f"{args.repeat}"
    )
    print(f"derive + compile (once): {derive_s:8.3f} s")
    print(f"table                  : {table_s:8.3f} s   {table_s / numpy_s:5.2f}x numpy")
    print(f"table as CSV (text)    : {csv_s:8.3f} s   {len(text) / 1e6:.0f} MB")
    print(f"table + CSV            : {table_s + csv_s:8.3f} s")
    print(f"hand-written numpy     : {numpy_s:8.3f} s   {1:5.2f}x numpy")
    print(f"torch autograd         : {torch_s:8.3f} s   {torch_s / numpy_s:5.2f}x numpy")
    verdict = "met" if table_s <= 1.5 * numpy_s else "MISSED"
    print(f"target table <= 1.5x numpy: {verdict}")


if __name__ == "__main__":
    main()
