"""Time derive's CNN backward program (derive/cnn/engine.py) on the project's models, and show that
its cost grows linearly: per model, one image and a batch, and a family of nano-shaped nets whose
width (so parameter count) grows. Prints a table; run by hand (python benchmarks/cnn_gradient.py).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from derive.cnn import engine
from derive.cnn.spec import CNNSpec, Layer
from mnist.derive_spec import derive_network
from mnist.model import ARCHS, build_model


def best_of(repeats: int, run) -> float:
    """The fastest of `repeats` runs, seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def gradient_seconds(spec: CNNSpec, arrays: dict, batch: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (batch, *spec.input_shape))
    targets = np.eye(spec.n_classes)[rng.integers(0, spec.n_classes, batch)]

    def run():
        engine.backward(spec, arrays, engine.forward(spec, arrays, images, targets), targets)

    run()  # warm-up: einsum's paths
    return best_of(repeats, run)


def widened(width: int) -> tuple[CNNSpec, dict]:
    """A plain conv stack of `width` channels on a 28x28 image: parameters grow as width^2."""
    layers = (
        Layer("conv", "c1", channels=width, kernel=3),
        Layer("relu"),
        Layer("conv", "c2", channels=width, kernel=3),
        Layer("relu"),
        Layer("maxpool"),
        Layer("conv", "c3", channels=width, kernel=3),
        Layer("relu"),
        Layer("conv", "head", channels=10, kernel=1),
        Layer("gap"),
    )
    spec = CNNSpec((1, 28, 28), layers)
    rng = np.random.default_rng(1)
    arrays = {
        name: {k: rng.normal(0, 0.1, s) for k, s in shapes.items()}
        for name, shapes in spec.array_shapes().items()
    }
    return spec, arrays


def count(arrays: dict) -> int:
    return sum(a.size for group in arrays.values() for k, a in group.items() if "running" not in k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (NumPy: its own)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| network | parameters | batch | ms per pass | µs per image | ns per parameter-image |")
    print("|---|--:|--:|--:|--:|--:|")
    rows = []
    for name in sorted(ARCHS):
        spec, arrays = derive_network(build_model(name).double().eval())
        rows += [(name, spec, arrays, batch) for batch in (1, 32)]
    for width in (4, 8, 16, 32):
        spec, arrays = widened(width)
        rows.append((f"plain x{width}", spec, arrays, 32))
    for label, spec, arrays, batch in rows:
        seconds = gradient_seconds(spec, arrays, batch, args.repeats)
        n = count(arrays)
        print(
            f"| {label} | {n:,} | {batch} | {seconds * 1e3:.2f} | {seconds / batch * 1e6:.0f} "
            f"| {seconds / batch / n * 1e9:.1f} |"
        )


if __name__ == "__main__":
    main()
