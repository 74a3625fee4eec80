// Draw a digit: a drawing prepared as MNIST's digits were, run through the generated forward pass
// (generated/draw-forward.js, printed from the folded network while the site was built), with
// the ten probabilities and every layer's feature maps redrawn as the stroke is drawn.
import { prepare, forward, backward, sgdStep, MEAN, STD, SIDE } from "../generated/draw-forward.js";

const BOX = 20; // MNIST scaled each digit's bounding box to fit 20 x 20 ...
const CENTRE = 14; // ... and put its centre of mass on pixel (14, 14) of the 28 x 28 field
const LINE_WIDTH = 20; // drawing-box pixels: about MNIST's stroke once a digit is scaled to 20
const TIMING_RUNS = 50; // forward passes averaged for the time the page reports ...
const WARM_UP_RUNS = 10; // ... after these, while the JavaScript engine compiles the kernels

const app = document.getElementById("draw-app");
const pad = document.getElementById("draw-canvas");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const inputCanvas = document.getElementById("draw-input");
const status = document.getElementById("draw-status");
const bars = [...document.querySelectorAll("#draw-bars li")];
const layerSections = [...document.querySelectorAll(".draw-layer")];

const strokes = []; // each stroke: the [x, y] points of one pointer's press, in pad pixels
let drawing = null; // the pointerId drawing now, if any
let network = null;
let pending = false;
let digits = null; // test digits by index, fetched on the first click
let trained = null; // the network file as fetched: Reset goes back to it
let shownInput = null; // the input now on show, for the backward pass and the SGD step
let lastRun = null; // { input, maps, deltas, label } of the last forward and backward pass

// What tests and curious readers can read: the last input, probabilities and timing.
window.drawDigit = {
  ready: false,
  input: null,
  probabilities: null,
  forwardMs: null,
  backward: null, // { label, loss, dPixels, grads }: the last backward pass
  backwardMs: null,
  unsure: null, // why the last answer is unsure, or null
};

// Preparing a drawing as MNIST's digits were ----------------------------------------------------

// For n source pixels shrunk (or grown) to m: each output pixel's [source pixel, weight] list,
// the weights its share of each source pixel, so that the output is the mean over its span.
function areaWeights(n, m) {
  const ratio = n / m;
  const result = [];
  for (let k = 0; k < m; k += 1) {
    const start = k * ratio;
    const end = (k + 1) * ratio;
    const terms = [];
    for (let p = Math.floor(start); p < Math.min(n, Math.ceil(end)); p += 1) {
      const overlap = Math.min(end, p + 1) - Math.max(start, p);
      if (overlap > 0) terms.push([p, overlap / ratio]);
    }
    result.push(terms);
  }
  return result;
}

// The SIDE x SIDE input (ink in [0, 1], row by row) for an RGBA image whose alpha is the ink;
// null when nothing is drawn.
function prepareDrawing(rgba, width, height) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      if (rgba[(y * width + x) * 4 + 3] > 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return null;
  const h = bottom - top + 1;
  const w = right - left + 1;
  const scale = BOX / Math.max(w, h);
  const oh = Math.max(1, Math.round(h * scale));
  const ow = Math.max(1, Math.round(w * scale));
  const columns = areaWeights(w, ow);
  const rows = areaWeights(h, oh);
  const narrow = new Float64Array(h * ow); // columns scaled first, then rows
  for (let y = 0; y < h; y += 1) {
    for (let j = 0; j < ow; j += 1) {
      let sum = 0;
      for (const [p, weight] of columns[j]) sum += rgba[((top + y) * width + left + p) * 4 + 3] * weight;
      narrow[y * ow + j] = sum / 255;
    }
  }
  const small = new Float64Array(oh * ow);
  let mass = 0;
  let my = 0;
  let mx = 0;
  for (let i = 0; i < oh; i += 1) {
    for (let j = 0; j < ow; j += 1) {
      let sum = 0;
      for (const [p, weight] of rows[i]) sum += narrow[p * ow + j] * weight;
      small[i * ow + j] = sum;
      mass += sum;
      my += i * sum;
      mx += j * sum;
    }
  }
  const dy = Math.round(CENTRE - my / mass);
  const dx = Math.round(CENTRE - mx / mass);
  const input = new Float64Array(SIDE * SIDE);
  for (let i = 0; i < oh; i += 1) {
    for (let j = 0; j < ow; j += 1) {
      const r = i + dy;
      const c = j + dx;
      if (r >= 0 && r < SIDE && c >= 0 && c < SIDE) input[r * SIDE + c] = small[i * ow + j];
    }
  }
  return input;
}

