"""The MNIST page: architecture, recipe, the committed reference runs and, if asked, a local run."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from mnist.cli import DataError
from mnist.names import CONFUSION, METRICS, MISCLASSIFIED, RESULTS, WEIGHTS
from sitegen.mnist_records import cpu_context, gpu_context
from sitegen.mnist_reference import (
    TARGET,
    read_defaults,
    read_json,
    read_metrics,
    read_reference,
    reference_context,
    seed_order,
)
from sitegen.mnist_svg import Stage, architecture_svg
from sitegen.mnist_worked import fold_context, worked_context
from sitegen.site_common import (
    MNIST_RUN_ENV,
    PageData,
    Settings,
    Site,
    SiteError,
    markdown_table,
    site_path,
)

RUN_PLOTS = (CONFUSION, MISCLASSIFIED)  # drawn by mnist.plots at the end of training


def build(site: Site) -> PageData:
    settings = site.settings
    defaults = read_defaults(settings.root)
    recipe = (settings.root / "mnist" / "defaults.toml").read_text(encoding="utf-8")
    files: dict[str, bytes | Path] = {}
    runs = read_reference(settings.mnist_reference)
    model = defaults["model"]
    known = registry()
    if known and model not in known:
        raise SiteError(
            f"{settings.root / 'mnist' / 'defaults.toml'}: model = {model!r} is not one of "
            f"mnist.model's ({', '.join(known)})"
        )
    if model not in runs:
        raise SiteError(
            f"{settings.mnist_reference}: no reference run of the default model {model!r}"
        )
    context = {
        "model": model,
        "architecture": architecture(model),
        "dataset": dataset(),
        "recipe": recipe.strip(),
        "reference_dir": settings.shown(settings.mnist_reference),
        "reference": reference_context(runs, model, settings.mnist_reference, defaults),
        "gpu": gpu_context(settings.mnist_reference),
        "cpu": cpu_context(settings.mnist_reference),
        "results": results_context(settings, model, defaults["data_dir"], files),
        "run": run_context(settings, files),
        "weights": [
            settings.shown(p) for p in sorted(settings.mnist_reference.glob(f"*/*/{WEIGHTS}"))
        ],
        "unrun": ", ".join(f"`{name}`" for name in registry() if name not in runs),
        "run_env": MNIST_RUN_ENV,
        "target": TARGET,
        "fold": fold_context(),
        "worked": worked_context(
            settings.mnist_reference / model / "seed-1" / WEIGHTS,
            settings.root / defaults["data_dir"],
            files,
        ),
    }
    return PageData(context, files)


def registry() -> list[str]:
    """The model names of mnist.model.ARCHS; [] without the mnist extra."""
    try:
        from mnist.model import ARCHS
    except ImportError:
        return []
    return sorted(ARCHS)


def stages(layers) -> list[Stage]:
    """mnist.model.describe()'s layers grouped as a reader names them: a conv with the
    BatchNorm, ReLU and dropout after it is one stage; a pool is one."""
    groups: list[list] = []
    for layer in layers:
        starts = layer.kind.startswith(("Conv2d", "MaxPool2d", "global"))
        if starts or not groups:
            groups.append([layer])
        else:
            groups[-1].append(layer)
    return [
        Stage(stage_name(g), g[-1].shape, sum(x.params for x in g), g[-1].receptive_field)
        for g in groups
    ]


def stage_name(group: list) -> str:
    head, kinds = group[0].kind, [layer.kind for layer in group[1:]]
    if head.startswith("Conv2d"):
        size, channels = head.removeprefix("Conv2d ").split(", ")
        size = size.replace("x", "×")
        c_in, c_out = channels.split(" -> ")
        name = f"conv {size}, {c_in}→{c_out}"
        if "BatchNorm2d" not in kinds:
            name = f"classifier {size}, {c_in}→{c_out}"
        drop = [k for k in kinds if k.startswith("Dropout") and k != "Dropout p=0"]
        return name + (f", {drop[0].lower()}" if drop else "")
    if head.startswith("MaxPool2d"):
        return "max-pool " + head.removeprefix("MaxPool2d ").replace("x", "×")
    return head


def field_before_pool(network) -> int:
    """The receptive field of the layer that feeds the network's (first) max-pool."""
    from torch import nn

    from mnist.model import receptive_fields

    pool = next(i for i, layer in enumerate(network) if isinstance(layer, nn.MaxPool2d))
    return receptive_fields(network)[pool - 1]


