"""The network drawn as SVG from its derive Network: neurons, labelled weights, errors, E_total.

Drawn left to right for a wide screen or top to bottom for a phone (`vertical`), in the theme's
colours where the SVG sits inline in a page (CSS variables, with fallbacks for the SVG file on
its own). Text is sized so that at MIN_SCALE of its drawn size it is still 11 CSS px or more; a
page never shows it smaller (see `min_width`). Every text element that shows a quantity carries
data-symbol="NAME" (h1, a_o1, w5, E_total ...), so a page's script can find it.
"""

from __future__ import annotations

import re
from html import escape

import sympy as sp

from derive.network import Network, Neuron
from derive.operations import OPERATIONS

LAYER_GAP = 220  # distance between layers along the drawing's direction
ROW = 150  # distance between neurons of one layer
RADIUS = 40
BOX, BOX_WIDE = 34, 52  # half widths of an error's box and of E_total's
MARGIN = 80
MAX_LABELLED_WEIGHTS = 40  # beyond this many weights the labels would overlap: edges only
MAX_DRAWN = 10  # neurons drawn per layer; a wider layer shows its first 8, a gap and its last
FONT = 24  # user units; the smallest text is a subscript: 0.8 of the notes' font, 22
MIN_SCALE = 0.63  # 0.63 x 22 x 0.8 = 11.1 CSS px

ACTIVATION_LABELS = {name: op.label for name, op in OPERATIONS.items()} | {"softmax": "softmax"}


def label(name: str) -> str:
    """SVG text for a symbol name, its index as a subscript: w5 -> w<sub>5</sub>, a_o1, E_total."""
    match = re.fullmatch(r"([A-Za-z]+)_?([A-Za-z]*\d*)", name)
    base, sub = match.groups() if match else (name, "")
    if not sub:
        return escape(base)
    return f'{escape(base)}<tspan dy="6" font-size="80%">{escape(sub)}</tspan>'


def _text(x: float, y: float, content: str, **attrs: str) -> str:
    attrs = {"text_anchor": "middle", **attrs}
    # class_ -> class (a keyword in Python), data_symbol -> data-symbol
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{content}</text>'


def _edge(
    x1: float, y1: float, x2: float, y2: float, shorten: float = RADIUS, start: float | None = None
) -> str:
    """An arrow from (x1, y1) to (x2, y2), `start` (default `shorten`) off its tail and `shorten`
    short of its head."""
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
    dx, dy = (x2 - x1) / length, (y2 - y1) / length
    first = shorten if start is None else start
    return (
        f'<line x1="{x1 + dx * first:.1f}" y1="{y1 + dy * first:.1f}" '
        f'x2="{x2 - dx * (shorten + 4):.1f}" y2="{y2 - dy * (shorten + 4):.1f}" '
        f'class="edge" marker-end="url(#arrow)"/>'
    )


def network_svg(network: Network, vertical: bool = False) -> str:
    """The diagram: layers left to right, or top to bottom when `vertical`."""
    # Each column: (name, the symbol its edges leave from, the neuron or None for an input).
    columns: list[list[tuple[str, sp.Symbol, Neuron | None]]] = [
        [(s.name, s, None) for s in network.inputs]
    ]
    columns += [[(n.name, n.out, n) for n in layer] for layer in network.layers]
    # A wide layer is drawn as its first neurons, a gap and its last: the drawing stays readable.
    gaps = [len(c) > MAX_DRAWN for c in columns]
    columns = [
        [*c[: MAX_DRAWN - 2], *c[-1:]] if gap else c for c, gap in zip(columns, gaps, strict=True)
    ]
    across = 2 * MARGIN + (max(len(c) for c in columns) - 1) * ROW + 40
    along = 2 * MARGIN + (len(columns) + 0.75) * LAYER_GAP + 2 * BOX_WIDE

    def at(depth: float, row: float) -> tuple[float, float]:
        return (row, depth) if vertical else (depth, row)

    def rows(count: int, gap: bool) -> list[float]:
        top = (across - (count - 1 + gap) * ROW) / 2
        return [top + (j + (gap and j == count - 1)) * ROW for j in range(count)]

    position = {
        symbol: at(MARGIN + c * LAYER_GAP, y)
        for c, (column, gap) in enumerate(zip(columns, gaps, strict=True))
        for (_, symbol, _), y in zip(column, rows(len(column), gap), strict=True)
    }
    parts: list[str] = []
    # Edges and weight labels first, so the neurons are drawn over the line ends.
    weights = [w for w in network.weights if w.source in position and w.dest.out in position]
    for weight in weights:
        source, dest = position[weight.source], position[weight.dest.out]
        parts.append(_edge(*source, *dest))
        if len(weights) <= MAX_LABELLED_WEIGHTS:
            # Near the source end, where the edges that leave one neuron are still apart.
            t = 0.36
            x, y = source[0] + t * (dest[0] - source[0]), source[1] + t * (dest[1] - source[1])
            # Drawn down the page, the labels sit on their lines (the crossing edges' labels
            # are then apart); across it, just above them.
            parts.append(_text(x, y + (8 if vertical else -8), label(weight.symbol.name),
                               class_="weight", data_symbol=weight.symbol.name))  # fmt: skip
    depth_errors = MARGIN + len(columns) * LAYER_GAP
    total = at(depth_errors + LAYER_GAP * 0.75, across / 2)
    for neuron, target, error in zip(network.outputs, network.targets, network.errors, strict=True):
        if neuron.out not in position:
            continue
        out = position[neuron.out]
        box = at(depth_errors, out[0] if vertical else out[1])
        parts.append(_edge(*out, *box, RADIUS + 2))
        # From the side of the box that faces E_total, so that the arrow leaves the target's
        # label below the box clear (one output straight above E_total: from the box's bottom).
        side = _sign(total[0] - box[0])
        tail = (box[0] + side * BOX, box[1])
        end = BOX_WIDE if not vertical else 24
        parts.append(_edge(*tail, *total, end, start=0 if side else end))
        parts.append(_box(*box, error.name))
        # Down the page, the label ends at the box's inner edge, where the arrow leaves it.
        inner = vertical and side != 0
        anchor = ("end" if side > 0 else "start") if inner else "middle"
        x = box[0] + side * BOX if inner else box[0]
        note = "target " + label(target.name)
        parts.append(_text(x, box[1] + 52, note, class_="note", text_anchor=anchor))
    parts.append(_box(*total, network.loss.name, wide=True))
    for column, gap in zip(columns, gaps, strict=True):
        for name, symbol, neuron in column:
            parts.append(_neuron(*position[symbol], name, neuron, vertical))
        if gap:  # the dots stand for the neurons left out, between the last two drawn
            x, y = position[column[-2][1]]
            dots = (x + ROW, y + 8) if vertical else (x, y + ROW + 8)
            parts.append(_text(*dots, "⋯" if vertical else "⋮", class_="name"))
    width, height = at(along, across)
    return _document(width, height, parts, "tall" if vertical else "wide")


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def diagram_html(network: Network) -> str:
    """Both drawings for a page: the wide one on a screen, the tall one on a phone (CSS). Each
    is drawn no narrower than MIN_SCALE of its size, and scrolls sideways if the page is."""
    blocks = []
    for vertical in (False, True):
        svg = network_svg(network, vertical).strip()
        width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
        svg = svg.replace("<svg ", f'<svg style="min-width: {width * MIN_SCALE:.0f}px" ', 1)
        kind = "tall" if vertical else "wide"
        blocks.append(f'<div class="diagram diagram-{kind}" data-scroll-cue>{svg}</div>')
    return "\n".join(blocks)


