"""The MNIST page: its numbers against the committed reference files read independently; a broken
results.json or metrics.jsonl is one SiteError line; the gallery only from a matching test split."""

import html
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from torchinfo import summary

from sitegen import mnist_records, mnist_svg, page_mnist
from sitegen.site_common import SiteError


def test_gallery_needs_the_true_labels_of_the_loaded_split():
    labels = torch.tensor([3, 1, 4, 1, 5])
    assert page_mnist.gallery_matches([[1, 1, 7], [3, 1, 2]], labels)
    assert not page_mnist.gallery_matches([[1, 2, 7]], labels)  # another split's digit 1
    assert not page_mnist.gallery_matches([[9, 1, 7]], labels)  # beyond the split


@pytest.mark.parametrize(
    "text", ['{"confusion": [[1]]', "[]", '{"confusion": [], "misclassified": []}']
)
def test_broken_results_json_is_one_plugin_error(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(SiteError, match=r"results\.json") as info:
        page_mnist.read_results(path)
    assert len(str(info.value).splitlines()) == 1


def test_partial_metrics_line_is_one_plugin_error(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "lr": 0.1, "train_loss": 1.0, "train_acc": 0.5, "test_loss"')
    with pytest.raises(SiteError, match=r"metrics.jsonl: line 1 is not JSON"):
        page_mnist.read_metrics(path)


# The built page against the committed files, read here on their own --------------------------

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "mnist" / "reference"


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (header row first)."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_tables(site_dir: Path) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed((site_dir / "mnist" / "index.html").read_text(encoding="utf-8"))
    return parser.tables


def table_starting(tables, *header: str) -> list[list[str]]:
    return next(t for t in tables if tuple(t[0][: len(header)]) == header)


def shows(cell: str, value: float) -> bool:
    """The cell is the value to two decimals (either way where the value is a half, as a mean
    of accuracies in steps of 0.01 can be)."""
    return abs(float(cell) - value) <= 0.005 + 1e-9


def committed_runs() -> dict[str, dict[int, list[dict]]]:
    runs: dict[str, dict[int, list[dict]]] = {}
    for path in REFERENCE.glob("*/seed-*/metrics.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        runs.setdefault(path.parent.parent.name, {})[int(path.parent.name[5:])] = lines
    return runs


def test_reference_runs_are_seeds_1_to_n_and_the_page_names_models_without(site_dir):
    from mnist.model import ARCHS

    runs = committed_runs()
    # seeds 1..n, none missing: every seed run with a recipe is committed, not a chosen few
    assert runs and all(sorted(seeds) == list(range(1, len(seeds) + 1)) for seeds in runs.values())
    text = re.sub(r"<[^>]+>", "", (site_dir / "mnist" / "index.html").read_text(encoding="utf-8"))
    unrun = sorted(set(ARCHS) - set(runs))
    if unrun:
        assert f"No reference folders for {', '.join(unrun)}:" in text
    else:
        assert "No reference folders" not in text


def test_accuracy_table_holds_each_models_mean_minimum_and_maximum(site_dir):
    table = table_starting(page_tables(site_dir), "model", "seeds", "mean")
    rows = {row[0]: row for row in table[1:]}
    runs = committed_runs()
    assert len(rows) == len(runs)
    for model, seeds in runs.items():
        finals = [100 * metrics[-1]["test_acc"] for metrics in seeds.values()]
        low, high = min(finals), max(finals)
        every = "yes" if low >= 99.4 else "no"
        row = rows[model]
        assert shows(row[2], sum(finals) / len(finals)), model
        assert [row[1], *row[3:]] == [str(len(finals)), f"{low:.2f}", f"{high:.2f}",
                                      f"{high - low:.2f}", every], model  # fmt: skip


def reached_text(metrics: list[dict]) -> str:
    """'263 s (epoch 14)': the seconds of every epoch up to the first at 99.4%."""
    total = 0.0
    for m in metrics:
        total += m["seconds"]
        if m["test_acc"] >= 0.994:
            return f"{total:.0f} s (epoch {m['epoch']})"
    return "not reached"


def test_seed_table_holds_each_seeds_last_epoch_and_time_to_99_4(site_dir):
    table = table_starting(page_tables(site_dir), "seed")
    runs = committed_runs()
    models = [cell.partition(":")[0] for cell in table[0][1::2]]
    assert sorted(models) == sorted(runs)
    assert table[0][1:] == [f"{m}: {what}" for m in models for what in ("last epoch", "to 99.4%")]
    every_seed = sorted({s for seeds in runs.values() for s in seeds})
    assert [row[0] for row in table[1:]] == [f"seed-{s}" for s in every_seed]
    for row, seed in zip(table[1:], every_seed, strict=True):
        for column, model in enumerate(models):
            metrics = runs[model].get(seed)
            expected = ["", ""]
            if metrics:
                expected = [f"{100 * metrics[-1]['test_acc']:.2f}", reached_text(metrics)]
            assert row[1 + 2 * column : 3 + 2 * column] == expected, (model, seed)


def test_model_table_gives_each_models_epochs_and_mean_seconds_per_epoch(site_dir):
    table = table_starting(page_tables(site_dir), "model", "epochs", "seconds per epoch")
    rows = {row[0]: row for row in table[1:]}
    for model, seeds in committed_runs().items():
        seconds = [m["seconds"] for metrics in seeds.values() for m in metrics]
        epochs = max(len(metrics) for metrics in seeds.values())
        assert rows[model][1:3] == [str(epochs), f"{sum(seconds) / len(seconds):.0f}"], model


def test_epoch_table_summarises_the_default_models_seeds_epoch_by_epoch(site_dir):
    model = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())["model"]
    seeds = committed_runs()[model]
    table = table_starting(page_tables(site_dir), "epoch", "lr", "test acc., mean (%)")
    recipes = [json.loads((REFERENCE / model / f"seed-{s}" / "settings.json").read_text())
               for s in seeds]  # fmt: skip
    settings = recipes[0]
    assert all({**r, "seed": 0} == {**settings, "seed": 0} for r in recipes)  # one recipe
    assert len(table) - 1 == max(len(metrics) for metrics in seeds.values())
    for row in table[1:]:
        epoch = int(row[0])
        lines = [
            metrics[epoch - 1] for _, metrics in sorted(seeds.items()) if epoch <= len(metrics)
        ]
        accuracies = [100 * line["test_acc"] for line in lines]
        at_target = sum(a >= 99.4 for a in accuracies)
        seconds = [line["seconds"] for line in lines]
        assert shows(row[2], sum(accuracies) / len(lines)), epoch
        expected = [f"{min(accuracies):.2f}", f"{max(accuracies):.2f}"]
        assert row[3:6] == [*expected, f"{at_target} of {len(lines)}"], epoch
        assert row[6] == f"{min(seconds):.0f}–{max(seconds):.0f}", epoch
        clean = epoch > settings["epochs"] - settings["clean_epochs"]
        assert row[7] == ("as they are" if clean else "warped"), epoch
        assert float(row[1]) == pytest.approx(lines[0]["lr"], rel=1e-3), epoch


def test_time_table_names_each_models_settings_apart_from_the_defaults(site_dir):
    table = table_starting(page_tables(site_dir), "model", "epochs", "seconds per epoch")
    assert table[0][-1] == "settings other than defaults.toml"
    defaults = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())
    for row in table[1:]:
        runs = [json.loads(p.read_text()) for p in REFERENCE.glob(f"{row[0]}/seed-*/settings.json")]
        assert len(runs) == len(list(REFERENCE.glob(f"{row[0]}/seed-*/metrics.jsonl")))
        older = all("ema" not in run for run in runs)  # made by the trainer before the EMA
        assert row[-1].startswith("the trainer before the EMA") == older, row
        listed = row[-1].rpartition("; ")[2]
        named = dict(item.split(" = ") for item in listed.split(", ")) if "=" in listed else {}
        for key in ("epochs", "batch_size", "lr", "rotation", "translation", "weight_decay"):
            values = {run[key] for run in runs}
            if values == {defaults[key]}:
                assert key not in named, (row[0], key)
            else:
                assert {float(v) for v in named[key].split(" / ")} == values, (row[0], key)


def test_architecture_table_adds_up_to_torchinfos_count(site_dir):
    from mnist.model import build_model

    model = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())["model"]
    table = table_starting(page_tables(site_dir), "layer", "output shape", "parameters")
    total = summary(build_model(model), input_size=(1, 1, 28, 28), verbose=0).total_params
    assert sum(int(row[2].replace(",", "")) for row in table[1:]) == total
    assert table[-1][1] == "10"  # one score per digit
    text = (site_dir / "mnist" / "index.html").read_text(encoding="utf-8")
    assert f"<strong>{total:,} parameters</strong>" in text
    assert "Units." not in text and "seconds per run" not in text


