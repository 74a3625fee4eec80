"""Time derive (backward deltas + closed forms) and the proof against sympy.diff as networks grow.

    python benchmarks/derive_scaling.py [--shapes 2,2,2 8,8,4 30,25,10]

Prints one row per network: weights, seconds to derive, seconds to prove every closed form, and
the proof's milliseconds per weight (flat when the proof's cost grows linearly). Each proof writes
E_total out in one weight, so its cost grows with the neurons that weight reaches: the default
shapes keep the classic net's two outputs while the weights grow tenfold each time.
"""

from __future__ import annotations

import argparse
import time

from derive.chain import gradients, proof_residual
from derive.config import NetworkSpec
from derive.network import build_network


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def prove_all(network, derived) -> list:
    return [g.parameter for g in derived if proof_residual(network, g) != 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["2,2,2", "10,8,2", "40,24,2"],
        help="layer sizes, comma-separated (default: 2,2,2 10,8,2 40,24,2: 8, 96, 1008 weights)",
    )
    args = parser.parse_args()
    print("| layers | weights | derive (s) | proof (s) | proof per weight (ms) |")
    print("|---|---:|---:|---:|---:|")
    for shape in args.shapes:
        layers = tuple(int(n) for n in shape.split(","))
        spec = NetworkSpec(layers, ("sigmoid",) * (len(layers) - 1), "half_sse", "none")
        network, _ = timed(build_network, spec)
        derived, derive_s = timed(gradients, network)
        unproven, proof_s = timed(prove_all, network, derived)
        assert not unproven, f"not proven: {unproven}"
        n = len(derived)
        print(f"| {shape} | {n} | {derive_s:.3f} | {proof_s:.2f} | {1000 * proof_s / n:.1f} |")


if __name__ == "__main__":
    main()
