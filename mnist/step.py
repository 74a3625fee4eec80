"""One training step (augment, forward, backward, SGD, moving average), run eagerly or, on a GPU,
captured once as a CUDA graph and replayed. The last --clean-epochs skip the augmentation.

A step of these small networks is a few hundred tiny kernels; launched one by one from Python
they keep a GPU waiting on the CPU. A CUDA graph launches them all at once. The captured step
is the eager step's code with the same tensors: only the batch's indices are copied in, and the
learning rate, momentum and EMA weight live in device tensors (mnist.optim.NesterovSGD), so each
replay computes what the eager step would. A batch of another size (an epoch's last) runs eagerly.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from mnist.config import Config
from mnist.evaluate import normalize, unit_float
from mnist.optim import NesterovSGD, update_ema

WARMUP_STEPS = 3  # eager steps (on a side stream, as capture requires) before the capture


def stroke_width(x: torch.Tensor, stroke: float) -> torch.Tensor:
    """Each image's strokes made thicker or thinner: blended a random fraction, uniform in
    +-stroke, of the way to its 3x3 grey-scale dilation (a max filter; > 0) or erosion (a min
    filter; < 0). x: (B, 1, H, W) with ink bright on a zero background."""
    amount = (torch.rand(len(x), 1, 1, 1, device=x.device) * 2 - 1) * stroke
    thicker = F.max_pool2d(x, 3, stride=1, padding=1)
    thinner = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return x + amount.clamp(min=0) * (thicker - x) + (-amount).clamp(min=0) * (thinner - x)


def warp_grid(theta: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """F.affine_grid(theta, (B, 1, h, w), align_corners=False) to within float rounding: where
    each output pixel's centre samples its input, for B affine maps theta (B, 2, 3) in [-1, 1]
    coordinates. One (2B x 3) @ (3 x hw) product; affine_grid's batched product of
    (hw x 3) @ (3 x 2) took 1.6 ms of a 27 ms training step on one CPU thread, this 0.06 ms."""
    xs = (torch.arange(w, device=theta.device) * 2 + 1) / w - 1  # pixel centres, 2 / w apart
    ys = (torch.arange(h, device=theta.device) * 2 + 1) / h - 1
    ones = torch.ones(h * w, device=theta.device)
    centres = torch.stack([xs.repeat(h), ys.repeat_interleave(w), ones])  # (3, hw): x, y, 1
    return (theta @ centres).transpose(1, 2).reshape(len(theta), h, w, 2)


def augment(images: torch.Tensor, rotation: float, translation: float, *, shear: float = 0.0,
            scale: float = 0.0, stroke: float = 0.0) -> torch.Tensor:  # fmt: skip
    """Random rotation (+-degrees), shift (+-pixels) and, when asked, horizontal shear (+-factor),
    zoom (1 +- scale) and stroke width (stroke_width) of every image, in one batched warp on the
    images' device (no value read back to the host). A setting of 0 draws no random numbers, so
    runs without it keep the random stream of the runs made before it existed."""
    x = unit_float(images)
    b, _, h, w = x.shape
    angle = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(rotation)
    # The warp works in [-1, 1] coordinates: one pixel is 2 / size.
    shift = (torch.rand(b, 2, device=x.device) * 2 - 1) * (2 * translation)
    cos, sin = torch.cos(angle), torch.sin(angle)
    linear = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    if shear:  # theta maps output to input points: x_in = x_out + k * y_out slants the digit
        k = (torch.rand(b, device=x.device) * 2 - 1) * shear
        shearing = torch.eye(2, device=x.device).repeat(b, 1, 1)
        shearing[:, 0, 1] = k
        linear = linear @ shearing
    if scale:  # a digit drawn z times as large samples its input at 1/z of the distance
        zoom = 1 + (torch.rand(b, 1, 1, device=x.device) * 2 - 1) * scale
        linear = linear / zoom
    theta = torch.cat([linear, torch.stack([shift[:, 0] / w, shift[:, 1] / h], 1)[:, :, None]], 2)
    if stroke:
        x = stroke_width(x, stroke)
    grid = warp_grid(theta, h, w)
    # Zero padding is the black background because the warp runs before normalisation.
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def augments_in(epoch: int, cfg: Config) -> bool:
    """Whether epoch `epoch` (1-based) trains on warped images: all but the last
    cfg.clean_epochs, which see the images as they are."""
    return epoch <= cfg.epochs - cfg.clean_epochs


class TrainStep:
    """Calling it with a batch's indices trains on images[indices] and returns the step's loss
    (a device tensor); `totals` sums the loss x batch size and the correct answers."""

    def __init__(self, model: nn.Module, raw_model: nn.Module, ema: nn.Module,
                 optimizer: NesterovSGD, images: torch.Tensor, labels: torch.Tensor,
                 cfg: Config, graphs: bool) -> None:  # fmt: skip
        self.model, self.raw_model, self.ema, self.optimizer = model, raw_model, ema, optimizer
        self.images, self.labels, self.cfg = images, labels, cfg
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.totals = torch.zeros(2, dtype=torch.float64, device=images.device)
        self.loss = torch.zeros((), device=images.device)
        self.augmenting = torch.ones((), dtype=torch.bool, device=images.device)  # set_epoch
        self.graphs, self.warm, self.graph, self.indices = graphs, 0, None, None
        self.side = torch.cuda.Stream(images.device) if graphs else None

    def body(self, idx: torch.Tensor) -> None:
        """The step itself, gradients already cleared."""
        cfg = self.cfg
        images = self.images[idx]
        warped = augment(images, cfg.rotation, cfg.translation, shear=cfg.shear,
                         scale=cfg.scale, stroke=cfg.stroke)  # fmt: skip
        # Chosen on the device, so a captured graph serves the clean epochs too; the random
        # numbers are drawn either way, and an augmented step is the same as without the choice.
        seen = torch.where(self.augmenting, warped, unit_float(images))
        x, y = normalize(seen, self.cfg.channels_last), self.labels[idx]
        low_precision = self.cfg.precision == "bfloat16"
        # No autocast weight cache: a CUDA graph must not keep casts made before its capture.
        with torch.autocast(x.device.type, torch.bfloat16, enabled=low_precision,
                            cache_enabled=False):  # fmt: skip
            output = self.model(x)
            loss = self.criterion(output, y)
        loss.backward()
        self.optimizer.step()
        update_ema(self.ema, self.raw_model, self.optimizer.ema_weight)
        right = (output.argmax(1) == y).sum()
        self.totals += torch.stack([loss.detach() * len(y), right]).double()
        self.loss.copy_(loss.detach())

    def set_epoch(self, epoch: int) -> None:
        """Whether the steps of epoch `epoch` augment (augments_in; fill_: no host sync)."""
        self.augmenting.fill_(augments_in(epoch, self.cfg))

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        if not self.graphs or len(idx) != self.cfg.batch_size:
            self.optimizer.zero_grad()
            self.body(idx)
        elif self.graph is not None:
            self.indices.copy_(idx)
            self.graph.replay()
        elif self.warm < WARMUP_STEPS:
            self.warm += 1
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                self.optimizer.zero_grad()
                self.body(idx)
            torch.cuda.current_stream().wait_stream(self.side)
        else:
            self.indices = idx.clone()
            self.optimizer.zero_grad()  # the captured backward writes fresh gradients
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records, computes nothing
                self.body(self.indices)
            self.graph.replay()
        return self.loss