def architecture(model: str) -> dict:
    """The layer table, diagram, parameter count and receptive field, or why they are missing."""
    try:
        from mnist.model import ARCHS, build_model, count_params, describe, receptive_field
    except ImportError as exc:  # torch comes with the optional `mnist` extra
        return {"missing": f"{exc} (install the mnist extra: pip install -e '.[mnist]')"}
    network = build_model(model)
    rows = stages(describe(network))
    header = ["layer", "output shape", "parameters", "receptive field"]
    table = markdown_table(
        header,
        [[s.name, s.shape_text, f"{s.params:,}", f"{s.receptive_field}"] for s in rows],
    )
    title = f"{model}: the layers from the 28 × 28 input to the 10 class scores"
    return {
        "missing": "",
        "table": table,
        "diagram": architecture_svg(rows, 28, title),
        "parameters": f"{count_params(network):,}",
        "budget": f"{ARCHS[model].max_params:,}",
        "receptive_field": receptive_field(network),
        "pool_field": field_before_pool(network),
        "transition": ARCHS[model].transition,
        "separable": ARCHS[model].separable,
    }


def read_results(path: Path) -> dict:
    """A run's results.json: confusion counts and [index, true, predicted] per wrong digit."""
    results = read_json(path, "run's results")
    confusion = results.get("confusion") if isinstance(results, dict) else None
    wrong = results.get("misclassified") if isinstance(results, dict) else None
    square = isinstance(confusion, list) and len(confusion) == 10
    if not (square and all(isinstance(r, list) and len(r) == 10 for r in confusion)) or not all(
        type(count) is int and count >= 0 for row in confusion for count in row
    ):
        raise SiteError(f"{path}: 'confusion' must be 10 rows of 10 counts")
    if not isinstance(wrong, list) or not all(
        isinstance(w, list) and len(w) == 3 and all(isinstance(v, int) for v in w) for w in wrong
    ):
        raise SiteError(f"{path}: 'misclassified' must be a list of [index, true, predicted]")
    return results


def gallery_matches(misclassified: list[list[int]], labels) -> bool:
    """Whether every [index, true, predicted] names a test digit that has that true label."""
    return all(0 <= i < len(labels) and int(labels[i]) == true for i, true, _ in misclassified)


def dataset() -> dict:
    """The official split sizes and image side the data loader checks; {} without the extra."""
    try:
        from mnist.data import IMAGE_SIDE, OFFICIAL_COUNTS
    except ImportError:
        return {}
    return {
        "train": f"{OFFICIAL_COUNTS['train']:,}",
        "test": f"{OFFICIAL_COUNTS['test']:,}",
        "side": IMAGE_SIDE,
    }


def confusion_table(confusion: list[list[int]]) -> str:
    """Rows: the true digit; columns: the predicted one; the diagonal (correct) in bold."""
    rows = [
        [
            f"**{true}**",
            *(
                f"**{n:,}**" if true == pred else (str(n) if n else "·")
                for pred, n in enumerate(counts)
            ),
        ]
        for true, counts in enumerate(confusion)
    ]
    return markdown_table(["true ↓ predicted →", *map(str, range(10))], rows)


def results_context(settings: Settings, model: str, data_dir: str, files: dict) -> dict:
    """Confusion matrix and misclassified digits of the default model's first reference run;
    the digits only when MNIST itself is on this machine (it is never committed)."""
    found = sorted(
        settings.mnist_reference.glob(f"{model}/*/{RESULTS}"),
        key=lambda p: seed_order(p.parent.name),
    )
    if not found:
        raise SiteError(f"{settings.mnist_reference / model}: no reference run has its {RESULTS}")
    results = read_results(found[0])
    run = found[0].parent
    context = {
        "name": f"{model}/{run.name}",
        "errors": len(results["misclassified"]),
        "tested": f"{sum(map(sum, results['confusion'])):,}",
        "confusion": confusion_table(results["confusion"]),
        "misclassified": "",
        "data_dir": data_dir,
    }
    try:
        from mnist import plots
        from mnist.data import load_split

        test = load_split(settings.root / data_dir, "test")
    except (ImportError, DataError):  # no mnist extra, or no MNIST here: the note stands
        return context
    if not gallery_matches(results["misclassified"], test.labels):
        return context  # not the test split the run was scored on: the note stands instead
    files[site_path("mnist-reference-misclassified.png")] = png(
        plots.gallery_figure(test.images, results["misclassified"], len(test.labels))
    )
    context["misclassified"] = site_path("mnist-reference-misclassified.png")
    return context


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


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
        "confusion": plots.get(CONFUSION, ""),
        "misclassified": plots.get(MISCLASSIFIED, ""),
    }
