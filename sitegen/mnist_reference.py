"""The committed reference runs of the MNIST page: reading them, statistics over seeds, curves."""

from __future__ import annotations

import json
import statistics
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from mnist.cli import DataError
from mnist.metrics import read_metrics as read_metrics_file
from mnist.names import METRICS, SETTINGS
from safeio.inputs import InputError, read_text
from sitegen.mnist_svg import INK, figure_svg, ink_style
from sitegen.site_common import SiteError, markdown_table

TARGET = 99.4  # percent test accuracy the models are built to reach
Runs = dict[str, dict[str, list[dict]]]  # model -> seed folder -> one metrics dict per epoch
PER_RUN = ("model", "seed", "limit", "world_size")  # settings that are not the recipe
OLDER_TRAINER = "the trainer before the EMA (OneCycleLR, decay on every parameter)"
MAX_JSON_BYTES = 16 << 20  # a run's results.json is ~10 KB


def read_metrics(path: Path) -> list[dict]:
    """One dict per epoch from a run's metrics.jsonl (mnist.metrics, no torch needed);
    a broken or empty file is one clear error."""
    try:
        metrics = read_metrics_file(path)
    except DataError as exc:
        raise SiteError(str(exc)) from None
    if not metrics:
        raise SiteError(f"{path}: no epochs; a reference run lists one line per epoch")
    return metrics