def _neuron(x: float, y: float, name: str, neuron: Neuron | None, vertical: bool) -> str:
    kind = "input" if neuron is None else "neuron"
    parts = [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS}" class="{kind}"/>']
    if neuron is None:
        parts.append(_text(x, y + 6, label(name), class_="name", data_symbol=name))
        return "".join(parts)
    parts.append(_text(x, y - 6, label(name), class_="name", data_symbol=name))
    parts.append(_text(x, y + 28, ACTIVATION_LABELS[neuron.activation], class_="activation"))
    if neuron.bias is not None:
        # Beside the neuron when layers run down the page, under it when they run across: where
        # no weight label sits.
        at = (x + RADIUS + 6, y - RADIUS) if vertical else (x, y + RADIUS + 28)
        parts.append(_text(*at, "+ " + label(neuron.bias.name), class_="weight",
                           text_anchor="start" if vertical else "middle",
                           data_symbol=neuron.bias.name))  # fmt: skip
    return "".join(parts)


def _box(x: float, y: float, name: str, wide: bool = False) -> str:
    half = BOX_WIDE if wide else BOX
    return (
        f'<rect x="{x - half:.1f}" y="{y - 22:.1f}" width="{2 * half}" height="44" rx="6" '
        f'class="error"/>' + _text(x, y + 6, label(name), class_="name", data_symbol=name)
    )


# Colours from the theme where the SVG is inline (Material's CSS variables), else the fallback.
STYLE = f"""
.network .edge {{ stroke: var(--md-default-fg-color--light, #6b7280); stroke-width: 1.6; }}
.network .arrow {{ fill: var(--md-default-fg-color--light, #6b7280); }}
.network .input {{ fill: var(--md-code-bg-color, #eef2fb); stroke: var(--md-primary-fg-color,
  #3f51b5); stroke-width: 2.5; }}
.network .neuron {{ fill: var(--md-default-bg-color, #fff); stroke: var(--md-primary-fg-color,
  #3f51b5); stroke-width: 2.5; }}
.network .error {{ fill: var(--md-default-bg-color, #fff); stroke: #d32f2f; stroke-width: 2.5; }}
.network text {{ font-family: sans-serif; font-size: {FONT}px;
  fill: var(--md-default-fg-color, #1a1a1a); }}
.network .name {{ font-weight: bold; }}
.network .activation, .network .note {{ font-size: 22px;
  fill: var(--md-default-fg-color--light, #4b5563); }}
.network .note {{ paint-order: stroke; stroke: var(--md-default-bg-color, #fff);
  stroke-width: 5px; }}
.network .weight {{ font-size: {FONT}px; fill: var(--md-typeset-a-color, #283593);
  paint-order: stroke; stroke: var(--md-default-bg-color, #fff); stroke-width: 5px; }}
"""


def _document(width: float, height: float, parts: list[str], kind: str) -> str:
    # The arrow's id is per drawing: a page that shows both must not repeat an id.
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="network" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="network diagram"><style>{STYLE}</style>'
        f'<defs><marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path class="arrow" '
        'd="M 0 0 L 10 5 L 0 10 z"/></marker></defs>'
        + "".join(parts).replace("url(#arrow)", f"url(#arrow-{kind})")
        + "</svg>\n"
    )
