// Numbers as a reader types them and as the Playground shows them.

// A number the way a reader types it: "0.5", "-1e-3", ".2"; null when it is not a finite number.
export function parseNumber(text) {
  const trimmed = String(text).trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

// At most 8 characters (3 significant digits), so a label's width is known before its value:
// 0.15, -0.0123, 4.38e-4, -1.77e-33, 1.23e4.
export function short(value) {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  if (value === 0) return "0";
  const size = Math.abs(value);
  const text = size >= 0.01 && size < 1e4
    ? String(Number(value.toPrecision(3)))
    : value.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  return text.replace("-", "−");
}

// The widest text short() returns, to measure a label's room.
export const WIDEST_SHORT = "−8.88e-88";

// A number for reading in full: `digits` significant digits, no trailing zeros.
export function long(value, digits = 9) {
  return Number.isFinite(value) ? String(Number(value.toPrecision(digits))) : short(value);
}
