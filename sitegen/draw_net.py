"""The folded network for the browser: its numbers as JSON, and its forward and backward passes as
JavaScript.

The JavaScript is generated for the one network it runs: every stage is a line with that stage's
shapes written in, calling one of derive's kernels (derive/cnn/engine.js: conv, max-pool, ReLU,
global average pool, softmax with cross-entropy, each with its backward). The backward pass walks
the stages in reverse, as derive's backward program does. It computes in float64 and needs no
library.
"""

from __future__ import annotations

import json
from pathlib import Path

from mnist.fold import Exported, Stage

# The kernels: derive's CNN operations in JavaScript, forward beside backward
# (derive/cnn/engine.js), served beside the generated module.
ENGINE = Path(__file__).resolve().parents[1] / "derive" / "cnn" / "engine.js"
ENGINE_NAME = "cnn-engine.js"
IMPORTS = (
    "conv, convBackward, maxpool, maxpoolBackward, relu, reluBackward, gap, gapBackward, "
    "softmax, crossEntropy"
)


def stage_call(stage: Stage, index: int, before: tuple[int, ...]) -> str:
    """One line of the forward pass: the stage's kernel with its input shape written in."""
    c, h, w = before
    if stage.kind == "conv":
        out = stage.shape[0]
        relu = str(stage.relu).lower()
        args = f"{stage.kernel}, {stage.stride}, {stage.padding}, {stage.groups}, {relu}"
        call = f"conv(x, {c}, {h}, {w}, s[{index}].weight, s[{index}].bias, {out}, {args})"
    elif stage.kind == "maxpool":
        call = f"maxpool(x, {c}, {h}, {w}, {stage.kernel}, {stage.stride})"
    elif stage.kind == "gap":
        call = f"gap(x, {c}, {h}, {w})"
    else:
        call = "relu(x)"
    shape = " × ".join(map(str, stage.shape))
    return f"  x = {call}; maps.push(x); // {stage.kind} -> {shape}"


def forward_module(exported: Exported, stages: list[Stage], source: str, side: int = 28) -> str:
    """The JavaScript module: forward(network, pixels) and backward(network, pixels, maps, label)
    for this network, importing derive's kernels."""
    lines = [
        f"// Generated while the site was built, from {source} (model {exported.name}, BatchNorm",
        "// folded into the convolutions), by sitegen/draw_net.py. Do not edit: rebuild the site.",
        f'import {{ {IMPORTS} }} from "./{ENGINE_NAME}";',
        f'export {{ prepare, sgdStep, softmax }} from "./{ENGINE_NAME}";',
        "",
        f"export const MEAN = {exported.mean!r};",
        f"export const STD = {exported.std!r};",
        f"export const SIDE = {side};",
        "",
        "// pixels: SIDE * SIDE ink values in [0, 1], row by row. Returns every stage's output",
        "// (maps), the logits and the ten probabilities.",
        "export function forward(network, pixels) {",
        "  const s = network.stages;",
        "  const maps = [];",
        "  let x = Float64Array.from(pixels, (v) => (v - MEAN) / STD);",
    ]
    shapes = input_shapes(stages, side)
    for index, (stage, before) in enumerate(zip(stages, shapes, strict=True)):
        lines.append(stage_call(stage, index, before))
    lines += ["  return { maps, logits: x, probabilities: softmax(x) };", "}", ""]
    lines += backward_function(stages, shapes)
    return "\n".join(lines)


def input_shapes(stages: list[Stage], side: int) -> list[tuple[int, ...]]:
    """The (channels, height, width) each stage receives."""
    shapes: list[tuple[int, ...]] = [(1, side, side)]
    shapes += [stage.shape for stage in stages[:-1]]
    return shapes


def backward_function(stages: list[Stage], shapes: list[tuple[int, ...]]) -> list[str]:
    """backward(network, pixels, maps, label): the cross-entropy of `label`, its gradient by every
    stage's weights and biases (grads[k], null for a stage without), by every stage's output
    (deltas[k]) and by each input pixel."""
    lines = [
        "// The loss -ln p_label of forward's result, and its gradient by every weight and bias",
        "// (grads[k] for stage k) and by each pixel's ink (dPixels), stage by stage backwards.",
        "export function backward(network, pixels, maps, label) {",
        "  const s = network.stages;",
        "  const x0 = Float64Array.from(pixels, (v) => (v - MEAN) / STD);",
        "  const input = (k) => (k === 0 ? x0 : maps[k - 1]);",
        f"  const grads = new Array({len(stages)}).fill(null);",
        "  const { loss, probabilities, grad } = crossEntropy(maps[maps.length - 1], label);",
        "  let dy = grad;",
        "  let r = null;",
        f"  const deltas = new Array({len(stages)});",
    ]
    for index in reversed(range(len(stages))):
        stage, (c, h, w) = stages[index], shapes[index]
        lines.append(f"  deltas[{index}] = dy; // dE/d(stage {index}'s output)")
        if stage.kind == "conv":
            relu = str(stage.relu).lower()
            args = f"{stage.kernel}, {stage.stride}, {stage.padding}, {stage.groups}, {relu}"
            lines += [
                f"  r = convBackward(input({index}), {c}, {h}, {w}, s[{index}].weight, "
                f"{stage.shape[0]}, {args}, maps[{index}], dy);",
                f"  grads[{index}] = r;",
                "  dy = r.dx;",
            ]
        elif stage.kind == "maxpool":
            window = f"{stage.kernel}, {stage.stride}"
            lines.append(f"  dy = maxpoolBackward(input({index}), {c}, {h}, {w}, {window}, dy);")
        elif stage.kind == "gap":
            lines.append(f"  dy = gapBackward({c}, {h}, {w}, dy);")
        else:
            lines.append(f"  dy = reluBackward(maps[{index}], dy);")
    lines += [
        "  // dE/d(ink) = dE/dx / STD: the network sees (ink - MEAN) / STD.",
        "  const dPixels = dy.map((v) => v / STD);",
        "  return { loss, probabilities, grads, deltas, dPixels };",
        "}",
        "",
    ]
    return lines


def network_json(exported: Exported, stages: list[Stage], source: str) -> str:
    """The stages' numbers and geometry for the page (weights only where a stage has them)."""

    def entry(stage: Stage) -> dict:
        item = {
            "kind": stage.kind,
            "layers": [stage.first, stage.last],
            "shape": list(stage.shape),
            "receptiveField": stage.receptive_field,
        }
        if stage.kind in ("conv", "maxpool"):
            item.update(kernel=stage.kernel, stride=stage.stride)
        if stage.kind == "conv":
            assert stage.weight is not None and stage.bias is not None
            item.update(
                padding=stage.padding,
                groups=stage.groups,
                relu=stage.relu,
                weight=stage.weight.ravel().tolist(),
                bias=stage.bias.tolist(),
            )
        return item

    network = {"model": exported.name, "source": source, "stages": [entry(s) for s in stages]}
    return json.dumps(network, separators=(",", ":"), allow_nan=False)  # NaN is not JSON
