"""Inline SVG for the MNIST page: the architecture drawn from its layer table, and matplotlib
figures recoloured to follow the page's palette.

Both are meant to be written into the page itself (not linked as <img>): only inline SVG inherits
the text colour of the light or dark palette through `currentColor`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html import escape

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

INK = "#010203"  # a colour nothing else uses; becomes currentColor in the SVG text
WIDTH = 340  # viewBox width: about the text column of a 390 px phone, so 1 unit ~ 1 CSS px
ROW = 50  # vertical distance between two stages of the diagram
BAR = 120  # widest bar: the 28-pixel input
FONT, SMALL = 14, 12  # diagram text sizes, in viewBox units
PLOT_MAX_WIDTH = 560  # px; a 4.6-inch figure's 12 pt labels then stay under 20 px


@dataclass(frozen=True)
class Stage:
    """One row of the architecture table: a conv with its BatchNorm and ReLU, a pool, ..."""

    name: str  # e.g. "3×3 conv 8→12, BN, ReLU"
    shape: tuple[int, ...]  # output (channels, height, width), or (classes,)
    params: int
    receptive_field: int

    @property
    def shape_text(self) -> str:
        return " × ".join(str(n) for n in self.shape)


def architecture_svg(stages: list[Stage], side: int, title: str) -> str:
    """Stages top to bottom, each a bar as wide as its feature map, its name and shape beside it."""
    height = ROW * (len(stages) + 1)
    parts = [
        f'<svg class="mnist-arch" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="mnist-arch-title" style="{size_style(WIDTH * 1.4)}">',
        f'<title id="mnist-arch-title">{escape(title)}</title>',
        "<style>.mnist-arch text{fill:currentColor}"
        ".mnist-arch .bar{fill:var(--md-accent-fg-color,#526cfe);fill-opacity:.35;"
        "stroke:currentColor;stroke-width:1}"
        ".mnist-arch .link{stroke:currentColor;stroke-opacity:.5}</style>",
    ]
    rows = [Stage("input image", (1, side, side), 0, 1), *stages]
    for i, stage in enumerate(rows):
        y = ROW * i + 8
        spatial = stage.shape[-1] if len(stage.shape) == 3 else 1
        width = max(4.0, BAR * spatial / side)
        x = 4 + (BAR - width) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW - 20}"/>'
        )
        if i:
            parts.append(
                f'<line class="link" x1="{4 + BAR / 2}" y1="{y - 12}" x2="{4 + BAR / 2}" y2="{y}"/>'
            )
        detail = stage.shape_text + (f" · RF {stage.receptive_field}" if i else "")
        parts.append(
            f'<text x="{BAR + 14}" y="{y + 12}" font-size="{FONT}">{escape(stage.name)}</text>'
        )
        parts.append(
            f'<text x="{BAR + 14}" y="{y + 28}" font-size="{SMALL}">{escape(detail)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def figure_svg(figure, label: str, salt: str) -> str:
    """A matplotlib figure as inline SVG: real <text>, INK → currentColor, no fixed size.

    `salt` keeps the clip-path ids of several figures on one page apart.
    """
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", transparent=True, bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :].replace(INK, "currentColor")
    # matplotlib's <metadata> (its name, the date) is text the site's search would index, and a
    # date that made two builds of the same records differ.
    text = re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    text = text.replace(
        "<svg",
        f'<svg role="img" aria-label="{escape(label)}" class="mnist-plot" '
        f'style="{size_style(PLOT_MAX_WIDTH)}"',
        1,
    )
    # Python-Markdown ends a raw HTML block at a blank line: keep the SVG in one block.
    return "\n".join(line for line in text.splitlines() if line.strip())


def size_style(max_width: float) -> str:
    """CSS that fills the text column up to max_width px: an SVG without a width collapses to
    nothing inside Material's fit-content <figure>."""
    return f"width:100%;height:auto;max-width:{max_width:.0f}px"


def ink_style() -> dict:
    """rcParams that draw text, axes and ticks in INK, on a transparent background."""
    return {
        "text.color": INK,
        "axes.labelcolor": INK,
        "axes.edgecolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "legend.frameon": False,
        "font.size": 12,
    }
