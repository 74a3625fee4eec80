"""Time the backward program as networks grow: derive, compile, evaluate, and the proofs.

    python benchmarks/derive_scaling.py [--shapes 2,2,2 10,8,2 ...] [--repeat 3]

One row per network (sigmoid, half the squared error, trained biases): trained parameters;
seconds to build the network and derive its backward program (SymPy); to compile it (printed as
NumPy and compiled); to evaluate it once at random values; their total and its microseconds per
weight (flat when the cost is linear in the weights); the program's operations per weight; and,
for networks small enough for closed forms (chain.CLOSED_FORM_MAX_PARAMETERS), seconds to derive
every closed form and prove it equal to sympy.diff. Best of --repeat runs, each in this process
with SymPy's cache cleared first, so that no run reuses another's work.
Targets: 64x64x64x64 under 10 s (`derive gradients`, imports included), and time per weight
within 3x from 100 to 12,000 weights.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sympy.core.cache import clear_cache

from derive.backward import activation_derivative, backward_program
from derive.chain import closed_forms_made, gradients, proof_residual
from derive.config import NetworkSpec
from derive.evaluate import compile_program
from derive.network import build_network

SHAPES = ["2,2,2", "10,8,2", "16,16,16,16", "32,32,32,32", "64,64,64", "64,64,64,64"]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def prove_all(network) -> list:
    """Derive every closed form and prove it; the parameters whose proof fails."""
    return [g.parameter for g in gradients(network) if proof_residual(network, g) != 0]


def measure(spec: NetworkSpec, repeat: int) -> dict:
    best = {"derive": np.inf, "compile": np.inf, "evaluate": np.inf}
    for _ in range(repeat):
        clear_cache()
        activation_derivative.cache_clear()
        start = time.perf_counter()
        network = build_network(spec)
        program = backward_program(network)
        best["derive"] = min(best["derive"], time.perf_counter() - start)
        evaluator, seconds = timed(compile_program, network, program)
        best["compile"] = min(best["compile"], seconds)
        args = np.random.default_rng(0).uniform(-1, 1, len(network.values_args))
        _, seconds = timed(evaluator, *args)
        best["evaluate"] = min(best["evaluate"], seconds)
    best["operations"] = program.operations
    best["trained"] = len(network.trained)
    best["proof"] = None
    if closed_forms_made(network):
        unproven, best["proof"] = timed(prove_all, network)
        assert not unproven, f"not proven: {unproven}"
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="layer sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default: 3)")
    args = parser.parse_args()
    print(
        "| layers | weights | trained | derive (s) | compile (s) | evaluate (s) | total (s) "
        "| total per weight (µs) | operations per weight | proofs (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape in args.shapes:
        layers = tuple(int(n) for n in shape.split(","))
        spec = NetworkSpec(layers, ("sigmoid",) * (len(layers) - 1), "half_sse", "trained")
        m = measure(spec, args.repeat)
        total = m["derive"] + m["compile"] + m["evaluate"]
        proof = "—" if m["proof"] is None else f"{m['proof']:.2f}"
        print(
            f"| {'-'.join(map(str, layers))} | {spec.n_weights} | {m['trained']} "
            f"| {m['derive']:.3f} | {m['compile']:.3f} | {m['evaluate']:.4f} | {total:.3f} "
            f"| {1e6 * total / spec.n_weights:.0f} | {m['operations'] / spec.n_weights:.1f} "
            f"| {proof} |"
        )


if __name__ == "__main__":
    main()
