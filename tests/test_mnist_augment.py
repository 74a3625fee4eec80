"""mnist.step.augment's shear, zoom and stroke width (settings shear, scale, stroke; off by
default): each measured on images whose answer is known, the stroke width against SciPy's own
grey-scale dilation and erosion; off, they leave the random stream of the runs made before them."""

import json

import numpy as np
import pytest
import torch
from scipy import ndimage
from test_mnist_train import (  # noqa: F401 (data_dir: a fixture)
    FAST,
    Killed,
    data_dir,
    metrics,
    one_error_line,
    run_train,
    synthetic_split,
    without_seconds,
)

from mnist import step, train
from mnist.config import DEFAULTS

ROWS = torch.arange(28, dtype=torch.float64)


def bars(n: int) -> torch.Tensor:
    """n images of a vertical bar, 3 pixels wide, rows 4..23, in the middle column."""
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 4:24, 13:16] = 255
    return images


def test_the_new_augmentations_are_off_by_default():
    assert (DEFAULTS["shear"], DEFAULTS["scale"], DEFAULTS["stroke"]) == (0.0, 0.0, 0.0)


def test_off_they_draw_no_random_numbers_and_change_nothing():
    """The reference runs were made before these settings: with them at 0, the same seed gives the
    same warps, and the random stream after them is the same."""
    images = bars(32)
    torch.manual_seed(5)
    before = step.augment(images, 8.0, 1.5)
    after_before = torch.rand(4)
    torch.manual_seed(5)
    now = step.augment(images, 8.0, 1.5, shear=0.0, scale=0.0, stroke=0.0)
    assert torch.equal(now, before) and torch.equal(torch.rand(4), after_before)


def column_slope(x: torch.Tensor) -> torch.Tensor:
    """Per image of a (B, 28, 28) batch: the least-squares slope of the ink's column (centre of
    mass of each inked row) against the row."""
    rows = x.double().sum(2) > 1e-3
    cols = (x.double() * ROWS).sum(2) / x.double().sum(2).clamp(min=1e-9)
    slopes = []
    for keep, c in zip(rows, cols, strict=True):
        slopes.append(float(np.polyfit(ROWS[keep].numpy(), c[keep].numpy(), 1)[0]))
    return torch.tensor(slopes)


def test_shear_slants_a_vertical_bar_by_at_most_the_factor_either_way():
    torch.manual_seed(0)
    warped = step.augment(bars(64), 0.0, 0.0, shear=0.3)[:, 0]
    slope = column_slope(warped)
    assert slope.abs().max() <= 0.3 + 0.01
    assert slope.min() < -0.15 and slope.max() > 0.15  # both ways, not one constant slant
    # A horizontal shear moves no ink up or down.
    mass_rows = (warped.double().sum(2) * ROWS).sum(1) / warped.double().sum((1, 2))
    assert torch.allclose(mass_rows, torch.full_like(mass_rows, 13.5), atol=0.05)


def test_scale_zooms_a_centred_square_within_the_range_either_way():
    torch.manual_seed(0)
    images = torch.zeros(64, 28, 28, dtype=torch.uint8)
    images[:, 10:18, 10:18] = 255  # 8 x 8, centred: an area of 64
    warped = step.augment(images, 0.0, 0.0, scale=0.25)[:, 0]
    side = warped.double().sum((1, 2)).sqrt() / 8  # ink in [0, 1]: the area; zoom = side / 8
    assert side.min() >= 0.75 - 0.03 and side.max() <= 1.25 + 0.03
    assert side.min() < 0.85 and side.max() > 1.15


def test_stroke_width_blends_towards_scipys_dilation_or_erosion():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((48, 1, 28, 28)) * (rng.random((48, 1, 28, 28)) > 0.7))
    out = step.stroke_width(x.float(), 1.0).double()
    amounts = []
    for image, result in zip(x[:, 0].numpy(), out[:, 0].numpy(), strict=True):
        thicker = ndimage.grey_dilation(image, size=(3, 3), mode="nearest")
        thinner = ndimage.grey_erosion(image, size=(3, 3), mode="nearest")
        change = result - image
        # Exactly one of the two: a fraction a of the way to the dilation, or to the erosion.
        up = np.sum(change * (thicker - image)) / np.sum((thicker - image) ** 2)
        down = np.sum(change * (thinner - image)) / np.sum((thinner - image) ** 2)
        if np.allclose(change, up * (thicker - image), atol=1e-5):
            amounts.append(up)
        else:
            assert np.allclose(change, down * (thinner - image), atol=1e-5)
            amounts.append(-down)
    amounts = np.array(amounts)
    assert amounts.min() >= -1 - 1e-6 and amounts.max() <= 1 + 1e-6
    assert amounts.min() < -0.5 and amounts.max() > 0.5  # thicker and thinner strokes both made


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--shear", "1.5", "--shear must be >= 0 and <= 1, got 1.5"),
        ("--scale", "0.6", "--scale must be >= 0 and <= 0.5, got 0.6"),
        ("--stroke", "-0.1", "--stroke must be >= 0 and <= 1, got -0.1"),
    ],
)
def test_out_of_range_values_are_one_line(flag, value, message, data_dir, tmp_path, capsys):  # noqa: F811
    args = ["--data-dir", str(data_dir), "--out", str(tmp_path / "r"), flag, value, *FAST]
    assert one_error_line(capsys, args).endswith(message)