def test_architecture_prose_names_the_default_models_pool_field_and_its_depthwise_convs(site_dir):
    """The receptive field before the max-pool by autograd, and the depthwise convs by counting
    them in the model, against what the page says."""
    from test_mnist_model import autograd_receptive_field
    from torch import nn

    from mnist.model import build_model

    name = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())["model"]
    model = build_model(name)
    pool = next(i for i, layer in enumerate(model) if isinstance(layer, nn.MaxPool2d))
    field = autograd_receptive_field(model[:pool])
    depthwise = sum(isinstance(m, nn.Conv2d) and m.groups > 1 for m in model)
    text = " ".join((site_dir / "mnist" / "index.html").read_text(encoding="utf-8").split())
    assert f"once the network sees {field} × {field} patches" in text
    assert (f"The last {depthwise} of those 3 × 3 convolutions are" in text) == (depthwise > 0)


def test_confusion_table_is_the_default_models_seed_1_results(site_dir):
    model = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())["model"]
    results = json.loads((REFERENCE / model / "seed-1" / "results.json").read_text())
    table = table_starting(page_tables(site_dir), "true ↓ predicted →")
    for true, row in enumerate(table[1:]):
        counts = [0 if cell == "·" else int(cell.replace(",", "")) for cell in row[1:]]
        assert counts == results["confusion"][true]


