"""The column labels course sheets use, mapped to the network's symbol names.

A label is compared after `normalize`: lower case, without spaces, underscores and brackets, with
the Greek and calculus letters spelled out, so "E total", "E_total" and "e_Total" are one label.
The keys returned are symbol names as in network.py ("a_h1", "E_total", "dE_total/dw1"), plus
"lr" and "step" for the learning rate and the step number.
"""

from __future__ import annotations

from derive.evaluate import gradient_symbol
from derive.network import Network

LR = "lr"
STEP = "step"

LR_ALIASES = ("lr", "eta", "η", "alpha", "α", "learning rate", "learningrate")
STEP_ALIASES = ("step", "steps", "iteration", "iter", "epoch")
LOSS_ALIASES = ("E_total", "E_tot", "E total", "Total Error", "Etotal", "total loss", "loss")
# The left side of a gradient label: dE/dw1, dE_total/dw1, dE_t/dw1, ∂E/∂w1, ∂E_tot/∂w1.
GRADIENT_HEADS = ("dE", "dE_total", "dE_tot", "dE_t", "dEtotal")
NET_PREFIXES = ("", "net_", "net ", "z_")
OUT_PREFIXES = ("a_", "out_", "out ", "sigma_", "σ_", "σ", "y_")
SPELLED = {"∂": "d", "σ": "sigma", "η": "eta", "α": "alpha", "δ": "delta"}


def normalize(label: str) -> str:
    """The label as it is compared: 'E Total' -> 'etotal', '∂E/∂w1' -> 'de/dw1'."""
    text = label.strip().lower()
    for letter, spelled in SPELLED.items():
        text = text.replace(letter, spelled)
    return "".join(c for c in text if not c.isspace() and c not in "_()[]{}")


def aliases(network: Network) -> dict[str, str]:
    """Every accepted label, normalized, mapped to its key (a symbol name, "lr" or "step")."""
    names: dict[str, str] = {}

    def add(key: str, *labels: str) -> None:
        for label in labels:
            names.setdefault(normalize(label), key)

    add(LR, *LR_ALIASES)
    add(STEP, *STEP_ALIASES)
    for j, symbol in enumerate(network.inputs, start=1):
        add(symbol.name, symbol.name, f"x{j}", f"input{j}")
    for j, symbol in enumerate(network.targets, start=1):
        add(symbol.name, symbol.name, f"target{j}")
    for symbol in (*network.weight_symbols, *network.biases):
        add(symbol.name, symbol.name)
    for neuron in network.neurons:
        add(neuron.net.name, *(p + neuron.name for p in NET_PREFIXES))
        add(neuron.out.name, *(p + neuron.name for p in OUT_PREFIXES))
    for error, neuron in zip(network.errors, network.outputs, strict=True):
        # Some sheets name an output's error after the neuron: E_o1.
        add(error.name, error.name, f"E_{neuron.name}")
    add(network.loss.name, *LOSS_ALIASES)
    for parameter in network.trained:
        key = gradient_symbol(parameter).name
        add(key, *(f"{head}/d{parameter.name}" for head in GRADIENT_HEADS))
        add(key, f"grad {parameter.name}", f"grad_{parameter.name}")
    return names
