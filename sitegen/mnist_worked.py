"""The MNIST page's worked example: one test digit through the real model, its loss, and the
gradient of every layer, computed by derive's array backward program (derive/cnn/engine.py) and
checked against torch autograd while the site builds; and BatchNorm folded into its conv, derived.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from derive.cnn import engine
from derive.cnn.batchnorm import fold_derivation, fold_residual
from sitegen.site_common import SiteError, markdown_table, number, site_path

# The worked digit: of the first SEARCHED test digits, the one the model is most wrong about
# (highest loss): its gradients are large enough to read, and they say what would fix it.
SEARCHED = 1_000
AGREEMENT = 1e-6  # derive vs torch, relative to each layer's largest (float64 rounding of 1 - p on
# a confident digit alone leaves ~1e-8: both sides round it)
PICTURE = "worked-digit.png"
SHORTLIST = 8  # the digits whose float32 loss is highest, scored again in float64
ROUGH = 1e-3  # float32 against float64, relative to the loss: far above the 2e-6 measured


def fold_context() -> dict:
    """BatchNorm folded into the conv before it: the forms SymPy derives, and their proof."""
    fold = fold_derivation()
    if fold_residual(fold) != 0:
        raise SiteError("MNIST page: the BatchNorm fold is not proven (residual not 0)")
    names = {s: sp.latex(s) for s in fold.kernel} | {fold.var: r"\sigma^2"}
    return {
        "kernel": sp.latex(fold.folded_kernel[0], symbol_names=names),
        "bias": sp.latex(fold.folded_bias, symbol_names=names),
    }


def worked_context(weights: Path, data_dir: Path, files: dict) -> dict:
    """The worked example, or {"missing": why} when the weights or MNIST are not here."""
    try:
        from mnist.cli import DataError
        from mnist.data import load_split
        from mnist.derive_spec import derive_network
        from mnist.evaluate import MEAN, STD
        from mnist.fold import FoldError, read_exported
        from mnist.model import kind
    except ImportError as exc:
        return {"missing": f"the mnist extra is not installed ({exc})"}
    try:
        exported = read_exported(weights)
    except FoldError as exc:  # the Draw page runs these weights too: never built around them
        raise SiteError(f"MNIST page: {exc}") from None
    try:
        test = load_split(data_dir, "test")
    except DataError as exc:  # MNIST is fetched by hand (python -m mnist.data): said on the page
        return {"missing": str(exc)}
    model = exported.model.double().eval()
    images = ((test.images[:SEARCHED].double() / 255 - MEAN) / STD)[:, None]
    digit = hardest(model, images, test.labels[:SEARCHED])
    pixels = test.images[digit].double() / 255
    label = int(test.labels[digit])
    image = images[digit : digit + 1]
    spec, arrays = derive_network(model)
    target = np.eye(10)[[label]]
    run = engine.forward(spec, arrays, image.numpy(), target)
    back = engine.backward(spec, arrays, run, target)
    reference = torch_gradients(model, image, label)
    rows, worst = [], 0.0
    for key, expected in reference.items():
        index, array = key.split(".")
        derived = back.gradients[f"layer{index}"][array]
        scale = max(np.abs(expected).max(), np.finfo(float).tiny)
        worst = max(worst, float(np.abs(derived - expected).max() / scale))
        rows.append(
            [
                f"{index}",
                kind(model[int(index)]),
                array,
                f"{derived.size:,}",
                number(float(np.linalg.norm(derived)), 4),
                number(float(np.abs(derived).max()), 4),
            ]
        )
    if worst > AGREEMENT:
        raise SiteError(
            f"MNIST page: derive's gradient of the model differs from torch's ({worst:.3g})"
        )
    files[site_path(PICTURE)] = picture(pixels.numpy(), back.input_gradient[0, 0])
    probabilities = run.probabilities[0]
    return {
        "missing": "",
        "index": digit,
        "searched": f"{SEARCHED:,}",
        "label": label,
        "predicted": int(probabilities.argmax()),
        "probability": number(float(probabilities[label]), 6),
        "loss": number(run.loss, 6),
        "table": markdown_table(
            ["layer", "kind", "array", "values", "length of ∂E/∂θ", "largest ∂E/∂θ (size)"],
            rows,
            align="-:",
        ),
        "worst": f"{worst:.1e}",
        "picture": site_path(PICTURE),
    }


def hardest(model, images, labels) -> int:
    """The index of the image with the highest cross-entropy loss of the float64 model. Every
    image is scored in float32 (3 times faster on a CPU), the SHORTLIST highest again in float64;
    all of them only where float32's rounding could hide the winner among the rest."""
    import torch

    def losses(net, x, y):
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(net(x), y, reduction="none").double()

    rough = losses(copy.deepcopy(model).float(), images.float(), labels)
    order = rough.argsort(descending=True)
    top, rest = order[:SHORTLIST], order[SHORTLIST:]
    exact = losses(model, images[top], labels[top])
    best = exact.max()
    if len(rest) and best <= rough[rest[0]] + ROUGH * max(1.0, float(best)):
        return int(losses(model, images, labels).argmax())
    return int(top[exact.argmax()])


def torch_gradients(model, image, label: int) -> dict[str, np.ndarray]:
    """Every parameter's gradient of the same loss by torch autograd, float64."""
    import torch

    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(image), torch.tensor([label]))
    loss.backward()
    return {k: p.grad.numpy().copy() for k, p in model.named_parameters()}


def picture(pixels: np.ndarray, gradient: np.ndarray) -> bytes:
    """The digit, and dE/dx over it: red where more ink would raise the loss, blue lower it."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(5.2, 2.6))
    left.imshow(pixels, cmap="gray_r")
    left.set_title("the digit")
    limit = float(np.abs(gradient).max()) or 1.0
    right.imshow(gradient, cmap="RdBu_r", vmin=-limit, vmax=limit)
    right.set_title("∂E/∂x (red: ink raises E)")
    for axis in (left, right):
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
