"""mnist.train on small synthetic IDX data: smoke epoch, resume equality, bad input, torchrun."""

import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from mnist import plots, step, train
from mnist.config import parse_args, settings_text
from mnist.data import write_split
from mnist.evaluate import normalize, prepare_model
from mnist.model import ARCHS, build_model

METRIC_KEYS = {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"}
# --clean-epochs 0: the default's last clean epochs would leave a 2-epoch test run unwarped.
FAST = ["--threads", "1", "--batch-size", "32", "--limit", "192", "--clean-epochs", "0"]


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Digit k drawn as a bright bar whose position and angle depend on k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for img, k in zip(images, labels, strict=True):
        img[4 + 2 * k : 7 + 2 * k, 4:24] = 255 if k % 2 else 200
        if k >= 5:
            img[4:24, 4 + 3 * (k - 5) : 7 + 3 * (k - 5)] = 230
    return images, labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mnist")
    write_split(d, "train", *synthetic_split(200, 1))
    write_split(d, "test", *synthetic_split(100, 2))
    return d


def run_train(args: list[str]) -> None:
    train.main(args)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_epoch_shares_match_distributed_sampler():
    n, seed, epoch = 101, 7, 3
    for world in (1, 2, 3):
        for rank in range(world):
            sampler = DistributedSampler(
                range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed
            )
            sampler.set_epoch(epoch)
            ours = train.epoch_indices(n, epoch, seed, train.Dist(rank, world))
            assert ours.tolist() == list(sampler)


def test_augment_without_rotation_or_shift_is_the_identity():
    images = torch.from_numpy(synthetic_split(16, 3)[0])
    warped = step.augment(images, rotation=0.0, translation=0.0)
    assert torch.allclose(warped[:, 0], images.float() / 255, atol=1e-5)


def centre_of_mass(x: torch.Tensor) -> torch.Tensor:
    """(row, col) centre of mass of each image in a (B, 28, 28) batch."""
    grid = torch.arange(28, dtype=torch.float64)
    mass = x.double().sum((1, 2))
    return torch.stack(
        [(x.double().sum(2) * grid).sum(1) / mass, (x.double().sum(1) * grid).sum(1) / mass], 1
    )


def test_augment_shift_stays_within_the_limit_and_varies():
    torch.manual_seed(0)
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    images[:, 11:17, 11:17] = 255  # a centred square: zero padding never cuts it
    warped = step.augment(images, rotation=0.0, translation=2.0)[:, 0]
    moved = centre_of_mass(warped) - centre_of_mass(images)
    assert moved.abs().max() <= 2.0 + 1e-6
    assert moved.abs().max() > 1.0 and moved.std() > 0.3  # shifts are random, not constant


def test_smoke_epoch_end_to_end(data_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "1", *FAST]
    run_train(args)
    [line] = metrics(out)
    assert set(line) == METRIC_KEYS
    assert line["epoch"] == 1 and 0 <= line["train_acc"] <= 1 and line["seconds"] > 0
    # Score the checkpoint independently of mnist.train's test loop.
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert {"model", "live", "optimizer", "epoch", "rng", "config"} == set(state)
    # settings.json: what decides the result, none of where or how fast it ran
    settings = json.loads((out / "settings.json").read_text())
    assert settings["epochs"] == 1 and settings["batch_size"] == 32 and settings["limit"] == 192
    assert {"data_dir", "out", "threads", "device", "compile", "cuda_graphs"}.isdisjoint(settings)
    assert settings == {k: v for k, v in state["config"].items() if k in settings}
    # as the reference folders hold it (tests/test_mnist_config.py)
    assert (out / "settings.json").read_text() == settings_text(parse_args(args)[0])
    model = build_model(state["config"]["model"])  # the default model
    model.load_state_dict(state["model"])
    model.eval()
    images, labels = synthetic_split(100, 2)
    x = (torch.from_numpy(images).float()[:, None] / 255 - 0.1307) / 0.3081
    with torch.no_grad():
        logits = model(x)
    y = torch.from_numpy(labels).long()
    assert line["test_acc"] == (logits.argmax(1) == y).sum().item() / len(y)
    assert math.isclose(line["test_loss"], F.cross_entropy(logits, y).item(), rel_tol=1e-5)
    results = json.loads((out / "results.json").read_text())
    wrong = (logits.argmax(1) != y).nonzero().flatten().tolist()
    assert [i for i, _, _ in results["misclassified"]] == wrong
    assert sum(results["confusion"][k][k] for k in range(10)) == len(y) - len(wrong)
    pngs = [out / name for name in ("curves.png", "confusion.png", "misclassified.png")]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        png.unlink()
    plots.main([str(out)])  # redraws them from the checkpoint
    assert all(png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for png in pngs)


@pytest.fixture
def conv_calls(monkeypatch) -> list[tuple[bool, bool | None, torch.dtype]]:
    """Every Conv2d call while the test runs: training or not, whether its input is channels-last
    (None for one channel, which is both layouts at once), and its output's dtype."""
    calls = []
    conv_forward = torch.nn.Conv2d.forward

    def recording_forward(self, x):
        out = conv_forward(self, x)
        layout = x.is_contiguous(memory_format=torch.channels_last) if x.shape[1] > 1 else None
        calls.append((self.training, layout, out.dtype))
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", recording_forward)
    return calls


def test_bfloat16_precision_trains_in_bfloat16_and_tests_in_float32(data_dir, tmp_path, conv_calls):
    """--precision bfloat16: every training step's convolutions compute in bfloat16 (autocast),
    the test pass in float32, and the run differs from a float32 one only in rounding."""
    common = ["--data-dir", str(data_dir), "--epochs", "2", "--no-plots", *FAST]
    run_train([*common, "--out", str(tmp_path / "bf16"), "--precision", "bfloat16"])
    assert {dtype for training, _, dtype in conv_calls if training} == {torch.bfloat16}
    assert {dtype for training, _, dtype in conv_calls if not training} == {torch.float32}
    conv_calls.clear()
    run_train([*common, "--out", str(tmp_path / "fp32")])
    assert {dtype for _, _, dtype in conv_calls} == {torch.float32}
    low, full = metrics(tmp_path / "bf16"), metrics(tmp_path / "fp32")
    assert [m["train_loss"] for m in low] != [m["train_loss"] for m in full]
    for a, b in zip(low, full, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=0.05)


# What --precision auto must pick: bfloat16 only where it is done in hardware.
CPUS = {
    "AVX-512 BF16": ({"avx2": True, "avx512_f": True, "avx512_bf16": True}, "bfloat16"),
    "AMX": ({"avx2": True, "avx512_f": True, "amx_bf16": True, "amx_tile": True}, "bfloat16"),
    "AVX-512 without BF16": ({"avx2": True, "avx512_f": True, "avx512_bf16": False}, "float32"),
    "AVX2 only": ({"avx2": True}, "float32"),
    "an ARM CPU": ({"architecture": "arm64", "neon": True}, "float32"),
}


@pytest.mark.parametrize("cpu", CPUS)
def test_auto_precision_is_bfloat16_only_on_a_cpu_that_has_it(cpu, monkeypatch):
    capabilities, expected = CPUS[cpu]
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert train.pick_precision("auto", torch.device("cpu")) == expected
    for name in ("float32", "bfloat16"):  # a precision asked for by name is kept
        assert train.pick_precision(name, torch.device("cpu")) == name


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_on_a_gpu_asks_for_bfloat16_in_hardware(native, expected, monkeypatch):
    """A GPU before compute capability 8 emulates bfloat16: auto must not count it."""
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return native or including_emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert train.pick_precision("auto", torch.device("cuda")) == expected
    assert asked == [False]
    assert train.pick_precision("auto", torch.device("mps")) == "float32"


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_trains_and_records_as_the_precision_it_picks(
    native, data_dir, tmp_path, conv_calls, monkeypatch
):
    """--precision auto trains exactly as the precision it picks given by name (same metrics),
    and settings.json and the checkpoint record that name, so the run is reproducible."""
    picked = "bfloat16" if native else "float32"
    dtype = torch.bfloat16 if native else torch.float32
    monkeypatch.setattr(train, "native_bfloat16", lambda device: native)
    common = ["--data-dir", str(data_dir), "--epochs", "2", "--no-plots", *FAST]
    run_train([*common, "--out", str(tmp_path / "auto"), "--precision", "auto"])
    assert {computed for training, _, computed in conv_calls if training} == {dtype}
    run_train([*common, "--out", str(tmp_path / "named"), "--precision", picked])
    auto, named = metrics(tmp_path / "auto"), metrics(tmp_path / "named")
    for line in auto + named:
        del line["seconds"]  # wall time: the one number that may differ
    assert auto == named
    assert json.loads((tmp_path / "auto" / "settings.json").read_text())["precision"] == picked
    state = torch.load(tmp_path / "auto" / "checkpoint.pt", weights_only=True)
    assert state["config"]["precision"] == picked


@pytest.mark.parametrize(("precision", "native", "named"), [
    ("bfloat16", False, "bfloat16 (emulated on this device, slower than float32)"),
    ("bfloat16", True, "bfloat16,"),
    ("auto", False, "float32,"),
])  # fmt: skip
def test_the_first_line_names_the_precision_and_warns_where_bfloat16_is_emulated(
    precision, native, named, data_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(train, "native_bfloat16", lambda device: native)
    args = ["--data-dir", str(data_dir), "--epochs", "1", "--no-plots", *FAST]
    run_train([*args, "--out", str(tmp_path / "run"), "--precision", precision])
    first = capsys.readouterr().out.splitlines()[0]
    assert f"cpu, {named}" in first and first.count("emulated") == named.count("emulated"), first


def test_channels_last_changes_the_layout_not_the_numbers(data_dir, tmp_path, conv_calls):
    """--no-channels-last: the convolutions see NCHW tensors instead of NHWC ones, and the run's
    metrics agree with the default's to float32 rounding (two epochs, to 1e-4). At a tenth of the
    default learning rate: at the default, the first steps amplify the layouts' different float32
    rounding (4e-6 in one step's gradients) to 1e-4 on an AVX2 CPU and to 2e-3 on an AVX-512 one
    in twelve steps; at 0.02 it stays near 1e-5 on both. On tiny: the float32 rounding of nano's
    depthwise convs differs more between the two layouts (the float64 test below shows the
    layouts compute the same)."""
    common = ["--data-dir", str(data_dir), "--epochs", "2", "--no-plots", "--model", "tiny", *FAST]
    common += ["--lr", "0.02"]
    run_train([*common, "--out", str(tmp_path / "nchw"), "--no-channels-last"])
    assert {layout for training, layout, _ in conv_calls if training} - {None} == {False}
    conv_calls.clear()
    run_train([*common, "--out", str(tmp_path / "nhwc")])
    assert {layout for training, layout, _ in conv_calls if training} - {None} == {True}
    for a, b in zip(metrics(tmp_path / "nchw"), metrics(tmp_path / "nhwc"), strict=True):
        for key in ("train_loss", "test_loss", "test_acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_both_layouts_give_the_same_loss_and_gradients_in_float64(name):
    """One training step of every model, NCHW against NHWC, in float64: same loss, same gradient
    for every parameter (to 1e-12), so the layout changes how the numbers are stored, not them."""
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(16) % 10
    steps = {}
    for channels_last in (False, True):
        torch.manual_seed(1)
        model = prepare_model(name, torch.device("cpu"), channels_last).double().train()
        for layer in model:  # dropout draws its mask in memory order: a different one per layout
            if isinstance(layer, torch.nn.Dropout):
                layer.eval()
        # Only a weight with several input channels and a kernel over 1x1 has two layouts.
        convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1 < p.shape[2]]
        assert all(w.is_contiguous(memory_format=torch.channels_last) == channels_last
                   for w in convs)  # fmt: skip
        loss = F.cross_entropy(model(normalize(x, channels_last)), y)
        loss.backward()
        steps[channels_last] = loss.item(), [p.grad for p in model.parameters()]
    (loss_nchw, grads_nchw), (loss_nhwc, grads_nhwc) = steps[False], steps[True]
    assert loss_nchw == pytest.approx(loss_nhwc, rel=1e-12)
    for a, b in zip(grads_nchw, grads_nhwc, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


class Killed(Exception):
    pass


def test_resume_after_a_kill_gives_the_same_metrics(data_dir, tmp_path, monkeypatch):
    common = ["--data-dir", str(data_dir), "--epochs", "3", "--no-plots", *FAST]
    run_train([*common, "--out", str(tmp_path / "straight")])

    save = train.save_checkpoint

    def die_before_epoch_2_checkpoint(run_dir, model, ema, optimizer, epoch, *rest):
        if epoch == 2:  # the worst moment: metrics line written, checkpoint not
            raise Killed
        save(run_dir, model, ema, optimizer, epoch, *rest)

    killed = tmp_path / "killed"
    monkeypatch.setattr(train, "save_checkpoint", die_before_epoch_2_checkpoint)
    with pytest.raises(Killed):
        run_train([*common, "--out", str(killed)])
    monkeypatch.setattr(train, "save_checkpoint", save)
    assert [m["epoch"] for m in metrics(killed)] == [1, 2]
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG it starts with
    run_train([*common, "--out", str(killed), "--resume"])

    assert without_seconds(metrics(killed)) == without_seconds(metrics(tmp_path / "straight"))
    straight_state = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    resumed_state = torch.load(killed / "checkpoint.pt", weights_only=True)["model"]
    for key, value in straight_state.items():
        assert torch.equal(value, resumed_state[key]), key


def without_seconds(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "seconds"} for m in lines]


def one_error_line(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_train(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


OUT_OF_RANGE = [
    *[("--pct-start", "1"), ("--pct-start", "0"), ("--momentum", "0"), ("--weight-decay", "-1")],
    *[("--threads", "-1"), ("--rotation", "-5"), ("--translation", "nan")],
    *[("--label-smoothing", "1"), ("--lr", "inf")],
]


def test_bad_input_exits_2_with_one_line(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = [
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--lr",
        "0.1",
        "--no-plots",
        *FAST,
    ]
    assert "no checkpoint.pt" in one_error_line(capsys, [*base, "--resume"])
    run_train(base)
    assert "already holds a run" in one_error_line(capsys, base)
    err = one_error_line(capsys, [*base, "--resume", "--lr", "0.05"])
    assert "lr=0.1" in err and "lr=0.05" in err
    assert "--epochs must be > 0" in one_error_line(capsys, [*base, "--epochs", "0"])
    for flag, value in OUT_OF_RANGE:
        assert f"{flag} must be" in one_error_line(capsys, [*base, flag, value])
    cpus = os.cpu_count()
    err = one_error_line(capsys, [*base, "--threads", str(cpus + 1)])
    assert f"--threads {cpus + 1}: this machine has {cpus} CPUs" in err
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert "is a file" in one_error_line(capsys, [*base[:3], str(a_file), *base[4:]])
    under_a_file = [*base[:3], str(a_file / "run"), *base[4:]]
    assert str(a_file) in one_error_line(capsys, under_a_file)


def accelerator_found(monkeypatch, kind: str | None) -> None:
    """torch.accelerator as it answers on a machine with this accelerator (None: none)."""

    def current_accelerator(check_available: bool = False):
        assert check_available  # the build's accelerator is not enough: it must be usable
        return None if kind is None else torch.device(kind)

    monkeypatch.setattr(torch.accelerator, "current_accelerator", current_accelerator)


@pytest.mark.parametrize(
    ("found", "asked", "chosen"),
    [
        (None, "auto", "cpu"),
        ("cuda", "auto", "cuda"),
        ("mps", "auto", "mps"),
        ("cuda", "cpu", "cpu"),
        (None, "cpu", "cpu"),
        ("cuda", "cuda", "cuda"),
        ("mps", "mps", "mps"),
    ],
)
def test_device_choice_goes_through_torch_accelerator(monkeypatch, found, asked, chosen):
    accelerator_found(monkeypatch, found)
    assert train.pick_device(asked) == torch.device(chosen)


def test_device_choice_on_this_machine_matches_what_torch_reports():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if torch.backends.mps.is_available():
        expected = "mps"
    assert train.pick_device("auto").type == expected


def test_float32_runs_ask_cudnn_for_float32_convolutions(monkeypatch):
    """PyTorch lets cuDNN convolve float32 in TF32 (10-bit mantissa) unless told not to."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # PyTorch's default
    cfg, _, _ = parse_args(["--device", "cpu", "--threads", str(torch.get_num_threads())])
    train.start(cfg)
    assert torch.backends.cudnn.allow_tf32 is False


@pytest.mark.parametrize("found", [None, "cuda", "mps"])
def test_unavailable_device_is_one_line(data_dir, tmp_path, capsys, monkeypatch, found):
    accelerator_found(monkeypatch, found)
    has = f"its accelerator is {found}" if found else "it has no accelerator"
    for device in {"cuda", "mps"} - {found}:
        err = one_error_line(capsys, ["--device", device, "--out", str(tmp_path / "r"), *FAST])
        assert (
            err
            == f"error: --device {device}: not available on this machine ({has}; use auto or cpu)"
        )


def test_damaged_checkpoint_is_one_line_in_train_and_plots(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "2", "--no-plots", *FAST]
    run_train(base)
    path = out / "checkpoint.pt"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # cut mid-write, as a full disk would
    assert "checkpoint.pt: cannot be loaded" in one_error_line(capsys, [*base, "--resume"])
    with pytest.raises(SystemExit) as exit_info:
        plots.main([str(out)])
    assert exit_info.value.code == 2
    assert "checkpoint.pt: cannot be loaded" in capsys.readouterr().err.strip()
    state = torch.load(io.BytesIO(good), weights_only=True)
    del state["optimizer"], state["config"]["seed"]
    torch.save(state, path)
    err = one_error_line(capsys, [*base, "--resume"])
    assert "missing optimizer, config.seed" in err


def test_broken_metrics_line_on_resume_is_one_line(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "2", "--no-plots", *FAST]
    run_train(base)
    text = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(text[: len(text) - 20])  # the last line cut short
    assert "metrics.jsonl: line 2 is not JSON" in one_error_line(capsys, [*base, "--resume"])


def test_damaged_data_file_stops_training_with_its_name(data_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    for path in (data_dir / "MNIST" / "raw").iterdir():
        target = broken / "MNIST" / "raw" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            path.read_bytes()[:-28] if path.name.startswith("t10k-images") else path.read_bytes()
        )
    err = one_error_line(capsys, ["--data-dir", str(broken), "--out", str(tmp_path / "run"), *FAST])
    assert "t10k-images-idx3-ubyte" in err and "truncated" in err
    assert not (tmp_path / "run").exists()


REPO = Path(__file__).resolve().parents[1]
# Runs mnist.train but exits every process right after the epoch-1 checkpoint: a kill.
DIE_AFTER_EPOCH_1 = """
import os, sys
from mnist import train
save = train.save_checkpoint
def save_then_die(run_dir, model, ema, optimizer, epoch, *rest):
    save(run_dir, model, ema, optimizer, epoch, *rest)
    if epoch == 1:
        os._exit(9)
train.save_checkpoint = save_then_die
train.main(sys.argv[1:])
"""


def torchrun(target: list[str], args: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           *target, *args, "--epochs", "2", "--no-plots", *FAST]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=REPO)


@pytest.fixture(scope="module")
def ddp_run(data_dir, tmp_path_factory) -> tuple[Path, str]:
    """A 2-process torchrun of 2 epochs straight: its run folder and its log."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    result = torchrun(["-m", "mnist.train"], ["--data-dir", str(data_dir), "--out", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    return out, result.stdout


def test_torchrun_two_processes_stay_identical_and_write_once(ddp_run):
    out, log = ddp_run
    assert log.count("replicas identical across 2 processes: True") == 2
    assert "2 process(es)" in log
    assert [m["epoch"] for m in metrics(out)] == [1, 2]  # rank 0 alone appended
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "metrics.jsonl",
        "settings.json",
    ]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["config"]["world_size"] == 2


def test_torchrun_resume_after_a_kill_gives_the_same_metrics(ddp_run, data_dir, tmp_path):
    straight, _ = ddp_run
    script = tmp_path / "die_after_epoch_1.py"
    script.write_text(DIE_AFTER_EPOCH_1)
    out = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run")]
    killed = torchrun([str(script)], out)
    assert killed.returncode != 0
    assert [m["epoch"] for m in metrics(tmp_path / "run")] == [1]
    resumed = torchrun(["-m", "mnist.train"], [*out, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "epochs 2..2" in resumed.stdout
    assert without_seconds(metrics(tmp_path / "run")) == without_seconds(metrics(straight))
    rng = torch.load(straight / "checkpoint.pt", weights_only=True)["rng"]["torch"]
    assert len(rng) == 2 and not torch.equal(rng[0], rng[1])  # one stream per process


# --- hostile input and a failing environment: one line on stderr, nothing half-written ----------


def one_cycle_lr(step: int, total: int, peak: float, pct_start: float) -> float:
    """The learning rate of optimizer step `step` (0-based), written out from Smith & Topin's
    schedule: cosine from peak/25 up to peak over pct_start of the steps, then down to peak/25e4
    at the last step."""
    warm, start, low = pct_start * total, peak / 25, peak / 25 / 1e4

    def cosine(a: float, b: float, pct: float) -> float:
        return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)

    if step < warm:
        return cosine(start, peak, step / warm)
    return cosine(peak, low, (step - warm) / (total - 1 - warm))


def test_training_stops_at_the_first_non_finite_loss(data_dir, tmp_path, capsys, monkeypatch):
    poison_at = 8  # the 9th training step: step 3 of epoch 2 (6 steps per epoch)
    calls = []

    def poisoned_model(name, device, channels_last=True):
        model = build_model(name).to(device)

        def nan_once_there(module, inputs, output):
            if module.training:
                calls.append(1)
                return output * math.nan if len(calls) - 1 == poison_at else output
            return output

        model.register_forward_hook(nan_once_there)
        return model

    monkeypatch.setattr(train, "prepare_model", poisoned_model)
    out = tmp_path / "run"
    args = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "3", "--no-plots", *FAST]
    err = one_error_line(capsys, args)
    lr = one_cycle_lr(poison_at, total=18, peak=0.2, pct_start=0.25)
    assert f"the loss is not finite at step 3 of epoch 2 (learning rate {lr:.4g})" in err
    assert [m["epoch"] for m in metrics(out)] == [1]  # no line of the diverged epoch
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_a_training_in_progress_locks_its_folder_and_ctrl_c_is_one_line(
    data_dir, tmp_path, capsys, default_signals
):
    out = tmp_path / "run"
    args = ["--data-dir", str(data_dir), "--out", str(out), "--epochs", "60", "--no-plots", *FAST]
    env = os.environ | {"PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "mnist.train", *args]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             text=True, cwd=REPO)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() and first.poll() is None:
            assert time.monotonic() < deadline, "the first training never wrote its metrics"
            time.sleep(0.2)
        for again in ([], ["--resume"]):
            err = one_error_line(capsys, [*args, *again])
            assert err == f"error: {out}: another training is writing this folder now"
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130 and stderr.strip() == "python -m mnist.train: interrupted"
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "metrics.jsonl",
        "settings.json",
    ]
    done = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    assert [m["epoch"] for m in metrics(out)][:done] == list(range(1, done + 1))


COMMANDS = {  # each with arguments that get it as far as its first line on stdout
    "data": lambda d, run: ["mnist.data", "--data-dir", str(d)],
    "summary": lambda d, run: ["mnist.summary"],
    "config": lambda d, run: ["mnist.config"],
    "plots": lambda d, run: ["mnist.plots", str(run), "--data-dir", str(d)],
    "train": lambda d, run: [
        "mnist.train",
        "--data-dir",
        str(d),
        "--out",
        str(run.parent / "t"),
        "--epochs",
        "1",
        "--no-plots",
        *FAST,
    ],
}


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    run_train(["--data-dir", str(data_dir), "--out", str(out), "--epochs", "1", *FAST])
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_stdout_is_one_line(command, data_dir, finished_run):
    module, *args = COMMANDS[command](data_dir, finished_run)
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", module, *args], stdout=full, text=True,
                                stderr=subprocess.PIPE, cwd=REPO, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"python -m {module}: error: cannot write to standard output: No space left on device"
    )


def test_a_run_folder_name_too_long_is_one_line(data_dir, tmp_path, capsys):
    out = tmp_path / ("a" * 300)
    err = one_error_line(capsys, ["--data-dir", str(data_dir), "--out", str(out), *FAST])
    assert "File name too long" in err


def test_a_data_file_this_user_may_not_read_is_one_line(data_dir, capsys):
    folder = Path(tempfile.mkdtemp())  # not under pytest's private tmp folder: others may enter
    try:
        folder.chmod(0o777)
        shutil.copytree(data_dir / "MNIST", folder / "MNIST")
        for path in (folder / "MNIST").rglob("*"):
            path.chmod(0o777 if path.is_dir() else 0o644)
        locked = folder / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
        locked.chmod(0)
        args = ["--data-dir", str(folder), "--out", str(folder / "run"), *FAST]
        with as_another_user():
            err = one_error_line(capsys, args)
        assert err == f"error: {locked}: Permission denied"
    finally:
        shutil.rmtree(folder)


@contextlib.contextmanager
def as_another_user():
    """Root reads every file: run the body as `nobody` then (the effective user only)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


HOSTILE_METRICS = {
    "nested 100,000 deep": ("[" * 100_000 + "]" * 100_000, "line 1 is nested too deeply"),
    "a 5,000-digit number": ('{"epoch": ' + "9" * 5000 + "}", "line 1 is not JSON (Exceeds"),
}


@pytest.mark.parametrize("name", HOSTILE_METRICS)
def test_hostile_metrics_lines_are_one_line(name, finished_run, capsys):
    line, message = HOSTILE_METRICS[name]
    path = finished_run / "metrics.jsonl"
    good = path.read_text()
    path.write_text(line + "\n")
    try:
        with pytest.raises(SystemExit) as exit_info:
            plots.main([str(finished_run)])
    finally:
        path.write_text(good)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: {message}" in err
