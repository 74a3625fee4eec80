// The chain of one weight or neuron at the chosen step, with its numbers: what a reader sees after
// clicking it on the diagram. A weight's gradient is its neuron's δ times the value the weight
// multiplies, checked without the chain rule by a central difference (two forward passes of the
// printed module's `evaluate`); a neuron's δ is the loss's slope at its output (an output) or the
// δs of the layer above through its weights (a hidden neuron), times its activation's slope.
import { long } from "./numbers.js";

const H = 1e-6; // the central difference's step
const AGREE = 1e-9; // relative: a product shown equals the value the module computed

const agrees = (a, b) => Math.abs(a - b) <= AGREE * Math.max(Math.abs(a), Math.abs(b), 1e-300);
const n = (value) => long(value, 6);
const factor = (value) => (value < 0 ? `(${n(value)})` : n(value));

// Each neuron by name: its column entry, whether it is an output, its δ's name.
function neurons(shape) {
  const found = {};
  shape.columns.forEach((column, c) => column.forEach((neuron) => {
    found[neuron.name] = { ...neuron, output: c === shape.columns.length - 1, delta: `delta_${neuron.name}` };
  }));
  return found;
}

// (E_total(p + h) - E_total(p - h)) / 2h at the values of `row`.
function centralDifference(model, row, parameter) {
  const { network } = model;
  const loss = (shift) => model.evaluate(...network.arguments.map((a) => row[a] + (a === parameter ? shift : 0)))[network.loss];
  return (loss(H) - loss(-H)) / (2 * H);
}

function weightChain(shape, model, row, weight) {
  const edge = shape.edges.find((e) => e.weight === weight);
  const to = neurons(shape)[edge.to];
  const source = neurons(shape)[edge.from].value;
  const gradient = row[model.network.gradients[weight]];
  const lines = [`∂E_total/∂${weight}: ${weight} carries ${source} into ${to.name}, so its gradient is ${to.name}'s δ times ${source}.`];
  if (agrees(row[to.delta] * row[source], gradient)) {
    lines.push(`∂E_total/∂${weight} = δ_${to.name} × ${source} = ${factor(row[to.delta])} × ${factor(row[source])} = ${n(gradient)}`);
  } else {
    lines.push(`∂E_total/∂${weight} = ${n(gradient)}`);
  }
  const check = centralDifference(model, row, weight);
  lines.push(`Without the chain rule: (E_total(${weight} + h) − E_total(${weight} − h)) / 2h = ${n(check)}, h = 10⁻⁶.`);
  return lines;
}

// ∂E_total/∂a for an output: the loss's own slope; null where the loss has no such simple form.
function lossSlope(shape, model, row, neuron, outputs) {
  const target = shape.errors.find((e) => e.output === neuron.name)?.target;
  const gap = row[neuron.value] - row[target];
  if (shape.loss === "half_sse") return { text: `(${neuron.value} − ${target})`, value: gap };
  if (shape.loss === "mse") return { text: `2(${neuron.value} − ${target}) / ${outputs}`, value: (2 * gap) / outputs };
  return null;
}

function neuronChain(shape, model, row, name) {
  const all = neurons(shape);
  const neuron = all[name];
  if (!neuron.activation) {
    const out = shape.edges.filter((e) => e.from === name).map((e) => e.weight);
    return [`${name} is an input: it has no δ. Its weights ${out.join(", ")} carry it forward; pick one for its chain.`];
  }
  const delta = row[neuron.delta];
  const lines = [];
  const slopeOf = model.derivatives?.[neuron.activation];
  const slope = slopeOf ? slopeOf(row[neuron.net], row[neuron.value]) : NaN;
  const prime = `${neuron.activation}′(${neuron.net})`;
  if (neuron.output && neuron.activation === "softmax" && shape.loss === "cross_entropy") {
    const target = shape.errors.find((e) => e.output === name).target;
    if (agrees(row[neuron.value] - row[target], delta)) {
      lines.push(`δ_${name} = ∂E_total/∂${neuron.net} = ${neuron.value} − ${target} (softmax with cross-entropy) = ${n(delta)}`);
    }
  } else if (neuron.output) {
    const loss = lossSlope(shape, model, row, neuron, shape.columns.at(-1).length);
    if (loss && agrees(loss.value * slope, delta)) {
      lines.push(`δ_${name} = ∂E_total/∂${neuron.value} × ${prime} = ${loss.text} × ${prime}`);
      lines.push(`= ${factor(loss.value)} × ${factor(slope)} = ${n(delta)}`);
    }
  } else {
    const above = shape.edges.filter((e) => e.from === name);
    const sum = above.reduce((total, e) => total + row[e.weight] * row[all[e.to].delta], 0);
    if (agrees(sum * slope, delta)) {
      lines.push(`δ_${name} = (${above.map((e) => `${e.weight} × δ_${e.to}`).join(" + ")}) × ${prime}`);
      lines.push(`= (${above.map((e) => `${factor(row[e.weight])} × ${factor(row[all[e.to].delta])}`).join(" + ")}) × ${factor(slope)} = ${n(delta)}`);
    }
  }
  if (!lines.length) lines.push(`δ_${name} = ∂E_total/∂${neuron.net} = ${n(delta)}`);
  for (const edge of shape.edges.filter((e) => e.to === name)) {
    const source = all[edge.from].value;
    const gradient = row[model.network.gradients[edge.weight]];
    lines.push(`∂E_total/∂${edge.weight} = δ_${name} × ${source} = ${factor(delta)} × ${factor(row[source])} = ${n(gradient)}`);
  }
  if (neuron.bias && model.network.trained.includes(neuron.bias)) {
    lines.push(`∂E_total/∂${neuron.bias} = δ_${name} × 1 = ${n(row[model.network.gradients[neuron.bias]])}`);
  }
  return lines;
}

// The lines that explain `pick` (a weight's or a neuron's name) at the values of `row`.
export function chainLines(shape, model, row, pick) {
  if (shape.edges.some((e) => e.weight === pick)) return weightChain(shape, model, row, pick);
  return neuronChain(shape, model, row, pick);
}

// What may be picked, weights first, then the neurons column by column.
export function pickable(shape) {
  return [...shape.edges.map((e) => e.weight), ...shape.columns.flat().map((neuron) => neuron.name)];
}
