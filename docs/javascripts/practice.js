// Practice on Backpropagation explained: the reader types a value, or a spreadsheet formula, for a
// gradient; this says whether it is right and, when it is not, names the mistake. The judging was
// prepared while the site was built (sitegen/practice.py): every gradient's values and those of
// its catalogued mistakes at this page's numbers and at a few random forward passes. Here the
// reader's formula is evaluated at the same points and the numbers are compared, so a right
// answer is accepted however it is written.
import { FormulaError, readFormula } from "./practice/formula.js";

const AGREE = 1e-9; // relative: the same function at every point
const MIN_DIGITS = 3; // significant digits a typed value needs to be told from the mistakes

const $ = (id) => document.getElementById(id);
const data = JSON.parse($("pr-data").textContent);
const gradients = new Map(data.gradients.map((g) => [g.parameter, g]));

function agree(a, b) {
  return a.every((x, k) => Number.isFinite(x) && Math.abs(x - b[k]) <= AGREE * Math.max(Math.abs(x), Math.abs(b[k]), 1e-300));
}

// The number as the page writes it: 9 significant digits, a minus sign.
function shown(value) {
  return String(Number(value.toPrecision(9))).replace("-", "−");
}

// A typed number and its significant digits, or null when `text` is not one.
function typedNumber(text) {
  const ascii = text.trim().replace(/[−–]/g, "-").replace(/,/g, ".");
  const match = /^([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$/.exec(ascii);
  if (!match || !(match[2] + match[3])) return null;
  const digits = (match[2] + match[3]).replace(/^0+/, "");
  return { value: Number(ascii), digits: Math.max(digits.length, 1), exponent: Number(match[4] ?? 0) - match[3].length };
}

// {kind, text}: the verdict on a typed value. Right when it is the gradient to the digits typed
// (rounded or cut off: within one unit of the last digit).
function judgeValue(gradient, typed) {
  const unit = 10 ** typed.exponent;
  const near = (value) => Math.abs(typed.value - value) <= unit * (1 + 1e-9);
  const value = gradient.values[0];
  if (near(value)) {
    if (typed.digits < MIN_DIGITS) {
      return { kind: "warn", text: `Right to the ${typed.digits} significant digit${typed.digits > 1 ? "s" : ""} you typed; type at least ${MIN_DIGITS} to be checked.` };
    }
    return { kind: "right", text: `Right: ${gradient.label} = ${shown(value)} at this page's numbers.` };
  }
  const mistake = gradient.mistakes.find((m) => near(m.values[0]));
  if (mistake) return { kind: "wrong", text: `Not right. That is the value of a formula in which ${mistake.diagnosis}.` };
  return { kind: "wrong", text: `Not right: ${gradient.label} is not ${shown(typed.value)} at this page's numbers, and it is not the value of any mistake this page knows. Follow its chain in the sections above, one factor at a time.` };
}

// The verdict on a typed formula, from its values at every point of the catalogue.
function judgeFormula(gradient, text) {
  let formula;
  try {
    formula = readFormula(text, data.names);
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    return { kind: "warn", text: `This cannot be read as a formula: ${error.message}. The names it may use are listed below.` };
  }
  const values = data.points.map((point) => formula(point));
  const here = Number.isFinite(values[0]) ? shown(values[0]) : "no number";
  const others = data.points.length - 1;
  if (agree(values, gradient.values)) {
    return { kind: "right", text: `Right: your formula is ${gradient.label}. It gives ${here} at this page's numbers and agrees with the derivation at ${others} random forward passes of the network too, so it is the same function, however it is written.` };
  }
  const mistake = gradient.mistakes.find((m) => agree(values, m.values));
  const versus = `At this page's numbers your formula gives ${here} where ${gradient.label} = ${shown(gradient.values[0])}.`;
  if (mistake) return { kind: "wrong", text: `Not right: ${mistake.diagnosis}. ${versus}` };
  const ratio = values[0] / gradient.values[0];
  if (Number.isFinite(ratio) && agree(gradient.values.map((v) => v * ratio), values)) {
    return { kind: "wrong", text: `Not right: your formula is ${shown(ratio)} times ${gradient.label} at every point tried: a constant factor too many or too few. ${versus}` };
  }
  if (Math.abs(values[0] - gradient.values[0]) <= 1e-9 * Math.abs(gradient.values[0])) {
    return { kind: "wrong", text: `Not right, although it gives the right number at this page's numbers: at other values of the network's inputs and weights it differs from ${gradient.label}, so it is a different function that happens to agree here.` };
  }
  return { kind: "wrong", text: `Not right, and not one of the mistakes this page knows. ${versus} Follow its chain in the sections above, one factor at a time.` };
}

function check(event) {
  event.preventDefault();
  const gradient = gradients.get($("pr-gradient").value);
  const text = $("pr-answer").value.trim();
  let verdict;
  if (!text) verdict = { kind: "warn", text: "Type a number, or a formula that starts with =." };
  else {
    const typed = text.startsWith("=") ? null : typedNumber(text);
    verdict = typed ? judgeValue(gradient, typed) : judgeFormula(gradient, text);
  }
  $("pr-verdict").textContent = verdict.text;
  $("pr-verdict").dataset.kind = verdict.kind;
}

function choose() {
  const gradient = gradients.get($("pr-gradient").value);
  $("pr-formula").textContent = gradient.formula;
  $("pr-verdict").textContent = "";
  delete $("pr-verdict").dataset.kind;
}

$("pr-gradient").replaceChildren(...data.gradients.map((g) => {
  const option = document.createElement("option");
  option.value = g.parameter;
  option.textContent = g.label;
  return option;
}));
$("pr-names").textContent = data.names.map((name, k) => `${name} = ${shown(data.points[0][k])}`).join(", ");
$("pr-form").addEventListener("submit", check);
$("pr-gradient").addEventListener("change", choose);
choose();
$("pr-form").dataset.ready = "true";
