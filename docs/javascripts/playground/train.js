// Gradient descent with the printed `evaluate`: every step's parameters, forward values and
// gradients kept in one Float64Array per run (a 5,000-step run is one allocation, not 5,000
// objects), and what a reader should be told about a run: diverged, or stalled by saturation.

// Gradients this small next to the error mean training has stopped, not that it has converged.
const VANISHED = 1e-6; // largest |gradient| / E_total
const NEAR_ZERO = 1e-8; // an E_total below this is a fit, whatever the gradients

export class Run {
  constructor(model, lr, steps) {
    const { network } = model;
    this.lr = lr;
    this.network = network;
    this.gradients = network.trained.map((name) => network.gradients[name]);
    this.names = [...network.arguments, ...network.forward, ...this.gradients];
    this.width = this.names.length;
    this.column = Object.fromEntries(this.names.map((name, j) => [name, j]));
    this.data = new Float64Array((steps + 1) * this.width);
    this.length = 0; // steps computed + 1: shorter than steps + 1 when a value stopped being finite
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

// One run from `values` (by argument name): p <- p - lr * dE_total/dp for every trained p,
// all from the same forward pass, until `steps` or the first step with a value not finite.
export function train(model, values, lr, steps) {
  const { network, evaluate } = model;
  const run = new Run(model, lr, steps);
  const args = network.arguments.map((name) => values[name]);
  const trained = network.trained.map((name) => network.arguments.indexOf(name));
  const outputs = [...network.forward, ...run.gradients];
  const loss = network.forward.indexOf(network.loss);
  const first = network.forward.length;
  const nArgs = args.length;
  const data = run.data;
  for (let step = 0, at = 0; step <= steps; step += 1, at += run.width) {
    const out = evaluate(...args);
    let finite = true;
    for (let j = 0; j < nArgs; j += 1) data[at + j] = args[j];
    for (let j = 0; j < outputs.length; j += 1) {
      const value = out[outputs[j]];
      data[at + nArgs + j] = value;
      finite = finite && Number.isFinite(value);
    }
    run.length = step + 1;
    if (!finite || !args.every(Number.isFinite)) {
      run.diverged = { step, names: run.names.filter((_, j) => !Number.isFinite(data[at + j])) };
      return run;
    }
    if (!run.stalled) {
      const error = data[at + nArgs + loss];
      let largest = 0;
      for (let j = first; j < outputs.length; j += 1) largest = Math.max(largest, Math.abs(data[at + nArgs + j]));
      if (error >= NEAR_ZERO && largest <= VANISHED * error) run.stalled = { step, error, gradient: largest };
    }
    for (let k = 0; k < trained.length; k += 1) {
      args[trained[k]] -= lr * out[run.gradients[k]];
    }
  }
  return run;
}

// Neurons whose activation is flat at `row`: sigmoid or tanh at its limits, ReLU at or below 0.
export function saturated(shape, row) {
  const flat = [];
  for (const column of shape.columns.slice(1)) {
    for (const neuron of column) {
      const a = row[neuron.value];
      const slope = { sigmoid: a * (1 - a), tanh: 1 - a * a, relu: row[neuron.net] > 0 ? 1 : 0 }[neuron.activation];
      if (slope !== undefined && Math.abs(slope) < 1e-6) flat.push(neuron);
    }
  }
  return flat;
}
