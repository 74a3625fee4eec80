"""What every model input goes through, and the test pass: shared by training and by redrawing
a finished run's plots from its checkpoint."""

import torch
import torch.nn.functional as F
from torch import nn

from mnist.model import build_model

MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std, as in pytorch/examples
# Images per forward pass of the test. At 1000 a batch's activations outgrew the cache, and a
# test pass of the 10,000 took 1.5-2 times as long on one thread of a 2-core AMD EPYC: quick
# 0.9-1.1 s against 0.5-0.6 s at 500, nano-w 1.9-2.2 s against 1.1-1.4 s (250 was no faster).
TEST_BATCH = 500


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) to float (B, 1, 28, 28) in [0, 1]: the images as they are."""
    return images.unsqueeze(1).float() / 255


def normalize(images: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
    """uint8 (B, 28, 28) or float [0, 1] (B, 1, 28, 28) to normalised float (B, 1, 28, 28)."""
    if images.dtype == torch.uint8:
        images = unit_float(images)
    return ((images - MEAN) / STD).contiguous(memory_format=memory_format(channels_last))


def prepare_model(name: str, device: torch.device, channels_last: bool = True) -> nn.Module:
    """The named model on the device, its conv weights channels-last (NHWC) or not."""
    return build_model(name).to(device, memory_format=memory_format(channels_last))


@torch.no_grad()
def test(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, channels_last: bool = True
) -> tuple[dict, torch.Tensor]:
    """Mean loss and accuracy on the test images, and the predicted label of each."""
    model.eval()
    loss_sum, preds = torch.zeros((), dtype=torch.float64, device=labels.device), []
    for x, y in zip(images.split(TEST_BATCH), labels.split(TEST_BATCH), strict=True):
        output = model(normalize(x, channels_last))
        loss_sum += F.cross_entropy(
            output, y, reduction="sum"
        ).double()  # summed as floats would be
        preds.append(output.argmax(1))
    pred = torch.cat(preds)
    return {
        "test_loss": loss_sum.item() / len(labels),
        "test_acc": (pred == labels).sum().item() / len(labels),
    }, pred