def read_json(path: Path, what: str) -> object:
    """A JSON file of the site's inputs, read within MAX_JSON_BYTES (a regular file only);
    missing, unreadable, not JSON or nested past Python's recursion: one line naming it."""
    try:
        text = read_text(path, MAX_JSON_BYTES)
    except InputError as exc:
        raise SiteError(f"cannot read the {what}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteError(f"{path}: cannot read the {what}: {exc}") from None
    except RecursionError:
        raise SiteError(f"{path}: cannot read the {what}: nested too deep") from None


def read_defaults(root: Path) -> dict:
    """mnist/defaults.toml under root: the training settings the MNIST pages show; its model and
    data folder named as text."""
    path = root / "mnist" / "defaults.toml"
    try:
        defaults = tomllib.loads(read_text(path, MAX_JSON_BYTES))
    except InputError as exc:
        raise SiteError(f"cannot read the training defaults: {exc}") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SiteError(f"{path}: not valid TOML: {str(exc)[:200]}") from None
    for key in ("model", "data_dir"):
        if not isinstance(defaults.get(key), str) or not defaults[key]:
            raise SiteError(f"{path}: {key} must be set, as text")
    return defaults


def seed_order(name: str) -> tuple[int, str]:
    """seed-2 before seed-10."""
    tail = name.rpartition("-")[2]
    return (int(tail) if tail.isdigit() else 0, name)


def read_reference(folder: Path) -> Runs:
    """{model: {seed folder: metrics}} from folder/<model>/<seed>/metrics.jsonl; a folder without
    any run is one error (the MNIST page shows them: it is not built without)."""
    if not folder.is_dir():
        raise SiteError(
            f"{folder}: no MNIST reference runs there (mkdocs.yml extra.mnist_reference)"
        )
    runs: Runs = {}
    for model in sorted(p for p in folder.iterdir() if p.is_dir()):
        seeds = sorted(
            (p for p in model.iterdir() if (p / METRICS).is_file()),
            key=lambda p: seed_order(p.name),
        )
        if seeds:
            runs[model.name] = {seed.name: read_metrics(seed / METRICS) for seed in seeds}
    if not runs:
        raise SiteError(f"{folder}: no MNIST reference runs there (no <model>/<seed>/{METRICS})")
    return runs


def first_at_target(metrics: list[dict]) -> tuple[int, float] | None:
    """The first epoch whose test accuracy reaches TARGET, and the seconds spent until its end."""
    spent = 0.0
    for m in metrics:
        spent += m["seconds"]
        if 100 * m["test_acc"] >= TARGET - 1e-9:
            return m["epoch"], spent
    return None


def reach_text(reached: tuple[int, float] | None) -> str:
    return f"{reached[1]:.0f} s (epoch {reached[0]})" if reached else "not reached"


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


MAX_NAMED_SEEDS = 10  # past this many, one colour per seed is past telling apart


def accuracy_figure(model: str, seeds: dict[str, list[dict]]):
    """Test accuracy per epoch of each seed of one model, with the target line: each seed in its
    own colour, or, past MAX_NAMED_SEEDS, every seed thin and faint with their mean drawn over
    them (the seed table names each)."""
    with plt.rc_context(ink_style()):
        figure, axes = plt.subplots(figsize=(4.6, 3.2))
        named = len(seeds) <= MAX_NAMED_SEEDS
        for i, (seed, metrics) in enumerate(seeds.items()):
            epochs = [m["epoch"] for m in metrics]
            accuracy = [100 * m["test_acc"] for m in metrics]
            if named:
                colour = plt.cm.tab10.colors[i]
                axes.plot(epochs, accuracy, "o-", color=colour, markersize=3, label=seed)
            else:
                label = None if i else f"each of {len(seeds)} seeds"
                axes.plot(epochs, accuracy, "-", color=INK, alpha=0.3, linewidth=0.8, label=label)
        if not named:
            epochs, means = mean_curve(seeds)
            axes.plot(epochs, means, "o-", color=plt.cm.tab10.colors[0], markersize=3, label="mean")
        axes.axhline(TARGET, color="grey", linestyle=":", label=f"{TARGET}%")
        axes.set(
            xlabel="epoch",
            ylabel="test accuracy (%)",
            ylim=(98.0, 100.0),
            title=f"{model}: test accuracy per epoch",
        )
        axes.grid(alpha=0.3)
        axes.legend(loc="upper left", ncol=2)  # early epochs sit below 98%: that corner is free
    return figure


def lines_by_epoch(by_seed: dict[str, list[dict]]) -> list[list[dict]]:
    """For each epoch from the first, the metrics lines of the seeds that ran it."""
    longest = max(len(m) for m in by_seed.values())
    return [[m[epoch] for m in by_seed.values() if epoch < len(m)] for epoch in range(longest)]


def mean_curve(seeds: dict[str, list[dict]]) -> tuple[list[int], list[float]]:
    """Each epoch and the mean test accuracy (%) of the seeds that ran it."""
    epochs = lines_by_epoch(seeds)
    means = [statistics.mean(100 * line["test_acc"] for line in lines) for lines in epochs]
    return list(range(1, len(epochs) + 1)), means


def read_settings(path: Path) -> dict:
    """A reference run's settings.json (each run keeps one: the page shows its recipe)."""
    settings = read_json(path, "run's settings")
    if not isinstance(settings, dict):
        raise SiteError(f"{path}: must hold a JSON object of settings")
    return settings


def recipe_text(runs: list[dict], defaults: dict) -> str:
    """The settings in which a model's runs differ from defaults.toml, e.g. `epochs = 20`."""
    if not runs:
        return "not recorded"
    older = [r for r in runs if "ema" not in r]  # before the EMA, the step function schedule
    runs = [{k: v for k, v in r.items() if k != "momentum"} for r in older] or runs
    keys = sorted({k for r in runs for k in r if k not in PER_RUN and r[k] != defaults.get(k)})
    values = {k: " / ".join(dict.fromkeys(str(r.get(k)) for r in runs)) for k in keys}
    text = ", ".join(f"{k} = {v}" for k, v in values.items() if v != "None")
    if older:
        return f"{OLDER_TRAINER}; {text}"
    return text or "as defaults.toml"


SUMMARY_HEADER = ["model", "seeds", "mean", "minimum", "maximum", "spread (max − min)",
                  f"every seed ≥ {TARGET}%"]  # fmt: skip


def summary_row(model: str, by_seed: dict[str, list[dict]]) -> list[str]:
    """A model's seeds, their last-epoch test accuracy (mean, minimum, maximum, spread) and
    whether every one reached TARGET."""
    finals = [100 * m[-1]["test_acc"] for m in by_seed.values()]
    return [model, str(len(finals)), f"{statistics.mean(finals):.2f}", f"{min(finals):.2f}",
            f"{max(finals):.2f}", f"{max(finals) - min(finals):.2f}",
            "yes" if min(finals) >= TARGET - 1e-9 else "no"]  # fmt: skip


def seed_rows(runs: Runs) -> list[list[str]]:
    """One row per seed: each model's last-epoch test accuracy and time to TARGET."""
    seeds = sorted({s for by_seed in runs.values() for s in by_seed}, key=seed_order)
    rows = []
    for seed in seeds:
        cells = [seed]
        for by_seed in runs.values():
            metrics = by_seed.get(seed)
            if metrics:
                cells += [percent(metrics[-1]["test_acc"]), reach_text(first_at_target(metrics))]
            else:
                cells += ["", ""]
        rows.append(cells)
    return rows


def reference_context(runs: Runs, default: str, folder: Path, defaults: dict) -> dict:
    if not runs:
        return {}
    summary, recipes, figures, warped = [], [], [], None
    for model, by_seed in runs.items():
        summary.append(summary_row(model, by_seed))
        epochs = [m for metrics in by_seed.values() for m in metrics]
        settings = [read_settings(folder / model / s / SETTINGS) for s in by_seed]
        if model == default:
            warped = warped_epochs(settings)
        recipes.append([model, str(max(len(m) for m in by_seed.values())),
                        f"{statistics.mean(m['seconds'] for m in epochs):.0f}",
                        recipe_text(settings, defaults)])  # fmt: skip
        label = f"Test accuracy per epoch of each seed of {model}"
        figures.append(figure_svg(accuracy_figure(model, by_seed), label, f"mnist-{model}"))
    per_seed = ["seed", *(f"{m}: {what}" for m in runs for what in ("last epoch", f"to {TARGET}%"))]
    return {
        "accuracy": markdown_table(SUMMARY_HEADER, summary),
        "seeds": markdown_table(per_seed, seed_rows(runs)),
        "recipes": markdown_table(
            ["model", "epochs", "seconds per epoch", "settings other than defaults.toml"],
            recipes,
            align="--",
        ),
        "figures": figures,
        "models": ", ".join(f"`{m}` ({len(by_seed)} seeds)" for m, by_seed in runs.items()),
        "default": epoch_context(runs.get(default, {}), warped),
    }


TRAINED_ON = {True: "warped", False: "as they are"}


def warped_epochs(settings: list[dict]) -> int | None:
    """How many epochs, from the first, trained on warped digits (the rest on the digits as they
    are: clean_epochs), if every run's settings agree; None if they do not."""
    pairs = {(r.get("epochs"), r.get("clean_epochs", 0)) for r in settings}
    if len(pairs) != 1 or not all(isinstance(n, int) for n in next(iter(pairs))):
        return None
    epochs, clean = pairs.pop()
    return epochs - clean


def epoch_context(by_seed: dict[str, list[dict]], warped: int | None) -> dict:
    """The default model's test accuracy over its seeds epoch by epoch (mean, minimum, maximum,
    how many at TARGET), the learning rate, the seconds per epoch and whether the epoch's digits
    were warped (`warped` epochs from the first; None: not known)."""
    if not by_seed:
        return {}
    rows = []
    for epoch, lines in enumerate(lines_by_epoch(by_seed)):
        accuracies = [100 * line["test_acc"] for line in lines]
        seconds = [line["seconds"] for line in lines]
        rows.append([str(epoch + 1), f"{lines[0]['lr']:.4g}", f"{statistics.mean(accuracies):.2f}",
                     f"{min(accuracies):.2f}", f"{max(accuracies):.2f}",
                     f"{sum(a >= TARGET - 1e-9 for a in accuracies)} of {len(lines)}",
                     f"{min(seconds):.0f}–{max(seconds):.0f}",
                     "" if warped is None else TRAINED_ON[epoch < warped]])  # fmt: skip
    header = ["epoch", "lr", "test acc., mean (%)", "minimum", "maximum", f"seeds ≥ {TARGET}%",
              "seconds", "trained on digits"]  # fmt: skip
    finals = [100 * m[-1]["test_acc"] for m in by_seed.values()]
    minutes = [sum(e["seconds"] for e in m) / 60 for m in by_seed.values()]
    return {
        "table": markdown_table(header, rows),
        "seeds": len(finals),
        "worst": f"{min(finals):.2f}",
        "best": f"{max(finals):.2f}",
        "mean": f"{statistics.mean(finals):.2f}",
        "reached": min(finals) >= TARGET - 1e-9,
        "minutes": f"{min(minutes):.0f}–{max(minutes):.0f}",
    }
