"""mnist.optim: the schedule written out by hand, the graph-friendly SGD against torch.optim.SGD,
and the moving average against its definition."""

import copy
import itertools
import math

import pytest
import torch
from torch import nn

from mnist import optim
from mnist.model import build_model


def test_the_schedule_is_smith_and_topins_one_cycle_written_out():
    total, peak, pct = 1000, 0.2, 0.25
    lrs = [optim.learning_rate(t, total, peak, pct) for t in range(total)]
    moms = [optim.momentum(t, total, 0.95, pct) for t in range(total)]
    assert lrs[0] == pytest.approx(peak / 25)
    assert lrs[250] == pytest.approx(peak)  # the warm-up's end: the peak
    assert lrs[-1] == pytest.approx(peak / 25 / 1e4)
    assert moms[0] == pytest.approx(0.95) and moms[250] == pytest.approx(0.85)
    assert moms[-1] == pytest.approx(0.95)
    # halfway up: the mean of start and peak (a cosine's midpoint); halfway down likewise
    assert lrs[125] == pytest.approx((peak / 25 + peak) / 2)
    assert lrs[250 + 749 // 2] == pytest.approx((peak + peak / 25e4) / 2, rel=5e-3)
    assert all(a <= b for a, b in itertools.pairwise(lrs[:251]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[250:]))


def test_weight_decay_falls_on_conv_weights_only():
    model = build_model("nano")
    decay, keep = optim.param_groups(model, 5e-4)
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert {id(p) for p in decay["params"]} == {id(p) for p in convs}
    assert decay["weight_decay"] == 5e-4 and keep["weight_decay"] == 0.0
    assert len(decay["params"]) + len(keep["params"]) == len(list(model.parameters()))


def test_nesterov_sgd_matches_torch_sgd_step_for_step():
    torch.manual_seed(0)
    model = build_model("nano").double()
    twin = copy.deepcopy(model)
    mine = optim.NesterovSGD(model, weight_decay=5e-4)
    reference = torch.optim.SGD(optim.param_groups(twin, 5e-4), lr=0.1, momentum=0.9,
                                nesterov=True)  # fmt: skip
    x = torch.randn(16, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (16,))
    for t in range(6):
        lr, momentum = 0.05 + 0.02 * t, 0.95 - 0.02 * t  # both change every step
        mine.schedule(lr, momentum, ema_weight=1.0)
        for group in reference.param_groups:
            group["lr"], group["momentum"] = lr, momentum
        for m, opt in ((model, mine), (twin, reference)):
            opt.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
            opt.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_the_moving_average_is_its_definition_and_warms_up():
    torch.manual_seed(0)
    live, ema = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    live.running_mean.fill_(2.0)
    live.num_batches_tracked.fill_(7)
    before = ema.running_mean.clone()
    optim.update_ema(ema, live, torch.tensor(0.25))
    torch.testing.assert_close(ema.running_mean, before + 0.25 * (2.0 - before))
    assert int(ema.num_batches_tracked) == 7
    assert optim.ema_decay(0, 0.999) == pytest.approx(1 / 10)  # first steps: mostly the weights
    assert optim.ema_decay(10**6, 0.999) == 0.999
    assert optim.ema_decay(5, 0.0) == 0.0  # decay 0: the weights themselves
    assert math.isclose(1 - optim.ema_decay(0, 0.0), 1.0)
