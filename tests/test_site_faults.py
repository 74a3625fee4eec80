"""`mkdocs build` given a hostile BACKPROP_CONFIG: refused in one line, without waiting or reading
without end, and no traceback (the site reads the config through derive.config.load_config); and
given missing or damaged MNIST inputs (defaults, reference runs, their settings and results, the
Draw page's weights, NaN or a negative variance in them): one line, never a page built without."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import tomllib
from pathlib import Path

import pytest

from derive.config import MAX_NESTING


def nested(path):
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    return f"{path}: arrays or tables nested 5000 deep; at most {MAX_NESTING} are read"


def fifo(path):
    os.mkfifo(path)
    return f"{path}: is a FIFO (named pipe), not a regular file"


@pytest.mark.parametrize("make", [nested, fifo], ids=["nested 5000 deep", "FIFO"])
def test_hostile_site_config_is_one_error_line(mkdocs_run, tmp_path, make):
    config = tmp_path / "net.toml"
    expected = make(config)
    start = time.monotonic()
    done = mkdocs_run(tmp_path / "site", {"BACKPROP_CONFIG": str(config)})
    assert time.monotonic() - start < 120
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [f"ERROR   -  derive config: {expected}"]


# What the MNIST pages need, missing or damaged: one line, no page built without it ---------------

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site():
    """The classic network's Site, derived once; each test points it at its own files."""
    pytest.importorskip("torch")
    from sitegen.pages import derive_site
    from sitegen.site_common import Settings

    settings = Settings.from_mkdocs(
        str(ROOT / "mkdocs.yml"),
        {"derive_config": "derive/configs/classic.toml", "mnist_reference": "mnist/reference"},
    )
    return derive_site(settings)


@pytest.fixture
def inputs(tmp_path, site):
    """(a Site reading a copy of the repository's MNIST inputs under tmp_path, that copy)."""
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    shutil.copy(ROOT / "mnist" / "defaults.toml", root / "mnist" / "defaults.toml")
    shutil.copytree(ROOT / "mnist" / "reference", root / "mnist" / "reference")
    settings = dataclasses.replace(
        site.settings, root=root, mnist_reference=root / "mnist" / "reference", mnist_run=None
    )
    return dataclasses.replace(site, settings=settings), root


def default_model(root: Path) -> str:
    return tomllib.loads((root / "mnist" / "defaults.toml").read_text())["model"]


def deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def weights_changed(path: Path, change) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path), metadata=metadata)


def first_running_var(tensors: dict) -> str:
    return next(k for k in tensors if k.endswith("running_var"))


def negative_variance(tensors: dict) -> None:
    tensors[first_running_var(tensors)].fill_(-1.0)  # finite: only the output shows it


def nan_weight(tensors: dict) -> None:
    tensors[next(k for k in tensors if k.endswith("weight"))].view(-1)[0] = float("nan")


def run_file(root: Path, name: str) -> Path:
    return root / "mnist" / "reference" / default_model(root) / "seed-1" / name


# (what is done to the copy, which page's builder, what the one line says)
DAMAGE = {
    "defaults not TOML": (
        lambda r: (r / "mnist" / "defaults.toml").write_text("model = [\n"),
        "mnist",
        "defaults.toml: not valid TOML",
    ),
    "unknown default model": (
        lambda r: (r / "mnist" / "defaults.toml").write_text('model = "huge"\ndata_dir = "data"\n'),
        "mnist",
        "model = 'huge' is not one of mnist.model's",
    ),
    "no reference runs": (
        lambda r: shutil.rmtree(r / "mnist" / "reference"),
        "mnist",
        "no MNIST reference runs",
    ),
    "no run of the default model": (
        lambda r: shutil.rmtree(r / "mnist" / "reference" / default_model(r)),
        "mnist",
        "no reference run of the default model",
    ),
    "empty metrics": (
        lambda r: run_file(r, "metrics.jsonl").write_text(""),
        "mnist",
        "metrics.jsonl: no epochs",
    ),
    "results nested 100,000 deep": (
        lambda r: deep(run_file(r, "results.json")),
        "mnist",
        "results.json: cannot read the run's results: nested too deep",
    ),
    "settings nested 100,000 deep": (
        lambda r: deep(run_file(r, "settings.json")),
        "mnist",
        "settings.json: cannot read the run's settings: nested too deep",
    ),
    "settings missing": (
        lambda r: run_file(r, "settings.json").unlink(),
        "mnist",
        "settings.json: no such file",
    ),
    "text in the confusion matrix": (
        lambda r: run_file(r, "results.json").write_text(
            json.dumps({"confusion": [["x"] * 10 for _ in range(10)], "misclassified": []})
        ),
        "mnist",
        "'confusion' must be 10 rows of 10 counts",
    ),
    "weights missing": (
        lambda r: run_file(r, "model.safetensors").unlink(),
        "draw",
        "model.safetensors: no weights file",
    ),
    "a negative variance in the weights": (
        lambda r: weights_changed(run_file(r, "model.safetensors"), negative_variance),
        "draw",
        "running_var holds a negative variance",
    ),
    "a NaN weight": (
        lambda r: weights_changed(run_file(r, "model.safetensors"), nan_weight),
        "draw",
        "holds a value that is not finite",
    ),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_missing_or_damaged_mnist_input_fails_the_page_in_one_line(name, inputs):
    from sitegen import page_draw, page_mnist
    from sitegen.site_common import SiteError

    site, root = inputs
    damage, page, says = DAMAGE[name]
    damage(root)
    builder = {"mnist": page_mnist.build, "draw": page_draw.build}[page]
    with pytest.raises(SiteError) as refused:
        builder(site)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_copied_inputs_build_both_pages(inputs):
    from sitegen import page_draw, page_mnist

    site, _ = inputs
    assert page_mnist.build(site).context["reference"]
    assert "NaN" not in page_draw.build(site).files["generated/draw-network.json"]


def test_mkdocs_yml_without_the_reference_folder_is_one_error_line(mkdocs_run, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("docs", "overrides", "sitegen", "node_modules", "derive", "mnist"):
        (root / name).symlink_to(ROOT / name)
    text = (ROOT / "mkdocs.yml").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("mnist_reference:")]
    (root / "mkdocs.yml").write_text("\n".join(lines) + "\n")
    done = mkdocs_run(tmp_path / "site", cwd=root)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "extra.mnist_reference is required" in errors[0], done.stderr


def test_weights_that_are_a_fifo_are_refused_without_waiting(inputs, monkeypatch, tmp_path):
    """Opening a FIFO for reading waits for a writer: the weights are refused before that."""
    from mnist.fold import FoldError, read_exported
    from sitegen import page_draw
    from sitegen.site_common import SiteError

    site, _ = inputs
    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(FoldError, match="is a FIFO"):
        read_exported(fifo)
    monkeypatch.setenv(page_draw.WEIGHTS_ENV, str(fifo))
    with pytest.raises(SiteError, match=str(fifo)):
        page_draw.build(site)
