// Gradient descent with the printed module's `descend`: every step's parameters, forward values
// and gradients in one Float64Array per run (row = the arguments, then network.outputs), and what
// a reader should be told about a run: diverged, or stalled by saturation.

// Gradients this small next to the error left to lose mean training has stopped, not converged.
const VANISHED = 1e-6; // largest |gradient| / (E_total - its lowest possible value)
const NEAR_ZERO = 1e-8; // an error this close to its lowest value is a fit, whatever the gradients

export class Run {
  // `spare`: an earlier run's array to fill again when it is large enough; an update then
  // allocates nothing (6 x 10,000 steps x 33 values is 16 MB, and collecting it cost a frame).
  constructor(network, lr, steps, spare = null) {
    this.lr = lr;
    this.gradients = network.trained.map((name) => network.gradients[name]);
    this.names = [...network.arguments, ...network.outputs];
    this.width = this.names.length;
    this.column = Object.fromEntries(this.names.map((name, j) => [name, j]));
    const size = (steps + 1) * this.width;
    this.data = spare && spare.length >= size ? spare : new Float64Array(size);
    this.length = 0; // rows computed: fewer than steps + 1 when a value stopped being finite
    this.diverged = null; // {step, names}
    this.stalled = null; // {step, error, gradient}
  }

  value(step, name) {
    return this.data[step * this.width + this.column[name]];
  }

  // Every value at `step`, by name.
  row(step) {
    const row = { step };
    this.names.forEach((name, j) => { row[name] = this.data[step * this.width + j]; });
    return row;
  }
}

// One run from `values` (by argument name): p <- p - lr * dE_total/dp for every trained p, all
// from the same forward pass, until `steps` or the first step with a value that is not finite.
// The lowest E_total any output can reach for these targets: 0 for the squared errors; for
// cross-entropy the targets' own entropy, -sum t ln(t / sum t), reached when softmax = t / sum t.
export function lowestError(loss, targets) {
  if (loss !== "cross_entropy") return 0;
  const sum = targets.reduce((a, b) => a + b, 0);
  return targets.reduce((e, t) => (t > 0 ? e - t * Math.log(t / sum) : e), 0);
}

export function train(model, values, lr, steps, lowest, spare = null) {
  const { network } = model;
  const run = new Run(network, lr, steps, spare);
  const args = Float64Array.from(network.arguments, (name) => values[name]);
  run.length = model.descend(args, lr, steps, run.data);
  const last = (run.length - 1) * run.width;
  const bad = run.names.filter((_, j) => !Number.isFinite(run.data[last + j]));
  if (bad.length) run.diverged = { step: run.length - 1, names: bad };
  run.stalled = stall(run, network.loss, lowest);
  return run;
}

// The first step whose gradients have all but vanished while the error has not.
function stall(run, loss, lowest) {
  const gradients = run.gradients.map((name) => run.column[name]);
  const error = run.column[loss];
  for (let step = 0, at = 0; step < run.length; step += 1, at += run.width) {
    const e = run.data[at + error];
    if (!(e - lowest >= NEAR_ZERO)) continue;
    let largest = 0;
    for (const j of gradients) largest = Math.max(largest, Math.abs(run.data[at + j]));
    if (largest <= VANISHED * (e - lowest)) return { step, error: e, gradient: largest };
  }
  return null;
}

// Neurons whose activation is flat at `row` (sigmoid or tanh at its limits, ReLU at or below 0),
// by the printed module's `derivatives` (derive/operations.py); softmax outputs are not looked at.
export function saturated(shape, derivatives, row) {
  const flat = [];
  for (const column of shape.columns.slice(1)) {
    for (const neuron of column) {
      const slope = derivatives[neuron.activation]?.(row[neuron.net], row[neuron.value]);
      if (slope !== undefined && Math.abs(slope) < 1e-6) flat.push(neuron);
    }
  }
  return flat;
}
