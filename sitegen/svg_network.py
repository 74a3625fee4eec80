"""The network drawn as SVG from its derive Network: neurons, labelled weights, errors, E_total.

Every text element that shows a quantity carries data-symbol="NAME" (h1, a_o1, w5, E_total ...), so
a page's own script can write live values next to them (the Playground does).
"""

from __future__ import annotations

import re
from html import escape

import sympy as sp

from derive.network import Network, Neuron

COLUMN = 220  # horizontal distance between layers
ROW = 150  # vertical distance between neurons
RADIUS = 34
BOX, BOX_WIDE = 30, 42  # half widths of an error's box and of E_total's
MARGIN = 70
MAX_LABELLED_WEIGHTS = 40  # beyond this many weights the labels would overlap: edges only

ACTIVATION_LABELS = {
    "sigmoid": "σ",
    "tanh": "tanh",
    "relu": "ReLU",
    "linear": "id",
    "softmax": "softmax",
}


def label(name: str) -> str:
    """SVG text for a symbol name, its index as a subscript: w5 -> w<sub>5</sub>, a_o1, E_total."""
    match = re.fullmatch(r"([A-Za-z]+)_?([A-Za-z]*\d*)", name)
    base, sub = match.groups() if match else (name, "")
    if not sub:
        return escape(base)
    return f'{escape(base)}<tspan dy="5" font-size="70%">{escape(sub)}</tspan>'


def _text(x: float, y: float, content: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{extra}>{content}</text>'


def _column_ys(count: int, height: float) -> list[float]:
    top = (height - (count - 1) * ROW) / 2
    return [top + j * ROW for j in range(count)]


def _edge(x1: float, y1: float, x2: float, y2: float, shorten: float = RADIUS) -> str:
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    dx, dy = (x2 - x1) / length, (y2 - y1) / length
    return (
        f'<line x1="{x1 + dx * shorten:.1f}" y1="{y1 + dy * shorten:.1f}" '
        f'x2="{x2 - dx * (shorten + 4):.1f}" y2="{y2 - dy * (shorten + 4):.1f}" '
        f'class="edge" marker-end="url(#arrow)"/>'
    )


def network_svg(network: Network, values: dict[str, str] | None = None) -> str:
    """The diagram; `values` (symbol name -> text) adds a value under a neuron or weight label."""
    values = values or {}
    # Each column: (name, the symbol its edges leave from, the neuron or None for an input).
    columns: list[list[tuple[str, sp.Symbol, Neuron | None]]] = [
        [(s.name, s, None) for s in network.inputs]
    ]
    columns += [[(n.name, n.out, n) for n in layer] for layer in network.layers]
    tallest = max(len(c) for c in columns)
    height = 2 * MARGIN + (tallest - 1) * ROW + 30
    width = 2 * MARGIN + (len(columns) + 1) * COLUMN + 40
    position = {
        symbol: (MARGIN + c * COLUMN, y)
        for c, column in enumerate(columns)
        for (_, symbol, _), y in zip(column, _column_ys(len(column), height), strict=True)
    }
    parts: list[str] = []
    # Edges and weight labels first, so the neurons are drawn over the line ends.
    label_weights = len(network.weights) <= MAX_LABELLED_WEIGHTS
    for weight in network.weights:
        source = position[weight.source]
        dest = position[weight.dest.out]
        parts.append(_edge(*source, *dest))
        if label_weights:
            # Near the source end, where the edges that leave one neuron are still apart.
            t = 0.36
            x, y = source[0] + t * (dest[0] - source[0]), source[1] + t * (dest[1] - source[1])
            parts.append(_text(x, y - 6, label(weight.symbol.name), class_="weight"))
            parts.append(_value(x, y + 12, weight.symbol.name, values))
    x_errors = MARGIN + len(columns) * COLUMN
    x_total = x_errors + COLUMN * 0.75
    y_total = height / 2
    for neuron, target, error in zip(network.outputs, network.targets, network.errors, strict=True):
        y = position[neuron.out][1]
        parts.append(_edge(*position[neuron.out], x_errors - BOX, y, 0))
        parts.append(_edge(x_errors + BOX, y, x_total - BOX_WIDE, y_total, 0))
        parts.append(_box(x_errors, y, error.name, values))
        parts.append(_text(x_errors, y + 66, "target " + label(target.name), class_="note"))
    parts.append(_box(x_total, y_total, network.loss.name, values, wide=True))
    for column in columns:
        for name, symbol, neuron in column:
            parts.append(_neuron(*position[symbol], name, neuron, values))
    return _document(width, height, parts)


def _value(x: float, y: float, name: str, values: dict[str, str]) -> str:
    text = escape(values.get(name, ""))
    return _text(x, y, text, class_="value", data_symbol=name)


def _neuron(x: float, y: float, name: str, neuron: Neuron | None, values: dict[str, str]) -> str:
    kind = "input" if neuron is None else "neuron"
    parts = [f'<circle cx="{x}" cy="{y:.1f}" r="{RADIUS}" class="{kind}"/>']
    if neuron is None:
        parts.append(_text(x, y + 7, label(name), class_="name"))
        parts.append(_value(x, y + RADIUS + 20, name, values))
    else:
        parts.append(_text(x, y - 3, label(name), class_="name"))
        parts.append(_text(x, y + 18, ACTIVATION_LABELS[neuron.activation], class_="activation"))
        if neuron.bias is not None:
            parts.append(_text(x, y - RADIUS - 8, "+ " + label(neuron.bias.name), class_="weight"))
        parts.append(_value(x, y + RADIUS + 20, neuron.out.name, values))
    return "".join(parts)


def _box(x: float, y: float, name: str, values: dict[str, str], wide: bool = False) -> str:
    half = BOX_WIDE if wide else BOX
    return (
        f'<rect x="{x - half:.1f}" y="{y - 20:.1f}" width="{2 * half}" height="40" rx="6" '
        f'class="error"/>'
        + _text(x, y + 7, label(name), class_="name")
        + _value(x, y + 40, name, values)
    )


STYLE = """
.edge { stroke: #7a869a; stroke-width: 1.4; }
.input { fill: #e8f0fe; stroke: #3f51b5; stroke-width: 2; }
.neuron { fill: #fff8e1; stroke: #3f51b5; stroke-width: 2; }
.error { fill: #fdecea; stroke: #c62828; stroke-width: 2; }
text { font-family: sans-serif; font-size: 22px; fill: #1a1a1a; }
.name { font-weight: bold; }
.activation { font-size: 16px; fill: #5f6368; }
.weight { font-size: 19px; fill: #283593; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
.note { font-size: 16px; fill: #5f6368; }
.value { font-size: 16px; fill: #00695c; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
"""


def _document(width: float, height: float, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="network diagram">'
        f"<style>{STYLE}</style>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#7a869a"/></marker></defs>' + "".join(parts) + "</svg>\n"
    )
