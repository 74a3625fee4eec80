"""The MNIST page: architecture, recipe, the committed reference runs and, if asked, a local run."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from mnist.cli import DataError
from mnist.metrics import METRICS
from mnist.metrics import read_metrics as read_metrics_file
from sitegen.site_common import (
    MNIST_RUN_ENV,
    PageData,
    Settings,
    Site,
    SiteError,
    markdown_table,
    site_path,
)

RESULTS = "results.json"  # a run's final confusion counts and misclassified digits
TARGET = 99.4  # percent test accuracy the model is built to reach
RUN_PLOTS = ("confusion.png", "misclassified.png")  # drawn by mnist.plots at the end of training


def build(site: Site) -> PageData:
    settings = site.settings
    recipe = (settings.root / "mnist" / "defaults.toml").read_text(encoding="utf-8")
    defaults = tomllib.loads(recipe)
    files: dict[str, bytes | Path] = {}
    reference = read_runs(settings.mnist_reference)
    if reference:
        files[site_path("mnist-reference.png")] = png(reference_figure(reference))
    context = {
        "model": defaults["model"],
        "architecture": architecture(defaults["model"]),
        "dataset": dataset(),
        "recipe": recipe.strip(),
        "reference_dir": settings.shown(settings.mnist_reference),
        "reference": reference_context(reference),
        "results": results_context(settings, defaults["data_dir"], files),
        "run": run_context(settings, files),
        "run_env": MNIST_RUN_ENV,
        "target": TARGET,
    }
    return PageData(context, files)


def architecture(model: str) -> dict:
    """The torchinfo table, parameter count and receptive field, or why they are missing."""
    try:
        from mnist import summary
        from mnist.model import ARCHS, build_model, count_params, receptive_field
    except ImportError as exc:  # torch and torchinfo come with the optional `mnist` extra
        return {"missing": f"{exc} (install the mnist extra: pip install -e '.[mnist]')"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary.main(["--model", model])
    network = build_model(model)
    return {
        "missing": "",
        "summary": printed.getvalue().strip(),
        "parameters": f"{count_params(network):,}",
        "budget": f"{ARCHS[model].max_params:,}",
        "receptive_field": receptive_field(network),
    }


def read_metrics(path: Path) -> list[dict]:
    """One dict per epoch from a run's metrics.jsonl (mnist.metrics, no torch needed);
    a broken file is one clear error."""
    try:
        return read_metrics_file(path)
    except DataError as exc:
        raise SiteError(str(exc)) from None


def read_results(path: Path) -> dict:
    """A run's results.json: confusion counts and [index, true, predicted] per wrong digit."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"{path}: cannot read the run's results: {exc}") from None
    confusion = results.get("confusion") if isinstance(results, dict) else None
    wrong = results.get("misclassified") if isinstance(results, dict) else None
    square = isinstance(confusion, list) and len(confusion) == 10
    if not (square and all(isinstance(r, list) and len(r) == 10 for r in confusion)):
        raise SiteError(f"{path}: 'confusion' must be 10 rows of 10 counts")
    if not isinstance(wrong, list) or not all(
        isinstance(w, list) and len(w) == 3 and all(isinstance(v, int) for v in w) for w in wrong
    ):
        raise SiteError(f"{path}: 'misclassified' must be a list of [index, true, predicted]")
    return results


def gallery_matches(misclassified: list[list[int]], labels) -> bool:
    """Whether every [index, true, predicted] names a test digit that has that true label."""
    return all(0 <= i < len(labels) and int(labels[i]) == true for i, true, _ in misclassified)


def read_runs(folder: Path) -> dict[str, list[dict]]:
    """{run name: metrics} for every sub-folder of `folder` that holds a metrics.jsonl."""
    if not folder.is_dir():
        return {}
    return {
        run.name: read_metrics(run / METRICS)
        for run in sorted(folder.iterdir())
        if (run / METRICS).is_file()
    }


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def reference_figure(runs: dict[str, list[dict]]):
    """Test accuracy (left) and train/test loss (right) per epoch, one colour per run."""
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(11, 4))
    lowest = min(100 * m["test_acc"] for metrics in runs.values() for m in metrics)
    for (name, metrics), colour in zip(runs.items(), plt.cm.tab10.colors, strict=False):
        epochs = [m["epoch"] for m in metrics]
        accuracy.plot(
            epochs, [100 * m["test_acc"] for m in metrics], "o-", color=colour, label=name
        )
        loss.plot(
            epochs, [m["train_loss"] for m in metrics], "--", color=colour, label=f"{name} train"
        )
        loss.plot(
            epochs, [m["test_loss"] for m in metrics], "o-", color=colour, label=f"{name} test"
        )
    accuracy.axhline(TARGET, color="grey", linestyle=":", label=f"{TARGET}%")
    accuracy.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy",
                 ylim=(math.floor(lowest), 100))  # fmt: skip
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    for axes in (accuracy, loss):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return figure


