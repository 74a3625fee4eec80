"""The labels course sheets give their columns, mapped to the network's symbol names.

A label is compared after `normalize`: lower case, without spaces, underscores and brackets, with
Greek and calculus letters spelled out (∂, its mathematical-alphabet forms such as 𝟃, and δ read
as d, η and its look-alike ͷ as eta), so "E_tot", "E tot" and "e_TOT" are one label. Each kind of
label is a pattern over that text, so every spelling course sheets use is one rule, not a list of
cases:

- gradients: ∂E/∂w1, δE_tot/δw1, ∂E∂W1, dE_T/dw1, Etotaldw1, E∂w1, dw1, grad w1, Etotal_w1;
- activations: a_h1, act_h1, out_h1, σ(h1), sigmoid(h1); weighted inputs: h1, net_h1, z_h1;
- losses: E_total, E_tot, E_T, Etotal, Total Error, loss; output errors: E1, E_o1;
- the learning rate: lr, η, eta, α, alpha, learning rate, learningRate, LR (η), with or without
  a trailing = or :.

Keys are symbol names as in network.py ("a_h1", "E_total", "dE_total/dw1"), "lr" and "step".
"""

from __future__ import annotations

import re
import unicodedata

from derive.backward import softmax_symbols
from derive.evaluate import gradient_symbol
from derive.network import Network

LR = "lr"
STEP = "step"

SPELLED = {"∂": "d", "δ": "d", "σ": "sigma", "η": "eta", "ͷ": "eta", "α": "alpha", "·": ""}
LOSS_NAMES = r"(?:e|etotal|etot|et|total|totalerror|error|err|loss|l|j|c|cost)"
# The loss's name run into the weight's (Etotal_w1, E_w1) reads as that gradient too.
GRADIENT = re.compile(
    rf"^(?:grad|gradient|d?{LOSS_NAMES}?/?d|{LOSS_NAMES}(?:wrt)?)(?P<name>[wb]\d+)$"
)
ACTIVATION = re.compile(
    r"^(?:a|act|activation|out|output|sigma|sigmoid|s|y|f)(?P<name>[a-z]\d+)$"
    r"|^(?P<after>[a-z]\d+)(?:out|act)$"
)
NET = re.compile(r"^(?:net|z|in|netin)?(?P<name>[a-z]\d+)$|^(?P<after>[a-z]\d+)(?:net|in)$")
# A neuron's delta, dE_total/d(its weighted input): delta_h1, δh1, ∂E/∂o1.
DELTA = re.compile(rf"^(?:delta|d{LOSS_NAMES}?/?d)(?P<name>[a-z]\d+)$")
ERROR = re.compile(r"^(?:e|err|error|loss)(?:o)?(?P<j>\d+)$")
LOSS = re.compile(r"^(?:etotal|etot|et|totalerror|totalloss|loss|etotalerror|cost)$")
INPUT = re.compile(r"^(?:i|x|in|input)(?P<j>\d+)$")
TARGET = re.compile(r"^(?:t|target|tgt|ytrue)(?P<j>\d+)$")
PARAMETER = re.compile(r"^(?P<name>[wb]\d+)$")
# A learning-rate label is its names run together: "learning rate: η =" -> "learningrateeta".
LEARNING_RATE = re.compile(r"^(?:learningrate|lr|eta|alpha|rate|stepsize)+$")
# Typed in the Symbol font, η is stored as the letter h: only a cell beside a number says so.
SYMBOL_FONT_ETA = "h"
STEP_LABEL = re.compile(r"^(?:step|steps|stepno|iteration|iter|epoch|no|n|#|nr)\.?$")


def normalize(label: str) -> str:
    """The label as it is compared: 'E Total' -> 'etotal', '∂E/∂w1' -> 'de/dw1'."""
    # NFKC folds the mathematical alphabets (𝟃, 𝜕 -> ∂) and full-width letters to plain ones.
    # Δw1 is the change of w1 (an update step), not δw1 (a gradient): spelled before lower case.
    text = unicodedata.normalize("NFKC", label).strip().replace("Δ", "delta").lower()
    for letter, spelled in SPELLED.items():
        text = text.replace(letter, spelled)
    text = "".join(c for c in text if not c.isspace() and c not in "_()[]{}'\"")
    return text.rstrip("=:").rstrip()


def is_learning_rate(label: str, beside_number: bool = False) -> bool:
    """A learning-rate label; a bare 'h' (η in the Symbol font) only as a cell's label."""
    text = "".join(c for c in normalize(label) if c.isalnum())
    return bool(LEARNING_RATE.match(text)) or (beside_number and text == SYMBOL_FONT_ETA)


class Labels:
    """The keys a network's sheet columns can have, and the rule from a label to its key."""

    def __init__(self, network: Network):
        self.network = network
        self.neurons = {n.name: n for n in network.neurons}
        self.trained = {p.name: gradient_symbol(p).name for p in network.trained}
        self.parameters = {s.name for s in (*network.weight_symbols, *network.biases)}
        self.shared = {normalize(s.name): s.name for s in softmax_symbols(network)}

    def key(self, label: object) -> str | None:
        """The key of a column label, or None for a label this does not know."""
        if not isinstance(label, str) or not label.strip():
            return None
        text = normalize(label)
        if is_learning_rate(label):
            return LR
        if STEP_LABEL.match(text):
            return STEP
        rules = (self._parameter, self._gradient, self._delta, self._activation, self._net)
        for rule in (*rules, self._rest):
            key = rule(text)
            if key is not None:
                return key
        return None

    def _parameter(self, text: str) -> str | None:
        match = PARAMETER.match(text)
        return match["name"] if match and match["name"] in self.parameters else None

    def _gradient(self, text: str) -> str | None:
        match = GRADIENT.match(text.replace("÷", "/"))
        return self.trained.get(match["name"]) if match else None

    def _delta(self, text: str) -> str | None:
        match = DELTA.match(text)
        return f"delta_{match['name']}" if match and match["name"] in self.neurons else None

    def _activation(self, text: str) -> str | None:
        match = ACTIVATION.match(text)
        neuron = self.neurons.get(match["name"] or match["after"]) if match else None
        return neuron.out.name if neuron else None

    def _net(self, text: str) -> str | None:
        match = NET.match(text)
        neuron = self.neurons.get(match["name"] or match["after"]) if match else None
        return neuron.net.name if neuron else None

    def _rest(self, text: str) -> str | None:
        network = self.network
        if text in self.shared:  # lse_o, s_o: a softmax's steps that derive's export shows
            return self.shared[text]
        if LOSS.match(text):
            return network.loss.name
        for pattern, symbols in ((INPUT, network.inputs), (TARGET, network.targets)):
            match = pattern.match(text)
            if match and 1 <= int(match["j"]) <= len(symbols):
                return symbols[int(match["j"]) - 1].name
        match = ERROR.match(text)
        if match and 1 <= int(match["j"]) <= len(network.errors):
            return network.errors[int(match["j"]) - 1].name
        return None
