// Numbers as a reader types them and as the Playground shows them.

// A number the way a reader types it: "0.5", "-1e-3", ".2"; null when it is not a finite number.
export function parseNumber(text) {
  const trimmed = String(text).trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

// At most 8 characters, minus signs included, so a label's width is known before its value:
// 0.15, −0.0123, 4.38e−4, −1.77e−3, 1.23e4; a longer exponent leaves fewer digits (−1.8e−33).
export function short(value) {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (value === 0) return "0";
  const size = Math.abs(value);
  let text;
  if (size >= 0.01 && size < 1e4) text = String(Number(value.toPrecision(3)));
  else {
    const exponent = Math.abs(Number(value.toExponential(2).split("e")[1]));
    const digits = Math.max(0, 2 - (String(exponent).length - 1));
    text = value.toExponential(digits).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  return text.replace(/-/g, "−");
}

// The widest text short() returns, to measure a label's room.
export const WIDEST_SHORT = "−8.88e−8";

// A number for reading in full: `digits` significant digits, no trailing zeros, minus signs.
export function long(value, digits = 9) {
  return Number.isFinite(value) ? String(Number(value.toPrecision(digits))).replace(/-/g, "−") : short(value);
}

// A name as every page writes it: dE_total/dw1 is ∂E_total/∂w1.
export function named(name) {
  return name.replace(/^d(\w+)\/d(\w+)$/, "∂$1/∂$2");
}
