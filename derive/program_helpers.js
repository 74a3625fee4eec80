// The fixed part of every module derive/javascript.py generates, around its printed `network`
// and `descend` (a function declaration, so it may come before them).

// Whether rows[at .. at + width) holds only finite numbers.
function finiteRow(rows, at, width) {
  for (let j = at; j < at + width; j += 1) if (!Number.isFinite(rows[j])) return false;
  return true;
}

// Every output at one set of values (inputs, targets, weights, biases in `network.arguments`
// order), by name.
export function evaluate(...values) {
  const rows = new Float64Array(network.rowWidth);
  descend(Float64Array.from(values), 0, 0, rows);
  const at = network.arguments.length;
  return Object.fromEntries(network.outputs.map((name, k) => [name, rows[at + k]]));
}
