// derive's CNN kernels in JavaScript, each forward beside its backward: the twin of
// derive/cnn/engine.py for one image in the browser (the Draw a digit page runs them on the
// network with BatchNorm folded into its convolutions). Arrays are flat Float64Arrays,
// channel-major: x[(c * h + i) * w + j]. The backward rules are the ones derive derives:
// a kernel's gradient sums over output positions, the input's is the deltas correlated with the
// flipped kernel (here written as the forward loops run backwards), a max-pool routes each
// window's delta to its first maximum, ReLU passes it where the output is positive, global
// average pooling spreads it evenly, and softmax with cross-entropy gives p - t.

// Output rows (or columns) i whose input pixel i * stride + tap - pad lies inside 0..size-1.
function inside(size, out, tap, stride, pad) {
  const first = Math.max(0, Math.ceil((pad - tap) / stride));
  const last = Math.min(out, Math.floor((size - 1 + pad - tap) / stride) + 1);
  return [first, last];
}

export function conv(x, c, h, w, weight, bias, out, k, stride, pad, groups, relu) {
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
        const [i0, i1] = inside(h, oh, ki, stride, pad);
        for (let kj = 0; kj < k; kj += 1) {
          const tap = weight[((o * cIn + g) * k + ki) * k + kj];
          const [j0, j1] = inside(w, ow, kj, stride, pad);
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

// dy: dE/d(the conv's output), after its ReLU when `relu` (then y, that output, masks it).
// Returns dE/dx, dE/d(weight) and dE/d(bias).
export function convBackward(x, c, h, w, weight, out, k, stride, pad, groups, relu, y, dy) {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const delta = relu ? reluBackward(y, dy) : dy;
  const dx = new Float64Array(c * h * w);
  const dWeight = new Float64Array(weight.length);
  const dBias = new Float64Array(out);
  const cIn = c / groups;
  for (let o = 0; o < out; o += 1) {
    const plane = o * oh * ow;
    const first = Math.floor(o / (out / groups)) * cIn;
    for (let p = plane; p < plane + oh * ow; p += 1) dBias[o] += delta[p];
    for (let g = 0; g < cIn; g += 1) {
      const ci = first + g;
      for (let ki = 0; ki < k; ki += 1) {
        const [i0, i1] = inside(h, oh, ki, stride, pad);
        for (let kj = 0; kj < k; kj += 1) {
          const index = ((o * cIn + g) * k + ki) * k + kj;
          const tap = weight[index];
          const [j0, j1] = inside(w, ow, kj, stride, pad);
          let sum = 0; // the tap's gradient: a sum over every output position
          for (let i = i0; i < i1; i += 1) {
            const from = (ci * h + i * stride + ki - pad) * w + kj - pad;
            const to = plane + i * ow;
            for (let j = j0; j < j1; j += 1) {
              sum += delta[to + j] * x[from + j * stride];
              dx[from + j * stride] += delta[to + j] * tap; // each window passes back through it
            }
          }
          dWeight[index] += sum;
        }
      }
    }
  }
  return { dx, dWeight, dBias };
}

export function maxpool(x, c, h, w, k, stride) {
  const oh = Math.floor((h - k) / stride) + 1;
  const ow = Math.floor((w - k) / stride) + 1;
  const y = new Float64Array(c * oh * ow);
  for (let p = 0; p < c * oh * ow; p += 1) y[p] = x[winner(x, h, w, k, stride, p, oh, ow)];
  return y;
}

// The input index of output p's window maximum: the first one in row-major order, as torch.
function winner(x, h, w, k, stride, p, oh, ow) {
  const ci = Math.floor(p / (oh * ow));
  const i = Math.floor(p / ow) % oh;
  const j = p % ow;
  let best = -Infinity;
  let at = -1;
  for (let ki = 0; ki < k; ki += 1) {
    for (let kj = 0; kj < k; kj += 1) {
      const q = (ci * h + i * stride + ki) * w + j * stride + kj;
      if (x[q] > best || at < 0) {
        best = x[q];
        at = q;
      }
    }
  }
  return at;
}

export function maxpoolBackward(x, c, h, w, k, stride, dy) {
  const oh = Math.floor((h - k) / stride) + 1;
  const ow = Math.floor((w - k) / stride) + 1;
  const dx = new Float64Array(c * h * w);
  for (let p = 0; p < c * oh * ow; p += 1) dx[winner(x, h, w, k, stride, p, oh, ow)] += dy[p];
  return dx;
}

export function relu(x) {
  return x.map((v) => (v < 0 ? 0 : v));
}

// y: the ReLU's output; the delta passes where it is positive (0 at 0, as torch takes it).
export function reluBackward(y, dy) {
  return dy.map((v, p) => (y[p] > 0 ? v : 0));
}

export function gap(x, c, h, w) {
  const y = new Float64Array(c);
  for (let ci = 0; ci < c; ci += 1) {
    let sum = 0;
    for (let p = 0; p < h * w; p += 1) sum += x[ci * h * w + p];
    y[ci] = sum / (h * w);
  }
  return y;
}

export function gapBackward(c, h, w, dy) {
  const dx = new Float64Array(c * h * w);
  for (let ci = 0; ci < c; ci += 1) dx.fill(dy[ci] / (h * w), ci * h * w, (ci + 1) * h * w);
  return dx;
}

// Shifted by the largest logit so that exp never overflows.
export function softmax(z) {
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

// The cross-entropy of the right class `label`, -ln p_label, and its gradient by the logits,
// p - t (t one-hot).
export function crossEntropy(z, label) {
  const top = Math.max(...z);
  const logTotal = Math.log(z.reduce((a, v) => a + Math.exp(v - top), 0));
  const probabilities = softmax(z);
  const grad = Float64Array.from(probabilities, (p, k) => p - (k === label ? 1 : 0));
  return { loss: -(z[label] - top - logTotal), probabilities, grad };
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

// One step of gradient descent on every weight and bias: p <- p - lr dE/dp.
export function sgdStep(network, grads, lr) {
  network.stages.forEach((stage, k) => {
    if (!grads[k]) return;
    stage.weight.forEach((v, q) => (stage.weight[q] = v - lr * grads[k].dWeight[q]));
    stage.bias.forEach((v, q) => (stage.bias[q] = v - lr * grads[k].dBias[q]));
  });
}
