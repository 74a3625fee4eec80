"""The folded network for the browser: its numbers as JSON and its forward pass as JavaScript.

The JavaScript is generated for the one network it runs: every stage is a line with that stage's
shapes written in, calling one of five plain kernels (conv, max-pool, ReLU, global average pool,
softmax). It computes in float64 and needs no library.
"""

from __future__ import annotations

import json

from mnist.fold import Exported, Stage

# The kernels every generated module starts with. Arrays are flat, channel-major:
# x[(c * h + i) * w + j].
KERNELS = """\
function conv(x, c, h, w, weight, bias, out, k, stride, pad, groups, relu) {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(out * oh * ow);
  // Groups: output channel o sees only its group's input channels (one each when depthwise).
  const cIn = c / groups;
  for (let o = 0; o < out; o += 1) {
    const plane = o * oh * ow;
    const first = Math.floor(o / (out / groups)) * cIn;
    y.fill(bias[o], plane, plane + oh * ow);
    // One kernel tap at a time over the whole output plane: a long inner loop, no index checks.
    for (let g = 0; g < cIn; g += 1) {
      const ci = first + g;
      for (let ki = 0; ki < k; ki += 1) {
        // Output rows and columns whose input pixel lies inside the image (not in the padding).
        const i0 = Math.max(0, Math.ceil((pad - ki) / stride));
        const i1 = Math.min(oh, Math.floor((h - 1 + pad - ki) / stride) + 1);
        for (let kj = 0; kj < k; kj += 1) {
          const tap = weight[((o * cIn + g) * k + ki) * k + kj];
          const j0 = Math.max(0, Math.ceil((pad - kj) / stride));
          const j1 = Math.min(ow, Math.floor((w - 1 + pad - kj) / stride) + 1);
          for (let i = i0; i < i1; i += 1) {
            const from = (ci * h + i * stride + ki - pad) * w + kj - pad;
            const to = plane + i * ow;
            for (let j = j0; j < j1; j += 1) y[to + j] += tap * x[from + j * stride];
          }
        }
      }
    }
    if (relu) for (let p = plane; p < plane + oh * ow; p += 1) if (y[p] < 0) y[p] = 0;
  }
  return y;
}

function maxpool(x, c, h, w, k, stride) {
  const oh = Math.floor((h - k) / stride) + 1;
  const ow = Math.floor((w - k) / stride) + 1;
  const y = new Float64Array(c * oh * ow);
  for (let ci = 0; ci < c; ci += 1) {
    for (let i = 0; i < oh; i += 1) {
      for (let j = 0; j < ow; j += 1) {
        let best = -Infinity;
        for (let ki = 0; ki < k; ki += 1) {
          for (let kj = 0; kj < k; kj += 1) {
            best = Math.max(best, x[(ci * h + i * stride + ki) * w + j * stride + kj]);
          }
        }
        y[(ci * oh + i) * ow + j] = best;
      }
    }
  }
  return y;
}

function relu(x) {
  return x.map((v) => (v < 0 ? 0 : v));
}

function gap(x, c, h, w) {
  const y = new Float64Array(c);
  for (let ci = 0; ci < c; ci += 1) {
    let sum = 0;
    for (let p = 0; p < h * w; p += 1) sum += x[ci * h * w + p];
    y[ci] = sum / (h * w);
  }
  return y;
}

// Shifted by the largest logit so that exp never overflows.
export function softmax(z) {
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

// The network file's weight lists as typed arrays, once, before the first forward pass.
export function prepare(network) {
  for (const stage of network.stages) {
    if (stage.weight) {
      stage.weight = Float64Array.from(stage.weight);
      stage.bias = Float64Array.from(stage.bias);
    }
  }
  return network;
}
"""


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
    """The JavaScript module: kernels, then forward(network, pixels) for this network."""
    lines = [
        f"// Generated while the site was built, from {source} (model {exported.name}, BatchNorm",
        "// folded into the convolutions), by sitegen/draw_net.py. Do not edit: rebuild the site.",
        "",
        KERNELS,
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
    before: tuple[int, ...] = (1, side, side)
    for index, stage in enumerate(stages):
        lines.append(stage_call(stage, index, before))
        before = stage.shape
    lines += ["  return { maps, logits: x, probabilities: softmax(x) };", "}", ""]
    return "\n".join(lines)


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
    return json.dumps(network, separators=(",", ":"))