def reference_context(runs: dict[str, list[dict]]) -> dict:
    if not runs:
        return {}
    names = list(runs)
    epochs = max(len(m) for m in runs.values())
    rows = []
    for epoch in range(epochs):
        row = [str(epoch + 1)]
        for name in names:
            m = runs[name][epoch] if epoch < len(runs[name]) else None
            row.append(f"{100 * m['test_acc']:.2f}" if m else "")
        first = runs[names[0]][epoch] if epoch < len(runs[names[0]]) else None
        row.append(f"{first['lr']:.4g}" if first else "")
        row.append(
            " / ".join(f"{runs[n][epoch]['seconds']:.0f}" for n in names if epoch < len(runs[n]))
        )
        rows.append(row)
    header = ["epoch", *(f"{n} test acc. (%)" for n in names), "lr", "seconds per run"]
    finals = {n: 100 * m[-1]["test_acc"] for n, m in runs.items()}
    minutes = {n: sum(e["seconds"] for e in m) / 60 for n, m in runs.items()}
    return {
        "figure": site_path("mnist-reference.png"),
        "table": markdown_table(header, rows),
        "count": len(runs),
        "epochs": epochs,
        "finals": ", ".join(f"{finals[n]:.2f}% ({n})" for n in names),
        "worst": f"{min(finals.values()):.2f}",
        "reached": all(v >= TARGET for v in finals.values()),
        "minutes": ", ".join(f"{minutes[n]:.0f} min ({n})" for n in names),
    }


def dataset() -> dict:
    """The official split sizes and image side the data loader checks; {} without the extra."""
    try:
        from mnist.data import IMAGE_SIDE, OFFICIAL_COUNTS
    except ImportError:
        return {}
    return {"train": f"{OFFICIAL_COUNTS['train']:,}", "test": f"{OFFICIAL_COUNTS['test']:,}",
            "side": IMAGE_SIDE}  # fmt: skip


def results_context(settings: Settings, data_dir: str, files: dict[str, bytes | Path]) -> dict:
    """Confusion matrix and misclassified digits of the first reference run that kept its
    results.json; the digits only when MNIST itself is on this machine (it is never committed)."""
    found = sorted(settings.mnist_reference.glob(f"*/{RESULTS}"))
    if not found:
        return {}
    try:
        import torch

        from mnist import plots
        from mnist.data import load_split
    except ImportError:  # the mnist extra is not installed: the architecture note says so
        return {}
    results = read_results(found[0])
    files[site_path("mnist-reference-confusion.png")] = png(
        plots.confusion_figure(torch.tensor(results["confusion"]))
    )
    context = {
        "name": found[0].parent.name,
        "errors": len(results["misclassified"]),
        "tested": f"{sum(map(sum, results['confusion'])):,}",
        "confusion": site_path("mnist-reference-confusion.png"),
        "misclassified": "",
        "data_dir": data_dir,
    }
    try:
        test = load_split(settings.root / data_dir, "test")
    except DataError:
        return context
    if not gallery_matches(results["misclassified"], test.labels):
        return context  # not the test split the run was scored on: the note stands instead
    files[site_path("mnist-reference-misclassified.png")] = png(
        plots.gallery_figure(test.images, results["misclassified"], len(test.labels))
    )
    context["misclassified"] = site_path("mnist-reference-misclassified.png")
    return context


def run_context(settings: Settings, files: dict[str, bytes | Path]) -> dict:
    """The local run's curves, table and plots; {} when no run was given."""
    run = settings.mnist_run
    if run is None:
        return {}
    if not (run / METRICS).is_file():
        raise SiteError(
            f"{MNIST_RUN_ENV}={run}: no {METRICS} there; give the folder a "
            f"`python -m mnist.train --out FOLDER` run wrote"
        )
    metrics = read_metrics(run / METRICS)
    from mnist.plots import curves_figure  # only a local run needs the mnist package

    files[site_path("mnist-run-curves.png")] = png(curves_figure(metrics))
    plots = {}
    for name in RUN_PLOTS:
        if (run / name).is_file():
            files[site_path(f"mnist-run-{name}")] = run / name
            plots[name] = site_path(f"mnist-run-{name}")
    rows = [
        [
            str(m["epoch"]),
            f"{100 * m['train_acc']:.2f}",
            f"{100 * m['test_acc']:.2f}",
            f"{m['train_loss']:.4f}",
            f"{m['test_loss']:.4f}",
            f"{m['lr']:.4g}",
            f"{m['seconds']:.0f}",
        ]
        for m in metrics
    ]
    header = ["epoch", "train acc. (%)", "test acc. (%)", "train loss", "test loss", "lr", "s"]
    return {
        "path": settings.shown(run),
        "curves": site_path("mnist-run-curves.png"),
        "table": markdown_table(header, rows),
        "confusion": plots.get("confusion.png", ""),
        "misclassified": plots.get("misclassified.png", ""),
    }