def test_a_training_with_them_records_them_and_resumes_as_it_ran(data_dir, tmp_path, monkeypatch):  # noqa: F811
    """Killed before its epoch-2 checkpoint and resumed, a run with them gives the metrics of the
    run that was not killed: their random draws are part of the saved random state."""
    chosen = ["--shear", "0.25", "--scale", "0.15", "--stroke", "0.5"]
    common = ["--data-dir", str(data_dir), "--epochs", "2", "--no-plots", *chosen, *FAST]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_train([*common, "--out", str(straight)])
    settings = json.loads((straight / "settings.json").read_text())
    assert (settings["shear"], settings["scale"], settings["stroke"]) == (0.25, 0.15, 0.5)
    save = train.save_checkpoint

    def die_before_epoch_2_checkpoint(run_dir, model, ema, optimizer, epoch, *rest):
        if epoch == 2:
            raise Killed
        save(run_dir, model, ema, optimizer, epoch, *rest)

    monkeypatch.setattr(train, "save_checkpoint", die_before_epoch_2_checkpoint)
    with pytest.raises(Killed):
        run_train([*common, "--out", str(killed)])
    monkeypatch.setattr(train, "save_checkpoint", save)
    torch.manual_seed(12345)
    run_train([*common, "--out", str(killed), "--resume"])
    assert without_seconds(metrics(killed)) == without_seconds(metrics(straight))
    # The augmentation changed what was trained: the same seed without it ends elsewhere.
    plain = tmp_path / "plain"
    run_train(
        ["--data-dir", str(data_dir), "--epochs", "2", "--no-plots", *FAST, "--out", str(plain)]
    )
    assert metrics(plain)[0]["train_loss"] != metrics(straight)[0]["train_loss"]


def test_the_last_clean_epochs_train_on_the_images_as_they_are(data_dir, tmp_path, monkeypatch):  # noqa: F811
    """--clean-epochs 1 of 2: every image the model trains on in epoch 2 is a training image as
    it is, normalised by hand; in epoch 1 they are warped (none is one of them)."""
    args = ["--data-dir", str(data_dir), "--out", str(tmp_path / "r"), "--epochs", "2",
            "--no-plots", *FAST, "--clean-epochs", "1"]  # fmt: skip
    seen = {1: [], 2: []}
    epoch_of = train.train

    def recording_epoch(step_, cfg, epoch, ddp):
        hook = step_.model.register_forward_pre_hook(lambda _, x: seen[epoch].append(x[0]))
        try:
            return epoch_of(step_, cfg, epoch, ddp)
        finally:
            hook.remove()

    monkeypatch.setattr(train, "train", recording_epoch)
    run_train(args)
    images = torch.from_numpy(synthetic_split(200, 1)[0][:192]).double()
    plain = ((images / 255 - 0.1307) / 0.3081).flatten(1)

    def is_plain(x: torch.Tensor) -> torch.Tensor:
        """Per image: whether it equals one of the plain training images (to float32 rounding)."""
        return torch.cdist(x.double().flatten(1), plain).min(1).values < 1e-4

    assert len(seen[1]) == len(seen[2]) == 6  # 192 images, batches of 32
    assert all(is_plain(x).all() for x in seen[2])
    assert not any(is_plain(x).any() for x in seen[1])


def test_the_warp_grid_is_torchs_affine_grid():
    """warp_grid computes F.affine_grid's sampling points (align_corners=False) faster: the same
    to float rounding, for the identity, a pure shift and random maps, square or not."""
    torch.manual_seed(0)
    identity = torch.eye(2, 3).expand(3, 2, 3)
    shift = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 1.0, -0.25]]])
    for theta, (h, w) in ((identity, (28, 28)), (shift, (5, 7)), (torch.randn(64, 2, 3), (28, 28)),
                          (torch.randn(4, 2, 3), (9, 13))):  # fmt: skip
        expected = torch.nn.functional.affine_grid(
            theta, [len(theta), 1, h, w], align_corners=False
        )
        assert torch.allclose(step.warp_grid(theta, h, w), expected, rtol=0, atol=2e-6)
    # By hand: the identity samples each pixel at its own centre, 2 / size apart from -1 + 1 / size.
    grid = step.warp_grid(torch.eye(2, 3)[None], 2, 4)
    assert grid[0, :, :, 0].tolist() == [[-0.75, -0.25, 0.25, 0.75]] * 2
    assert grid[0, :, :, 1].tolist() == [[-0.5] * 4, [0.5] * 4]
