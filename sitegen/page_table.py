"""The table page: the first rows per learning rate, the full table as downloads, the plot."""

from __future__ import annotations

import matplotlib
import matplotlib.style
import numpy as np
from cycler import cycler

from derive import plot, xlsx
from derive import table as iteration
from safeio.atomic import OutputError
from sitegen.site_common import PageData, Site, markdown_table, number, site_path, text_number

FIRST_ROWS = 5  # rows shown per learning rate on the page; the downloads hold every row
GROUP_COLUMNS = 4  # value columns per table: step + 4 fit the text column at 1280 px
GROUP_TABLES = 3  # tables per column group at most; a larger network's rest is in the downloads
DIGITS = 9  # significant digits on the page, as on Backpropagation explained; the CSV keeps all
# Larger rates tried to say where descent stops going smoothly downhill (same number of steps).
# One colour per learning rate, the Playground's (playground.css .pg-c0 ... .pg-c5, Okabe-Ito),
# in each palette; the dark charts stand on the dark palette's background (Material's slate).
LIGHT_LINES = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9")
DARK_LINES = ("#56b4e9", "#e69f00", "#009e73", "#cc79a7", "#ff8f4d", "#f0e442")
SLATE = "#1e2129"
LIGHT = {"axes.prop_cycle": cycler(color=LIGHT_LINES)}
DARK = {
    "axes.prop_cycle": cycler(color=DARK_LINES),
    "figure.facecolor": SLATE,
    "axes.facecolor": SLATE,
    "savefig.facecolor": SLATE,
}
SWEEP = (5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, 10_000.0, 1_000_000.0)


def build(site: Site) -> PageData:
    config, evaluator = site.config, site.evaluator
    table = iteration.iteration_table(config, evaluator=evaluator)
    files: dict[str, bytes | str] = {
        site_path("iteration-table.csv"): iteration.csv_text(table),
        **charts(table),
    }
    try:
        files[site_path("iteration-table.xlsx")] = xlsx.workbook_bytes(table)
        too_large = ""
    except OutputError as exc:  # a large network's workbook: the page says why there is none
        too_large = str(exc)
    sweep = iteration.iteration_table(config, SWEEP, table.steps, evaluator)
    context = {
        "steps": table.steps,
        "rates": ", ".join(number(lr) for lr in table.learning_rates),
        "constants": constants_text(table),
        "first_rows": FIRST_ROWS,
        "tabs": [rate_tab(table, j) for j in range(len(table.learning_rates))],
        "csv": site_path("iteration-table.csv"),
        "xlsx": site_path("iteration-table.xlsx"),
        "xlsx_missing": too_large,
        "plot": site_path("learning-rates.svg"),
        "plot_narrow": site_path("learning-rates-narrow.svg"),
        "plot_png": site_path("learning-rates.png"),
        "plot_dark": site_path("learning-rates-dark.svg"),
        "plot_narrow_dark": site_path("learning-rates-narrow-dark.svg"),
        "reading": reading(table, sweep),
    }
    return PageData(context, files)


def charts(table: iteration.Table) -> dict[str, bytes]:
    """derive plot's chart in the Playground's colours: a PNG to download and, for the page, SVG
    (text stays text and scales), wide and narrow (a phone), for each palette; the dark palette's
    light text and lines on its own background (matplotlib's dark_background style)."""
    with matplotlib.rc_context(LIGHT):
        files = {
            site_path("learning-rates.png"): plot.plot_bytes(table, "png"),
            site_path("learning-rates.svg"): plot.plot_bytes(table, "svg"),
            site_path("learning-rates-narrow.svg"): plot.plot_bytes(table, "svg", plot.NARROW),
        }
    with matplotlib.style.context("dark_background"), matplotlib.rc_context(DARK):
        files[site_path("learning-rates-dark.svg")] = plot.plot_bytes(table, "svg")
        files[site_path("learning-rates-narrow-dark.svg")] = plot.plot_bytes(
            table, "svg", plot.NARROW
        )
    return files


def constants_text(table: iteration.Table) -> str:
    """The inputs and targets (the same in every row), as inline math."""
    names = [c.name for c in table.columns if c.kind == iteration.CONSTANT]
    values = table.values[0, 0]
    return ", ".join(rf"\({_tex_name(n)} = {number(values[table.names.index(n)])}\)" for n in names)


def _tex_name(name: str) -> str:
    base, _, index = name.partition("_")
    if index:  # a_h1 -> a_{h1}, E_total -> E_{total}
        return f"{base}_{{{index}}}"
    return f"{name[0]}_{{{name[1:]}}}" if name[1:].isdigit() else name


def column_groups(table: iteration.Table) -> dict[str, list[str]]:
    """The columns in readable groups: parameters, forward pass, errors, gradients."""
    network = table.evaluator.network
    errors = {s.name for s in (*network.errors, network.loss)}
    groups: dict[str, list[str]] = {
        "Parameters": [],
        "Forward pass": [],
        "Errors": [],
        "Gradients": [],
    }
    for column in table.columns:
        if column.kind == iteration.PARAMETER:
            groups["Parameters"].append(column.name)
        elif column.kind == iteration.FORWARD:
            groups["Errors" if column.name in errors else "Forward pass"].append(column.name)
        elif column.kind == iteration.GRADIENT:
            groups["Gradients"].append(column.name)
    return groups


