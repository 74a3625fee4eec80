"""mnist.checkpoint: well-formed but tampered checkpoints are refused in one line before use."""

import math

import pytest
import torch
from test_mnist_train import FAST, data_dir, one_error_line, run_train  # noqa: F401 (fixture)

from mnist import plots


def set_in(path: tuple, value):
    """A tampering that sets state[path[0]][path[1]]... = value."""

    def tamper(state: dict) -> None:
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return tamper


def fill_weights(value: float):
    def tamper(state: dict) -> None:
        for tensor in state["model"].values():
            if tensor.is_floating_point():
                tensor.fill_(value)

    return tamper


def cut_rng(state: dict) -> None:
    state["rng"]["torch"][0] = state["rng"]["torch"][0][:100]


def drop_weight(state: dict) -> None:
    del state["model"]["0.weight"]


def negative_variance(state: dict) -> None:
    """Finite, so each field passes; its square root makes every output NaN."""
    key = next(k for k in state["model"] if k.endswith("running_var"))
    state["model"][key].fill_(-1.0)


# (what is done to a good checkpoint of a 2-epoch run, what the one-line refusal must name)
TAMPERED = {
    "epoch x": (set_in(("epoch",), "x"), "epoch is 'x'"),
    "epoch 1.5": (set_in(("epoch",), 1.5), "epoch is 1.5"),
    "epoch 0": (set_in(("epoch",), 0), "epoch is 0"),
    "epoch -5": (set_in(("epoch",), -5), "epoch is -5"),
    "epoch True": (set_in(("epoch",), True), "epoch is True"),
    "momentum buffer shape": (
        set_in(("optimizer", "momentum_buffers", 0), torch.zeros(3)),
        "optimizer.momentum_buffers[0] is a float32 tensor of shape [3]",
    ),
    "momentum buffer inf": (
        set_in(("optimizer", "momentum_buffers", 0), torch.full((8, 1, 3, 3), math.inf)),
        "optimizer.momentum_buffers[0] holds NaN or infinite values",
    ),
    "momentum buffers a string": (
        set_in(("optimizer", "momentum_buffers"), "sgd"),
        "optimizer.momentum_buffers is 'sgd', expected a list",
    ),
    "a momentum buffer missing": (
        lambda state: state["optimizer"]["momentum_buffers"].pop(),
        "optimizer.momentum_buffers is a list of 31, expected a list of 32",
    ),
    "live weights NaN": (
        set_in(("live", "0.weight"), torch.full((8, 1, 3, 3), math.nan)),
        "live.0.weight holds NaN or infinite values",
    ),
    "rng state cut": (cut_rng, "rng.torch[0] is a uint8 tensor of shape [100]"),
    "rng state float": (
        set_in(("rng", "torch", 0), torch.zeros(5056)),
        "rng.torch[0] is a float32 tensor",
    ),
    "rng state not a list": (set_in(("rng", "torch"), torch.zeros(5056)), "missing rng.torch"),
    "all weights NaN": (fill_weights(math.nan), "model.0.weight holds NaN or infinite values"),
    "a weight of the wrong shape": (
        set_in(("model", "0.weight"), torch.zeros(1)),
        "model.0.weight is a float32 tensor of shape [1], expected a float32 tensor of shape",
    ),
    "a weight missing": (drop_weight, "model lacks ['0.weight']"),
    "a negative BatchNorm variance": (negative_variance, "running_var holds a negative variance"),
    "config lr a string": (set_in(("config", "lr"), "0.1"), "config: lr must be a number"),
    "config batch size 0": (set_in(("config", "batch_size"), 0), "batch_size must be > 0"),
}


@pytest.fixture(scope="module")
def good_run(data_dir, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    out = tmp_path_factory.mktemp("good") / "run"
    # nano, named: the tampered shapes and counts above are its own
    args = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "2", "--no-plots",
            "--model", "nano", *FAST]  # fmt: skip
    run_train(args)
    return out, args, (out / "checkpoint.pt").read_bytes()