def test_pictures_are_inline_svg_in_the_pages_colour(site_dir):
    text = (site_dir / "mnist" / "index.html").read_text(encoding="utf-8")
    assert text.count('<svg class="mnist-arch"') == 1
    assert text.count('class="mnist-plot"') == len(committed_runs())
    assert "currentColor" in text and mnist_svg.INK not in text
    assert "<metadata" not in text  # matplotlib's name and the date: not for search, not needed


def test_page_credits_mnist_names_the_errors_and_says_how_to_add_a_run(site_dir):
    model = tomllib.loads((ROOT / "mnist" / "defaults.toml").read_text())["model"]
    results = json.loads((REFERENCE / model / "seed-1" / "results.json").read_text())
    confusion = results["confusion"]
    errors = sum(map(sum, confusion)) - sum(confusion[k][k] for k in range(10))
    lines = (REFERENCE / model / "seed-1" / "metrics.jsonl").read_text().splitlines()
    final = json.loads(lines[-1])
    assert errors == len(results["misclassified"]) == round((1 - final["test_acc"]) * 10_000)
    text = html.unescape((site_dir / "mnist" / "index.html").read_text(encoding="utf-8"))
    assert "Yann LeCun, Corinna Cortes and" in text and "Christopher J.C. Burges" in text
    assert f"misclassifies {errors} of the 10,000 test digits" in text
    assert "BACKPROP_MNIST_RUN=runs/mine" in re.sub(r"<[^>]+>", "", text)


@pytest.mark.browser
def test_pictures_fill_the_text_column_on_a_phone(server, browser):
    """Inline SVGs have no intrinsic size: without one set in CSS they shrink to nothing."""
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        browser.get(f"{server}/mnist/")
        widths = browser.execute_script(
            "return [...document.querySelectorAll('svg.mnist-plot, svg.mnist-arch')]"
            ".map(svg => svg.getBoundingClientRect().width)"
        )
        column = browser.execute_script(
            "return document.querySelector('.md-content__inner').getBoundingClientRect().width"
        )
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert len(widths) == 1 + len(committed_runs())
    assert column > 300 and all(width >= 0.9 * column for width in widths), (widths, column)


def test_gpu_table_shows_every_recorded_search_and_trainer_run(site_dir):
    record = json.loads((REFERENCE / "gpu-search.json").read_text())
    table = table_starting(page_tables(site_dir), "runs", "weights tested", "seeds")
    expected = []
    for run in record["search"]:
        for key in ("raw", "ema0.999"):
            expected.append(run["last_epoch_test_acc"][key])
    expected.append(list(record["trainer"]["last_epoch_test_acc"].values()))
    assert len(table) - 1 == len(expected)
    for row, accuracies in zip(table[1:], expected, strict=True):
        below = sum(a < 99.4 for a in accuracies)
        mean = sum(accuracies) / len(accuracies)
        cells = [len(accuracies), f"{mean:.2f}", f"{min(accuracies):.2f}"]
        assert row[2:] == [*map(str, cells), f"{max(accuracies):.2f}", str(below)], row


def seeds_in(ranges: str) -> set[int]:
    """{1, 2, 3, 7} from '1–3, 7'."""
    seeds = set()
    for part in ranges.split(", "):
        low, _, high = part.partition("–")
        seeds |= set(range(int(low), int(high or low) + 1))
    return seeds


