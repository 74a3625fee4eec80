"""Draw a digit: committed MNIST weights, folded and run by generated JavaScript in the page.

The page gets the network (generated/draw-network.json), its forward pass
(generated/draw-forward.js) and, when MNIST is on this machine, a few test digits to load
(generated/draw-digits.json). docs/javascripts/draw.js does the drawing, the MNIST preparation
and the charts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mnist import names
from sitegen.draw_calibration import calibration_context
from sitegen.mnist_reference import read_defaults
from sitegen.page_mnist import gallery_matches, read_results
from sitegen.site_common import PageData, Site, SiteError, site_path

if TYPE_CHECKING:  # torch is optional: the builder imports mnist lazily
    from mnist.fold import Stage

WEIGHTS_ENV = "BACKPROP_DRAW_WEIGHTS"  # another `python -m mnist.export` file to show instead
# The run the page runs, under mkdocs.yml's extra.mnist_reference: the trainer's default model's
# seed-1 reference run, whose weights are committed for the browser.
WEIGHTS = Path("seed-1", names.WEIGHTS)
WRONG_SHOWN = 4  # misclassified digits offered beside one correct digit of each class
NETWORK, FORWARD, DIGITS = "draw-network.json", "draw-forward.js", "draw-digits.json"


def weights_file(root: Path, reference: Path) -> Path:
    """The exported weights the page runs: $BACKPROP_DRAW_WEIGHTS if set, else the default
    model's (mnist/defaults.toml under root) WEIGHTS in the reference folder."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV]).resolve()
    return reference / read_defaults(root)["model"] / WEIGHTS


def build(site: Site) -> PageData:
    settings = site.settings
    weights = weights_file(settings.root, settings.mnist_reference)
    context = {
        "weights": settings.shown(weights),
        "weights_env": WEIGHTS_ENV,
        "chosen": bool(os.environ.get(WEIGHTS_ENV)),
        "missing": "",
    }
    try:
        from mnist.fold import FoldError, fold, read_exported
        from sitegen.draw_net import ENGINE, ENGINE_NAME, forward_module, network_json
    except ImportError as exc:  # torch and safetensors come with the optional `mnist` extra
        context["missing"] = f"{exc} (install the mnist extra: pip install -e '.[mnist]')"
        return PageData(context)
    if not weights.is_file():  # the page runs them: it is not built without
        raise SiteError(f"{weights}: no weights file (python -m mnist.export writes one)")
    try:
        exported = read_exported(weights)
        stages = fold(exported.model)
    except FoldError as exc:
        raise SiteError(str(exc)) from None
    source = settings.shown(weights)
    files: dict[str, bytes | str | Path] = {
        site_path(NETWORK): network_json(exported, stages, source),
        site_path(FORWARD): forward_module(exported, stages, source),
        site_path(ENGINE_NAME): ENGINE,  # derive's kernels, which the module imports
    }
    recipe = read_defaults(settings.root)
    results_file = weights.parent / names.RESULTS
    results = read_results(results_file) if results_file.is_file() else None
    context |= {
        "model": exported.name,
        "default_model": recipe["model"],
        "parameters": f"{sum(p.numel() for p in exported.model.parameters()):,}",
        "accuracy": accuracy(results) if results else "",
        "results": settings.shown(results_file) if results else "",
        "stages": [stage_context(exported.model, stage) for stage in stages],
        "network": site_path(NETWORK),
        "forward": site_path(FORWARD),
        "digits": digits_context(settings.root / recipe["data_dir"], results, files),
        "calibration": calibration_context(weights),
    }
    return PageData(context, files)


def accuracy(results: dict) -> str:
    """Test accuracy in percent from a results.json's confusion counts (diagonal / all)."""
    confusion = results["confusion"]
    right = sum(row[i] for i, row in enumerate(confusion))
    return f"{100 * right / max(1, sum(map(sum, confusion))):.2f}"


def stage_context(model, stage: Stage) -> dict:
    """A stage's heading: the torch layers it stands for, its output shape, its receptive field."""
    from mnist.model import kind

    layers = [kind(model[i]) for i in range(stage.first, stage.last + 1)]
    span = f"{stage.first}–{stage.last}" if stage.last > stage.first else f"{stage.first}"
    return {
        "title": " + ".join(layers),
        "layers": f"layer{'s' * (stage.last > stage.first)} {span}",
        "shape": " × ".join(map(str, stage.shape)),
        "field": stage.receptive_field,
    }


def digits_context(data_dir: Path, results: dict | None, files: dict) -> dict:
    """Test digits to load: one correct digit of each class and the first few the run got
    wrong, with what its results.json records; their pixels only when MNIST is here."""
    if results is None:
        return {"offered": [], "listed": []}
    wrong = {index: predicted for index, _, predicted in results["misclassified"]}
    listed = [
        {"index": i, "label": t, "predicted": p}
        for i, t, p in results["misclassified"][:WRONG_SHOWN]
    ]
    context = {"offered": [], "listed": listed}
    from mnist.cli import DataError
    from mnist.data import load_split

    try:
        test = load_split(data_dir, "test")
    except DataError:
        return context  # the page lists the indices and says why it cannot show them
    if not gallery_matches(results["misclassified"], test.labels):
        return context  # not the test split the run was scored on
    labels = test.labels.tolist()
    correct = [next(i for i, label in enumerate(labels) if label == d and i not in wrong)
               for d in sorted(set(labels))]  # fmt: skip
    chosen = correct + [item["index"] for item in listed]
    offered = [
        {"index": i, "label": labels[i], "predicted": wrong.get(i, labels[i])} for i in chosen
    ]
    pixels = {str(i): test.images[i].flatten().tolist() for i in chosen}
    files[site_path(DIGITS)] = json.dumps(pixels, separators=(",", ":"))
    return context | {"offered": offered, "wrong": len(listed), "file": site_path(DIGITS)}
