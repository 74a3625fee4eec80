"""The classic chart: total error against update step, one line per learning rate."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from derive.table import Table
from safeio.atomic import OutputError, write_atomic

TITLE = "Total error at each step, per learning rate"
WIDE, NARROW = (8.0, 5.0), (4.2, 5.6)  # inches: a screen's chart and a phone's
FONT_SIZE = 14  # points: a subscript (0.7 of it) stays above 11 CSS px on a phone
FORMATS = {".png": "png", ".svg": "svg"}


def error_figure(table: Table, size: tuple[float, float] = WIDE) -> Figure:
    """E_total per step for each learning rate; a diverged run's legend entry says where.

    A bare Figure, not pyplot: no global state and no display, so it is safe in a site build.
    """
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    diverged = {d.lr: d.step for d in table.divergences}
    loss = table.column("E_total")
    steps = table.column("step")[0]
    for lr, errors in zip(table.learning_rates, loss, strict=True):
        label = f"lr = {lr!r}"
        if lr in diverged:
            label += f" (diverged at step {diverged[lr]})"
        axes.plot(steps, errors, label=label)  # non-finite points are left out of the line
    narrow = size[0] < WIDE[0]
    axes.set_title(TITLE.replace(", ", ",\n") if narrow else TITLE)
    axes.set_xlabel("step (weight update)")
    axes.set_ylabel(r"$E_{\mathrm{total}}$")
    axes.grid(alpha=0.3)
    # Outside the lines: at the right of a wide chart, under a narrow one.
    if narrow:
        axes.legend(title="learning rate", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
    else:
        axes.legend(title="learning rate", loc="upper left", bbox_to_anchor=(1.02, 1))
    return figure


def plot_format(path: str | Path) -> str:
    """'png' or 'svg', from the file name's suffix; OutputError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"{path}: give a .png or .svg file name, not {suffix or 'no suffix'}")
    return FORMATS[suffix]


def plot_bytes(table: Table, fmt: str = "png", size: tuple[float, float] = WIDE) -> bytes:
    """The chart as PNG or SVG bytes; an SVG keeps its text as text (searchable, scalable)."""
    buffer = io.BytesIO()
    # A fixed salt and no date: the same table gives the same SVG, byte for byte.
    settings = {"svg.hashsalt": "derive", "svg.fonttype": "none", "font.size": FONT_SIZE}
    with matplotlib.rc_context(settings):
        error_figure(table, size).savefig(buffer, format=fmt, dpi=120, metadata={"Date": None})
    return buffer.getvalue()


def write_plot(table: Table, path: str | Path) -> Path:
    """Write the chart to `path` (.png or .svg) atomically."""
    fmt = plot_format(path)
    return write_atomic(path, lambda temp: temp.write_bytes(plot_bytes(table, fmt)))