def timing_cell(runs: list[dict]) -> str:
    """'82.5–88.8 (1–2)': seconds from launch to exit, then how many trainings ran at once."""
    seconds = [r["seconds"] for r in runs if "seconds" in r]
    if not seconds:
        return ""
    low, high = f"{min(seconds):.1f}", f"{max(seconds):.1f}"
    cell = low if low == high else f"{low}–{high}"
    at_once = sorted({r["side_by_side"] for r in runs if "side_by_side" in r})
    if len(at_once) == 1:
        return f"{cell} ({at_once[0]})"
    return f"{cell} ({at_once[0]}–{at_once[-1]})" if at_once else cell


def test_cpu_table_shows_every_recorded_run(site_dir):
    record = json.loads((REFERENCE / "cpu-runs.json").read_text())
    table = table_starting(page_tables(site_dir), "group: settings", "epochs", "seeds")
    groups: dict[tuple, list[dict]] = {}
    for run in record["runs"]:
        settings = ", ".join(f"{k} = {v}" for k, v in (run.get("settings") or {}).items())
        key = (run["group"], settings, run.get("note"), run["epochs_run"])
        groups.setdefault(key, []).append(run)
    assert len(table) - 1 == len(groups)
    for row, ((group, settings, note, epochs), runs) in zip(table[1:], groups.items(), strict=True):
        accuracies = [r["last_epoch_test_acc"] for r in runs]
        low, high = f"{min(accuracies):.2f}", f"{max(accuracies):.2f}"
        label = f"{group}: {settings}" if settings else group
        assert row[0] == (f"{label} ({note})" if note else label), row
        assert row[1] == str(epochs) and seeds_in(row[2]) == {r["seed"] for r in runs}, row
        assert shows(row[4], sum(accuracies) / len(runs)), row
        assert [row[3], *row[5:7]] == [str(len(runs)), low if low == high else f"{low}–{high}",
                                       str(sum(a < 99.4 for a in accuracies))], row  # fmt: skip
        assert row[7] == timing_cell(runs), row
    assert sum(int(row[3]) for row in table[1:]) == len(record["runs"])  # none left out


BROKEN_CPU_RECORDS = [
    "[]",
    '{"device": "cpu", "runs": [{"group": "g"}]}',
    '{"device": "cpu", "runs": [{"group": "g", "seed": 1, "epochs_run": 5, '
    '"last_epoch_test_acc": 99.5, "seconds": "slow"}]}',
]


@pytest.mark.parametrize("text", BROKEN_CPU_RECORDS)
def test_broken_cpu_run_record_is_one_plugin_error(tmp_path, text):
    (tmp_path / "cpu-runs.json").write_text(text)
    with pytest.raises(SiteError, match=r"cpu-runs\.json: not a CPU run record") as info:
        mnist_records.cpu_context(tmp_path)
    assert len(str(info.value).splitlines()) == 1


def test_warped_epochs_are_named_only_where_every_run_agrees():
    from sitegen.mnist_reference import warped_epochs

    assert warped_epochs([{"epochs": 20, "clean_epochs": 2, "seed": s} for s in (1, 2)]) == 18
    assert warped_epochs([{"epochs": 15}]) == 15  # before clean epochs existed: every one warped
    assert warped_epochs([{"epochs": 20, "clean_epochs": 2}, {"epochs": 20}]) is None
    assert warped_epochs([{"epochs": "20", "clean_epochs": 2}]) is None


def test_mean_curve_averages_each_epoch_over_the_seeds_that_ran_it():
    from sitegen.mnist_reference import mean_curve

    seeds = {
        "1": [{"test_acc": 0.99}, {"test_acc": 0.994}, {"test_acc": 0.995}],
        "2": [{"test_acc": 0.97}, {"test_acc": 0.992}],  # a stopped run: two epochs
    }
    epochs, means = mean_curve(seeds)
    assert epochs == [1, 2, 3]
    assert means == pytest.approx([98.0, 99.3, 99.5])


NAMED = (3, ["1", "2", "3", "99.4%"])
MEANED = (12, ["each of 12 seeds", "mean", "99.4%"])


@pytest.mark.parametrize(("n_seeds", "legend"), [NAMED, MEANED])
def test_accuracy_figure_names_each_seed_up_to_ten_then_draws_their_mean(n_seeds, legend):
    import matplotlib.pyplot as plt

    from sitegen.mnist_reference import accuracy_figure

    metrics = [{"epoch": e, "test_acc": 0.99 + e / 1000} for e in (1, 2)]
    figure = accuracy_figure("nano", {str(s): metrics for s in range(1, n_seeds + 1)})
    try:
        assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == legend
    finally:
        plt.close(figure)
