"""The classic chart: total error against update step, one line per learning rate."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from derive.table import Table
from safeio.atomic import OutputError, write_atomic

TITLE = "Total Error at Learning Rates"
FORMATS = {".png": "png", ".svg": "svg"}


def error_figure(table: Table) -> Figure:
    """E_total per step for each learning rate; a diverged run's legend entry says where.

    A bare Figure, not pyplot: no global state and no display, so it is safe in a site build.
    """
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    diverged = {d.lr: d.step for d in table.divergences}
    loss = table.column("E_total")
    steps = table.column("step")[0]
    for lr, errors in zip(table.learning_rates, loss, strict=True):
        label = f"lr = {lr!r}"
        if lr in diverged:
            label += f" (diverged at step {diverged[lr]})"
        axes.plot(steps, errors, label=label)  # non-finite points are left out of the line
    axes.set_title(TITLE)
    axes.set_xlabel("step (weight update)")
    axes.set_ylabel("E_total")
    axes.grid(alpha=0.3)
    axes.legend(title="learning rate")
    return figure


def plot_format(path: str | Path) -> str:
    """'png' or 'svg', from the file name's suffix; OutputError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"{path}: give a .png or .svg file name, not {suffix or 'no suffix'}")
    return FORMATS[suffix]


def plot_bytes(table: Table, fmt: str = "png") -> bytes:
    """The chart as PNG or SVG bytes."""
    buffer = io.BytesIO()
    # A fixed salt and no date: the same table gives the same SVG, byte for byte.
    with matplotlib.rc_context({"svg.hashsalt": "derive"}):
        error_figure(table).savefig(buffer, format=fmt, dpi=120, metadata={"Date": None})
    return buffer.getvalue()


def write_plot(table: Table, path: str | Path) -> Path:
    """Write the chart to `path` (.png or .svg) atomically."""
    fmt = plot_format(path)
    return write_atomic(path, lambda temp: temp.write_bytes(plot_bytes(table, fmt)))