// Drawing ---------------------------------------------------------------------------------------

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  const x = ((event.clientX - box.left - pad.clientLeft) * pad.width) / pad.clientWidth;
  const y = ((event.clientY - box.top - pad.clientTop) * pad.height) / pad.clientHeight;
  return [x, y];
}

function redrawPad() {
  padContext.clearRect(0, 0, pad.width, pad.height);
  // The theme's text colour made opaque: the ink is the alpha channel, and full ink is 1.
  const [r, g, b] = getComputedStyle(pad).color.match(/[\d.]+/g);
  const ink = `rgb(${r}, ${g}, ${b})`;
  padContext.strokeStyle = ink;
  padContext.fillStyle = ink;
  padContext.lineWidth = LINE_WIDTH;
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  for (const stroke of strokes) {
    padContext.beginPath();
    if (stroke.length === 1) {
      padContext.arc(stroke[0][0], stroke[0][1], LINE_WIDTH / 2, 0, 2 * Math.PI);
      padContext.fill();
    } else {
      padContext.moveTo(...stroke[0]);
      for (const point of stroke.slice(1)) padContext.lineTo(...point);
      padContext.stroke();
    }
  }
}

function scheduleUpdate() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    showDrawing(false);
  });
}

pad.addEventListener("pointerdown", (event) => {
  if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  drawing = event.pointerId;
  pad.setPointerCapture(event.pointerId);
  strokes.push([padPoint(event)]);
  redrawPad();
  scheduleUpdate();
});

pad.addEventListener("pointermove", (event) => {
  if (event.pointerId !== drawing) return;
  const stroke = strokes[strokes.length - 1];
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const each of events.length ? events : [event]) stroke.push(padPoint(each));
  redrawPad();
  scheduleUpdate();
});

function endStroke(event) {
  if (event.pointerId !== drawing) return;
  drawing = null;
  showDrawing(true);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

// The ink is the theme's text colour: a switch of palette redraws the strokes in the new one.
new MutationObserver(redrawPad).observe(document.body, {
  attributes: true,
  attributeFilter: ["data-md-color-scheme"],
});

document.getElementById("draw-undo").addEventListener("click", () => {
  strokes.pop();
  redrawPad();
  showDrawing(true);
});
document.getElementById("draw-clear").addEventListener("click", () => {
  strokes.length = 0;
  redrawPad();
  showDrawing(true);
});

// Showing the network's view --------------------------------------------------------------------

function grey(canvas, values, width, height, low, high) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const span = high > low ? high - low : 1;
  for (let p = 0; p < width * height; p += 1) {
    const v = Math.round((255 * (values[p] - low)) / span);
    image.data.set([v, v, v, 255], p * 4);
  }
  context.putImageData(image, 0, 0);
}

