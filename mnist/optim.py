"""How the weights move: the learning rate as a function of the step, Nesterov SGD with weight
decay on the conv weights only, and an exponential moving average (EMA) of the weights.

Everything here is a pure function of the step number, so a resumed run needs only the step
(no scheduler state), and nothing reads a value back from the device (no host sync per step).
"""

import math

import torch
from torch import nn

WARM_DIV = 25.0  # the learning rate starts at lr / 25 (OneCycleLR's div_factor)
FINAL_DIV = 25.0 * 1e4  # and ends at lr / 250,000 (div_factor x final_div_factor)
MOMENTUM_DIP = 0.1  # momentum goes down by this while the learning rate goes up (OneCycleLR's)
EMA_WARMUP = 10  # EMA decay at step t is min(decay, (1 + t) / (10 + t)): early weights fade fast


def one_cycle(step: int, total: int, pct_start: float, start: float, peak: float,
              end: float) -> float:  # fmt: skip
    """Smith & Topin's one cycle at optimizer step `step` (0-based) of `total`: a half cosine
    from start to peak over the first pct_start of the steps, then one from peak to end."""
    warm = pct_start * total
    if step < warm:
        a, b, t = start, peak, step / warm
    else:
        a, b, t = peak, end, (step - warm) / max(total - 1 - warm, 1)
    return b + (a - b) * (1 + math.cos(math.pi * min(t, 1.0))) / 2


def learning_rate(step: int, total: int, peak: float, pct_start: float) -> float:
    """From peak/25 up to peak, then down to peak/250,000 at the last step."""
    return one_cycle(step, total, pct_start, peak / WARM_DIV, peak, peak / FINAL_DIV)


def momentum(step: int, total: int, high: float, pct_start: float) -> float:
    """Down from `high` by 0.1 while the learning rate rises, back up while it falls."""
    return one_cycle(step, total, pct_start, high, high - MOMENTUM_DIP, high)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Conv weights decay; BatchNorm scales and shifts and the biases do not (as nanoGPT: a
    penalty on a BatchNorm scale only shrinks what the next layer undoes)."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    keep = [p for p in model.parameters() if p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


class NesterovSGD:
    """torch.optim.SGD(nesterov=True, dampening 0) over param_groups(model), step for step, but
    with its learning rate, momentum and EMA weight held in device tensors: a step then reads no
    Python number that changes, so a CUDA graph can replay it (tests/test_mnist_optim.py
    compares it with torch.optim.SGD)."""

    def __init__(self, model: nn.Module, weight_decay: float) -> None:
        decay, keep = (group["params"] for group in param_groups(model, weight_decay))
        self.params, self.n_decay, self.weight_decay = decay + keep, len(decay), weight_decay
        self.buffers = [torch.zeros_like(p) for p in self.params]
        like = self.params[0]
        self.lr, self.momentum, self.ema_weight = (like.new_zeros(()) for _ in range(3))

    def schedule(self, lr: float, momentum: float, ema_weight: float) -> None:
        """The next step's learning rate, momentum and EMA weight (fill_: no host sync)."""
        self.lr.fill_(lr)
        self.momentum.fill_(momentum)
        self.ema_weight.fill_(ema_weight)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """g += wd * p (conv weights); b = momentum * b + g; p -= lr * (g + momentum * b)."""
        grads = [p.grad for p in self.params]
        if self.weight_decay:
            decayed = self.params[: self.n_decay]
            grads[: self.n_decay] = torch._foreach_add(grads[: self.n_decay], decayed,
                                                       alpha=self.weight_decay)  # fmt: skip
        torch._foreach_mul_(self.buffers, self.momentum)
        torch._foreach_add_(self.buffers, grads)
        update = torch._foreach_mul(self.buffers, self.momentum)
        torch._foreach_add_(update, grads)
        torch._foreach_mul_(update, self.lr)
        torch._foreach_sub_(self.params, update)

    def state_dict(self) -> dict:
        return {"momentum_buffers": list(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        for mine, saved in zip(self.buffers, state["momentum_buffers"], strict=True):
            mine.copy_(saved)


def ema_decay(step: int, decay: float) -> float:
    """The EMA's decay after optimizer step `step` (0-based): warmed up, capped at `decay`."""
    return min(decay, (1 + step) / (EMA_WARMUP + step))


def averaged_tensors(model: nn.Module) -> list[torch.Tensor]:
    """What the EMA averages: every floating-point tensor of the state (weights and BatchNorm's
    running statistics), in state_dict order."""
    return [t for t in model.state_dict().values() if t.is_floating_point()]


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, weight: torch.Tensor) -> None:
    """ema += weight * (model - ema) for every averaged tensor (weight = 1 - decay, a device
    tensor); weight 1 copies."""
    mine = averaged_tensors(ema)
    step = torch._foreach_sub(averaged_tensors(model), mine)
    torch._foreach_mul_(step, weight)
    torch._foreach_add_(mine, step)
    for mine, theirs in zip(ema.buffers(), model.buffers(), strict=True):
        if not mine.is_floating_point():  # BatchNorm's num_batches_tracked
            mine.copy_(theirs)