def rate_tab(table: iteration.Table, j: int) -> dict:
    """One learning rate's first rows and last row, in small tables of GROUP_COLUMNS columns."""
    steps = [*range(min(FIRST_ROWS, table.steps + 1)), table.steps]
    tables = {}
    for title, names in column_groups(table).items():
        chunks = [names[k : k + GROUP_COLUMNS] for k in range(0, len(names), GROUP_COLUMNS)]
        for chunk in chunks[:GROUP_TABLES]:
            rows = [
                [
                    str(s),
                    *(text_number(table.values[j, s, table.names.index(n)], DIGITS) for n in chunk),
                ]
                for s in steps
            ]
            rows.insert(len(steps) - 1, ["…"] + [""] * len(chunk))
            span = f" ({html_name(chunk[0])} to {html_name(chunk[-1])})" if len(chunks) > 1 else ""
            tables[title + span] = markdown_table(["step", *map(html_name, chunk)], rows)
        if len(chunks) > GROUP_TABLES:
            rest = sum(map(len, chunks[GROUP_TABLES:]))
            tables[f"{title}: {rest} more columns"] = "(in the CSV download below)"
    return {"lr": number(table.learning_rates[j]), "tables": tables}


def html_name(name: str) -> str:
    """A column name as HTML: a_h1 -> a<sub>h1</sub>, E_total, w5 -> w<sub>5</sub>, dE/dw1."""
    if name.startswith("dE/d"):
        return f"∂E<sub>total</sub>/∂{html_name(name[4:])}"
    base, _, index = name.partition("_")
    if not index and name[1:].isdigit():
        base, index = name[0], name[1:]
    return f"{base}<sub>{index}</sub>" if index else name


def rises(e_total: np.ndarray) -> int:
    """How many steps increase E_total (a finite run only)."""
    return int(np.sum(np.diff(e_total) > 0))


def reading(table: iteration.Table, sweep: iteration.Table) -> list[str]:
    """What the plot shows, in sentences computed from the numbers."""
    e = table.column("E_total")
    start = e[0, 0]
    last = e[:, -1]
    order = np.argsort(table.learning_rates)
    slow, fast = order[0], order[-1]
    sentences = [
        f"Every run starts at the same total error, {number(start, 6)}. After {table.steps} steps "
        f"it is {number(last[slow], 6)} with learning rate {number(table.learning_rates[slow])} "
        f"and {number(last[fast], 6)} with {number(table.learning_rates[fast])}."
    ]
    if np.all(np.diff(e[order, 1:], axis=0) < 0):
        sentences.append(
            "On these rates a higher learning rate gives a lower error at every step: larger "
            "steps down the same slope."
        )
    bumpy = [number(lr) for lr, row in zip(table.learning_rates, e, strict=True) if rises(row)]
    if bumpy:
        sentences.append(f"The error goes up at some step with learning rate {', '.join(bumpy)}.")
    sentences += [d.message + "." for d in table.divergences]
    return sentences + sweep_sentences(sweep)


def sweep_sentences(sweep: iteration.Table) -> list[str]:
    """What larger learning rates do, from a run at each SWEEP rate: overshoot, blow-up, stall."""
    e = sweep.column("E_total")
    final = e[:, -1]
    rates = sweep.learning_rates
    sentences = [
        f"Runs at the larger rates {', '.join(number(lr) for lr in rates)}, {sweep.steps} steps "
        f"each, show where a higher rate stops helping."
    ]
    sentences += [f"The run at learning rate {d.message.removeprefix('lr ')}." for d in
                  sweep.divergences]  # fmt: skip
    bumpy = [(lr, rises(row)) for lr, row in zip(rates, e, strict=True) if rises(row)]
    if bumpy:
        lr, count = bumpy[0]
        sentences.append(
            f"From learning rate {number(lr)} the steps overshoot: the error rises at {count} of "
            f"the {sweep.steps} steps."
        )
    else:
        sentences.append("None of them overshoots: the error falls or stays at every step.")
    finite = np.where(np.isfinite(final), final, np.inf)
    best = int(np.argmin(finite))
    if best < len(rates) - 1:
        sentences.append(
            f"The lowest error after {sweep.steps} steps, {text_number(final[best], 6)}, comes at "
            f"learning rate {number(rates[best])}; at {number(rates[-1])} it is "
            f"{text_number(final[-1], 6)}."
        )
        gradients = [c.name for c in sweep.columns if c.kind == iteration.GRADIENT]
        largest = max(abs(sweep.column(name)[-1, -1]) for name in gradients)
        if np.isfinite(final[-1]) and largest < 1e-9 < final[-1]:
            sentences.append(
                f"There every gradient has all but vanished (the largest is "
                f"{text_number(largest, 3)}) while the error has not: the first steps threw the "
                f"neurons into the flat tails of their activations, and learning stalls."
            )
    return sentences
