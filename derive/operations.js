// The network's functions in JavaScript: one function per record of derive/operations.py, of the
// same name, finite wherever the result is (as the NumPy forms there). derive/javascript.py prints
// this file into every module it generates; tests/test_operations.py runs each function against
// its SymPy definition at ordinary values and at the float limits.

// 1 / (1 + e^-x), from the side where the exponential cannot overflow.
export function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export function tanh(x) {
  return Math.tanh(x);
}

export function relu(x) {
  return x > 0 ? x : x <= 0 ? 0 : x; // NaN stays NaN
}

export function leaky_relu(x) {
  return x > 0 ? x : 0.01 * x;
}

export function linear(x) {
  return x;
}

export function step(x) {
  return x > 0 ? 1 : 0; // NaN gives 0, as NumPy's where() does
}

// ln(e^x1 + ... + e^xn), shifted by the largest x so no exponential overflows.
export function logsumexp(...xs) {
  let top = -Infinity;
  for (const x of xs) top = x > top ? x : x <= top ? top : NaN;
  if (!Number.isFinite(top)) return top;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - top);
  return top + Math.log(sum);
}