@pytest.mark.parametrize("name", TAMPERED)
def test_a_tampered_checkpoint_is_refused_in_one_line(name, good_run, capsys):
    out, args, good = good_run
    tamper, expected = TAMPERED[name]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    tamper(state)
    torch.save(state, out / "checkpoint.pt")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    try:
        err = one_error_line(capsys, [*args, "--resume"])
        after = {p.name: p.read_bytes() for p in out.iterdir()}
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert "checkpoint.pt" in err and expected in err, err
    assert after == before  # nothing written, no temp file left behind


def test_the_untampered_checkpoint_resumes(good_run, capsys):
    out, args, _ = good_run
    metrics = (out / "metrics.jsonl").read_text()
    run_train([*args, "--resume"])  # nothing left to train: it loads, checks and ends
    assert "epochs 3..2" in capsys.readouterr().out
    assert (out / "metrics.jsonl").read_text() == metrics


def test_plots_refuse_nan_weights_in_one_line(good_run, capsys):
    out, _, good = good_run
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    fill_weights(math.nan)(state)
    torch.save(state, out / "checkpoint.pt")
    try:
        with pytest.raises(SystemExit) as exit_info:
            plots.main([str(out)])
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds NaN or infinite values" in err


def test_a_checkpoint_too_large_to_be_one_is_refused_before_reading(good_run, capsys):
    out, args, good = good_run
    with open(out / "checkpoint.pt", "r+b") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: no disk space used, but torch.load would read it
    try:
        err = one_error_line(capsys, [*args, "--resume"])
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert "checkpoint.pt: 314,572,800 bytes; a checkpoint here is at most 268,435,456" in err


# Settings added after checkpoints were first written, the values an older checkpoint was made
# with, and a value such a checkpoint must refuse to resume with.
ADDED = {
    "precision and layout": (("precision", "channels_last"), "--precision", "bfloat16",
                             "precision='float32', this run has precision='bfloat16'"),
    "shear, scale and stroke": (("shear", "scale", "stroke"), "--stroke", "0.5",
                                "stroke=0.0, this run has stroke=0.5"),
    "clean epochs": (("clean_epochs",), "--clean-epochs", "1",
                     "clean_epochs=0, this run has clean_epochs=1"),
}  # fmt: skip


@pytest.mark.parametrize("added", ADDED)
def test_a_checkpoint_from_before_a_setting_resumes_with_its_old_value(added, good_run, capsys):
    """A checkpoint written before --precision and --channels-last (trained in float32,
    channels-last) or before --shear, --scale and --stroke (trained without them) resumes as such,
    and a run with other values is refused in one line."""
    keys, flag, value, message = ADDED[added]
    out, args, good = good_run
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    for key in keys:
        del state["config"][key]
    torch.save(state, out / "checkpoint.pt")
    try:
        run_train([*args, "--resume"])
        assert "epochs 3..2" in capsys.readouterr().out
        err = one_error_line(capsys, [*args, "--resume", flag, value])
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert f"was made with {message}" in err


def test_a_checkpoint_of_the_trainer_before_the_ema_exports_but_does_not_resume(
    good_run, capsys, tmp_path
):
    """Checkpoints written with torch's OneCycleLR hold its scheduler state and one set of
    weights: resuming one is refused in one line; exporting its weights still works."""
    from mnist import export

    out, args, good = good_run
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["scheduler"] = {"last_epoch": 12}
    del state["live"]
    torch.save(state, out / "checkpoint.pt")
    try:
        err = one_error_line(capsys, [*args, "--resume"])
        export.main([str(out), "--out", str(tmp_path / "old.safetensors")])
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert "made by an older mnist.train" in err and "cannot resume" in err
    assert (tmp_path / "old.safetensors").stat().st_size > 0


def test_a_foreign_checkpoint_is_refused_in_one_line(good_run, capsys):
    """A bare state_dict, as torch.save(model.state_dict()) writes one elsewhere."""
    out, args, good = good_run
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    torch.save(state["model"], out / "checkpoint.pt")
    try:
        err = one_error_line(capsys, [*args, "--resume"])
    finally:
        (out / "checkpoint.pt").write_bytes(good)
    assert "checkpoint.pt: damaged checkpoint, missing model, optimizer, epoch, rng, config" in err