function showBars(probabilities) {
  const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  bars.forEach((bar, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    const fill = bar.querySelector(".draw-bar > span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.setProperty("--p", p.toFixed(4)); // the column's height on a phone (draw.css)
    bar.querySelector(".draw-value").textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "–";
    bar.classList.toggle("draw-top", digit === top);
  });
}

function showMaps(maps) {
  network.stages.forEach((stage, index) => {
    const holder = layerSections[index].querySelector(".draw-maps");
    const [channels, height = 1, width = 1] = stage.shape;
    if (!maps || height * width === 1) {
      holder.textContent = maps
        ? `the ten logits: ${Array.from(maps[index], (v, d) => `${d}: ${v.toFixed(2)}`).join(", ")}`
        : "Draw a digit or load a test digit to see this layer's output.";
      return;
    }
    if (holder.children.length !== channels) {
      holder.replaceChildren(
        ...Array.from({ length: channels }, (_, c) => {
          const canvas = document.createElement("canvas");
          canvas.width = width;
          canvas.height = height;
          canvas.setAttribute("role", "button");
          const last = index === network.stages.length - 2 && channels === 10;
          const name = last ? `the score map of digit ${c}` : `channel ${c + 1} of ${channels}`;
          canvas.setAttribute("aria-label", `${name}: show how a value was computed`);
          canvas.tabIndex = 0;
          canvas.style.width = `${Math.max(44, 2.5 * width)}px`;
          canvas.addEventListener("click", (event) => {
            const i = Math.floor((event.offsetY / canvas.clientHeight) * height);
            const j = Math.floor((event.offsetX / canvas.clientWidth) * width);
            inspect(index, c, Math.min(height - 1, i), Math.min(width - 1, j));
          });
          canvas.addEventListener("keydown", (event) => {
            if (event.key !== "Enter" && event.key !== " ") return;
            event.preventDefault();
            inspectLargest(index, c);
          });
          return canvas;
        }),
      );
    }
    const values = maps[index];
    let low = Infinity;
    let high = -Infinity;
    for (const v of values) {
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
    [...holder.children].forEach((canvas, c) => {
      grey(canvas, values.subarray(c * height * width, (c + 1) * height * width), width, height, low, high);
    });
  });
}

function timedForward(input) {
  const start = performance.now();
  const result = forward(network, input);
  return { ...result, ms: performance.now() - start };
}

// Run the network on `input` (or show an empty state for null) and say what it read.
function show(input, message) {
  const result = input ? timedForward(input) : null;
  shownInput = input;
  grey(inputCanvas, input || new Float64Array(SIDE * SIDE), SIDE, SIDE, 0, 1);
  showBars(result && Array.from(result.probabilities));
  showMaps(result && result.maps);
  showBackward(input, result);
  window.drawDigit.input = input && Array.from(input);
  window.drawDigit.probabilities = result && Array.from(result.probabilities);
  if (message) status.textContent = message(result);
}

// Backpropagation on the drawing ----------------------------------------------------------------

const labelChoice = document.getElementById("draw-label");
const lossLine = document.getElementById("draw-loss");
const gradientCanvas = document.getElementById("draw-gradient");
const gradRows = document.getElementById("draw-grad-rows");
const stepStatus = document.getElementById("draw-step-status");

function chosenLabel(result) {
  if (labelChoice.value !== "auto") return Number(labelChoice.value);
  const p = Array.from(result.probabilities);
  return p.indexOf(Math.max(...p));
}

// Signed values as red (positive) and blue (negative) on the page's background, scaled to the
// largest size.
function diverging(canvas, values, width, height) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  const top = Math.max(...values.map(Math.abs)) || 1;
  for (let p = 0; p < width * height; p += 1) {
    const t = Math.min(1, Math.abs(values[p]) / top);
    const rgb = values[p] > 0 ? [255, 255 * (1 - t), 255 * (1 - t)] : [255 * (1 - t), 255 * (1 - t), 255];
    image.data.set([...rgb.map(Math.round), 255], p * 4);
  }
  context.putImageData(image, 0, 0);
}

// Four significant digits, in exponent form when small (a confident digit's loss is tiny).
function figure(value) {
  return Math.abs(value) < 1e-3 && value !== 0 ? value.toExponential(3) : value.toPrecision(4);
}

function norm(values) {
  let sum = 0;
  for (const v of values) sum += v * v;
  return Math.sqrt(sum);
}

function showBackward(input, result) {
  if (!result) {
    window.drawDigit.backward = null;
    lossLine.textContent = "Draw a digit to see its loss.";
    diverging(gradientCanvas, new Float64Array(SIDE * SIDE), SIDE, SIDE);
    gradRows.replaceChildren();
    return;
  }
  const label = chosenLabel(result);
  const start = performance.now();
  const back = backward(network, input, result.maps, label);
  window.drawDigit.backwardMs = performance.now() - start;
  lastRun = { input, maps: result.maps, deltas: back.deltas, label };
  const p = result.probabilities[label];
  lossLine.textContent =
    `Loss for ${aDigit(label)}: E = −ln p = −ln ${figure(p)} = ${figure(back.loss)}. ` +
    `Forward and backward took ${(result.ms + window.drawDigit.backwardMs).toFixed(1)} ms.`;
  diverging(gradientCanvas, Array.from(back.dPixels), SIDE, SIDE);
  gradRows.replaceChildren(
    ...back.grads.flatMap((g, k) => {
      if (!g) return [];
      const row = document.createElement("tr");
      const name = layerSections[k].querySelector(".draw-heading").textContent;
      const size = Math.hypot(norm(g.dWeight), norm(g.dBias));
      row.innerHTML = `<td></td><td>${size.toPrecision(3)}</td>`;
      row.firstChild.textContent = name;
      return [row];
    }),
  );
  window.drawDigit.backward = {
    label,
    loss: back.loss,
    dPixels: Array.from(back.dPixels),
    grads: back.grads.map((g) => g && { dWeight: Array.from(g.dWeight), dBias: Array.from(g.dBias) }),
  };
}

labelChoice.addEventListener("change", () => show(shownInput, null));

// Clicking a map: how one value was computed, with the numbers ----------------------------------

const inspector = document.getElementById("draw-inspect");
const PRODUCTS_SHOWN = 27; // past this many products a conv's sum is shown per input channel

function stageInput(k) {
  if (k > 0) return { values: lastRun.maps[k - 1], shape: network.stages[k - 1].shape };
  return { values: Float64Array.from(lastRun.input, (v) => (v - MEAN) / STD), shape: [1, SIDE, SIDE] };
}

function row(cells, header = false) {
  const tr = document.createElement("tr");
  for (const text of cells) {
    const cell = document.createElement(header ? "th" : "td");
    cell.textContent = text;
    tr.append(cell);
  }
  return tr;
}

function table(head, rows) {
  const element = document.createElement("table");
  element.append(row(head, true), ...rows.map((cells) => row(cells)));
  return element;
}

function line(text) {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

const f4 = (v) => (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4));

function inspectLargest(k, c) {
  if (!lastRun) return;
  const [, h = 1, w = 1] = network.stages[k].shape;
  const plane = lastRun.maps[k].subarray(c * h * w, (c + 1) * h * w);
  const at = plane.indexOf(Math.max(...plane));
  inspect(k, c, Math.floor(at / w), at % w);
}

function inspect(k, c, i, j) {
  if (!lastRun) return;
  const stage = network.stages[k];
  const [, h, w] = stage.shape;
  const p = (c * h + i) * w + j;
  const value = lastRun.maps[k][p];
  const delta = lastRun.deltas[k][p];
  const { values: x, shape: [cIn, hIn, wIn] } = stageInput(k);
  const title = layerSections[k].querySelector(".draw-heading").textContent;
  const parts = [line(`${title}, channel ${c + 1}, row ${i}, column ${j}: ${f4(value)}.`)];
  if (stage.kind === "conv") {
    const { kernel: kk, stride, padding: pad, groups } = stage;
    const per = cIn / groups;
    const first = Math.floor(c / (stage.shape[0] / groups)) * per;
    const rows = [];
    let total = stage.bias[c];
    for (let g = 0; g < per; g += 1) {
      let channelSum = 0;
      for (let u = 0; u < kk; u += 1) {
        for (let v = 0; v < kk; v += 1) {
          const r = i * stride + u - pad;
          const q = j * stride + v - pad;
          const pixel = r >= 0 && r < hIn && q >= 0 && q < wIn ? x[((first + g) * hIn + r) * wIn + q] : 0;
          const weight = stage.weight[((c * per + g) * kk + u) * kk + v];
          channelSum += pixel * weight;
          if (per * kk * kk <= PRODUCTS_SHOWN) {
            rows.push([`${first + g + 1}`, `${r}, ${q}`, f4(pixel), f4(weight), f4(pixel * weight)]);
          }
        }
      }
      if (per * kk * kk > PRODUCTS_SHOWN) rows.push([`${first + g + 1}`, `${kk} × ${kk}`, "", "", f4(channelSum)]);
      total += channelSum;
    }
    const each = per * kk * kk <= PRODUCTS_SHOWN;
    const head = each ? ["input channel", "at", "input", "weight", "product"]
      : ["input channel", "patch", "", "", "sum of its products"];
    parts.push(table(head, rows));
    const relu = stage.relu ? `; after ReLU, max(0, ${f4(total)}) = ${f4(Math.max(0, total))}` : "";
    parts.push(line(`The products summed, plus the bias (${f4(stage.bias[c])}): ${f4(total)}${relu} ` +
      "(weights and bias with BatchNorm folded in)."));
    const passes = !stage.relu || total > 0;
    parts.push(line(`Backward: ∂E/∂(this value) = ${f4(delta)}` + (stage.relu
      ? passes ? "; the ReLU passes it, and " : "; the ReLU was 0 here, so nothing flows back. "
      : "; ") + (passes ? "each input above receives it times its weight, each weight it " +
      "times its input (summed over every position of the map)." : "")));
  } else if (stage.kind === "maxpool") {
    const { kernel: kk, stride } = stage;
    const rows = [];
    let best = -Infinity;
    for (let u = 0; u < kk; u += 1) {
      for (let v = 0; v < kk; v += 1) {
        const r = i * stride + u;
        const q = j * stride + v;
        const pixel = x[(c * hIn + r) * wIn + q];
        rows.push([`${r}, ${q}`, f4(pixel), ""]);
        if (pixel > best) {
          best = pixel;
          rows.forEach((cells) => (cells[2] = ""));
          rows[rows.length - 1][2] = "winner";
        }
      }
    }
    parts.push(table(["at", "value", ""], rows));
    parts.push(line(`The window's largest value is kept. Backward: ∂E/∂(this value) = ${f4(delta)}, ` +
      "routed to the winner alone; the other values of the window get 0."));
  } else if (stage.kind === "gap") {
    parts.push(line(`The mean of the ${hIn} × ${wIn} values of channel ${c + 1} (its digit's score ` +
      `map). Backward: ∂E/∂(this logit) = p − t = ${f4(delta)}, shared equally: each value of the ` +
      `map gets ${f4(delta / (hIn * wIn))}.`));
  } else {
    parts.push(line(`max(0, ${f4(x[p])}) = ${f4(value)}. Backward: ∂E/∂(this value) = ${f4(delta)}.`));
  }
  inspector.replaceChildren(...parts);
  window.drawDigit.inspected = { stage: k, channel: c, i, j, value, delta };
}

document.getElementById("draw-step").addEventListener("click", () => {
  const last = window.drawDigit.backward;
  const lr = Number(document.getElementById("draw-lr").value);
  if (!shownInput || !last) {
    stepStatus.textContent = "Draw a digit first: the step follows its gradient.";
    return;
  }
  if (!(lr > 0 && lr <= 10)) {
    stepStatus.textContent = "The learning rate must be a number above 0, at most 10.";
    return;
  }
  const before = window.drawDigit.probabilities[last.label];
  const loss = last.loss;
  sgdStep(network, backward(network, shownInput, forward(network, shownInput).maps, last.label).grads, lr);
  labelChoice.value = String(last.label); // the step was for this digit: keep differentiating it
  show(shownInput, null);
  const after = window.drawDigit.probabilities[last.label];
  stepStatus.textContent =
    `One step at learning rate ${lr}: the loss went from ${figure(loss)} to ` +
    `${figure(window.drawDigit.backward.loss)}, the probability of ${aDigit(last.label)} from ` +
    `${(100 * before).toFixed(1)}% to ${(100 * after).toFixed(1)}%.`;
});

document.getElementById("draw-reset").addEventListener("click", () => {
  network = prepare(structuredClone(trained));
  show(shownInput, null);
  stepStatus.textContent = "The trained weights are back.";
});

// "a 7", "an 8": the digit with its article.
function aDigit(digit) {
  return `${Number(digit) === 8 ? "an" : "a"} ${digit}`;
}

// Why the answer for `input` is unsure (the thresholds the page measured on MNIST's test set,
// python -m mnist.calibrate), or "" when it is not.
function doubts(input, probabilities) {
  if (!app.dataset.threshold) return "";
  const reasons = [];
  const top = Math.max(...probabilities);
  const threshold = Number(app.dataset.threshold);
  if (top < threshold) {
    reasons.push(`its highest probability is ${(100 * top).toFixed(1)}%, below the ` +
      `${(100 * threshold).toFixed(1)}% under which MNIST test answers were mostly wrong`);
  }
  const ink = input.reduce((a, v) => a + v, 0);
  if (ink < Number(app.dataset.inkLow)) reasons.push("it holds less ink than almost any MNIST digit");
  if (ink > Number(app.dataset.inkHigh)) {
    reasons.push("it holds more ink than almost any MNIST digit (a dot or a filled shape?)");
  }
  return reasons.join("; and ");
}

function reading(result, input) {
  const p = Array.from(result.probabilities);
  const top = p.indexOf(Math.max(...p));
  const why = input ? doubts(input, p) : "";
  window.drawDigit.unsure = why || null;
  if (why) {
    return `Unsure: ${why}. The network must pick one of the ten digits; its pick is ` +
      `${aDigit(top)} (${(100 * p[top]).toFixed(1)}%).`;
  }
  return `The network reads ${aDigit(top)} (${(100 * p[top]).toFixed(1)}%).`;
}

function showDrawing(announce) {
  const rgba = padContext.getImageData(0, 0, pad.width, pad.height).data;
  const input = prepareDrawing(rgba, pad.width, pad.height);
  const message = (result) => (result ? reading(result, input) : "Draw a digit in the box.");
  show(input, announce ? message : null);
}

async function loadDigit(button) {
  if (!digits) digits = await (await fetch(app.dataset.digits)).json();
  strokes.length = 0;
  redrawPad();
  const input = Float64Array.from(digits[button.dataset.index], (v) => v / 255);
  const { index, label, predicted } = button.dataset;
  show(input, (result) =>
    `Test digit #${index}, ${aDigit(label)}: ${reading(result, input)} ` +
    `The reference run recorded ${predicted}.`);
}

for (const button of document.querySelectorAll(".draw-sample")) {
  button.addEventListener("click", () => loadDigit(button));
}

// Starting --------------------------------------------------------------------------------------

async function start() {
  trained = await (await fetch(app.dataset.network)).json();
  network = prepare(structuredClone(trained));
  const blank = new Float64Array(SIDE * SIDE);
  for (let run = 0; run < WARM_UP_RUNS; run += 1) forward(network, blank);
  const begin = performance.now();
  for (let run = 0; run < TIMING_RUNS; run += 1) forward(network, blank);
  window.drawDigit.forwardMs = (performance.now() - begin) / TIMING_RUNS;
  const maps = forward(network, blank).maps;
  for (let run = 0; run < WARM_UP_RUNS; run += 1) backward(network, blank, maps, 0);
  const backStart = performance.now();
  for (let run = 0; run < TIMING_RUNS; run += 1) backward(network, blank, maps, 0);
  window.drawDigit.backwardMeanMs = (performance.now() - backStart) / TIMING_RUNS;
  const both = window.drawDigit.forwardMs + window.drawDigit.backwardMeanMs;
  document.getElementById("draw-timing").textContent =
    `One forward pass takes ${window.drawDigit.forwardMs.toFixed(2)} ms in this browser, ` +
    `forward and backward ${both.toFixed(2)} ms (means of ${TIMING_RUNS}).`;
  showDrawing(true);
  window.drawDigit.ready = true;
}

start().catch((error) => {
  status.textContent = `The network could not be loaded: ${error.message}`;
});
