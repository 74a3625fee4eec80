// The Playground: reads the form, runs gradient descent with the generated `evaluate` (printed
// from the SymPy derivation at build time), and shows the diagram, values, chart and first rows.
// The form's state lives in the URL hash, so a configuration can be shared as a link.
import { network, evaluate } from "../generated/derived.js";

const form = document.getElementById("pg-form");
const message = document.getElementById("pg-message");
const maxSteps = Number(document.getElementById("pg-playground").dataset.maxSteps);
const TABLE_ROWS = 6;
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
const SVG = "http://www.w3.org/2000/svg";

const fields = [...form.querySelectorAll("input[data-kind]")];
const showSelect = document.getElementById("pg-show");

// Reading the form ---------------------------------------------------------------------------

// A number the way a reader types it: "0.5", "-1e-3", ".2"; null when it is not a finite number.
function parseNumber(text) {
  const trimmed = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : null;
}

// {values, rates, steps, problems}: every field checked, one problem line per bad field.
function readForm() {
  const values = {};
  const rates = [];
  let steps = null;
  const problems = [];
  for (const field of fields) {
    const value = parseNumber(field.value);
    const label = form.querySelector(`label[for="${field.id}"]`).textContent;
    let bad = value === null;
    if (bad) {
      problems.push(`${label}: "${field.value}" is not a finite number.`);
    } else if (field.dataset.kind === "value") {
      values[field.name] = value;
    } else if (field.dataset.kind === "rate") {
      bad = !(value > 0);
      if (bad) problems.push(`${label}: ${field.value} must be above 0.`);
      else rates.push(value);
    } else {
      bad = !(Number.isInteger(value) && value >= 1 && value <= maxSteps);
      if (bad) problems.push(`${label}: ${field.value} must be a whole number from 1 to ${maxSteps}.`);
      else steps = value;
    }
    field.setAttribute("aria-invalid", bad ? "true" : "false");
  }
  return { values, rates: [...new Set(rates)], steps, problems };
}

// Gradient descent ---------------------------------------------------------------------------

// One run from `values`: every step's parameters and outputs, until the last step or the first
// step with a value that is not a finite number (then `diverged` names the step and values).
function run(values, lr, steps) {
  const params = { ...values };
  const rows = [];
  for (let step = 0; step <= steps; step += 1) {
    const out = evaluate(...network.arguments.map((name) => params[name]));
    const row = { step, ...params, ...out };
    rows.push(row);
    const bad = Object.keys(row).filter((name) => !Number.isFinite(row[name]));
    if (bad.length) return { lr, rows, diverged: { step, names: bad } };
    // p <- p - lr * dE_total/dp, every trained parameter from the same forward pass.
    for (const name of network.trained) {
      params[name] = params[name] - lr * out[network.gradients[name]];
    }
  }
  return { lr, rows, diverged: null };
}

// Showing it ---------------------------------------------------------------------------------

function short(value, digits = 4) {
  return Number.isFinite(value) ? String(Number(value.toPrecision(digits))) : String(value);
}

function showDiagram(row) {
  for (const node of document.querySelectorAll("#pg-diagram [data-symbol]")) {
    const name = node.dataset.symbol;
    const gradient = network.gradients[name];
    if (gradient !== undefined) {
      node.textContent = short(row[gradient], 3);
    } else {
      node.textContent = short(row[name]);
    }
  }
}

function cell(tag, text, attributes = {}) {
  const element = document.createElement(tag);
  element.textContent = text;
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// Every forward value and gradient at the form's values; data-value holds the exact number.
function showValues(row) {
  const table = document.getElementById("pg-values");
  table.replaceChildren();
  const names = [...network.forward, ...Object.values(network.gradients)];
  const head = document.createElement("tr");
  const body = document.createElement("tr");
  for (const name of names) {
    head.append(cell("th", name, { scope: "col" }));
    body.append(cell("td", short(row[name], 9), { "data-name": name, "data-value": String(row[name]) }));
  }
  table.append(head, body);
}

function showTable(result) {
  const holder = document.getElementById("pg-table");
  holder.replaceChildren();
  if (!result) return;
  const names = ["step", ...network.trained, network.loss, ...Object.values(network.gradients)];
  const table = document.createElement("table");
  table.id = "pg-rows";
  const head = document.createElement("tr");
  for (const name of names) head.append(cell("th", name, { scope: "col" }));
  table.append(head);
  for (const row of result.rows.slice(0, TABLE_ROWS)) {
    const line = document.createElement("tr");
    for (const name of names) {
      const text = name === "step" ? String(row.step) : short(row[name], 7);
      line.append(cell("td", text, { "data-name": name, "data-value": String(row[name]) }));
    }
    table.append(line);
  }
  holder.append(table);
}

function svgElement(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// E_total against step, one line per learning rate, scaled to the finite values.
function showChart(results, steps) {
  const width = 640;
  const height = 320;
  const pad = { left: 64, right: 16, top: 16, bottom: 40 };
  const finite = results.flatMap((r) => r.rows.map((row) => row[network.loss])).filter(Number.isFinite);
  if (!finite.length) {
    document.getElementById("pg-chart").replaceChildren(cell("p", "No finite error to draw."));
    return;
  }
  const top = Math.max(...finite);
  const bottom = Math.min(0, ...finite);
  const x = (step) => pad.left + (step / steps) * (width - pad.left - pad.right);
  const y = (e) => height - pad.bottom - ((e - bottom) / (top - bottom || 1)) * (height - pad.top - pad.bottom);
  const chart = svgElement("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Total error per step, one line per learning rate",
  });
  chart.append(
    svgElement("line", { x1: pad.left, y1: y(bottom), x2: width - pad.right, y2: y(bottom), class: "axis" }),
    svgElement("line", { x1: pad.left, y1: y(bottom), x2: pad.left, y2: pad.top, class: "axis" }),
    svgElement("text", { x: pad.left - 6, y: y(top) + 4, "text-anchor": "end" }, short(top, 3)),
    svgElement("text", { x: pad.left - 6, y: y(bottom) + 4, "text-anchor": "end" }, short(bottom, 3)),
    svgElement("text", { x: pad.left, y: height - 20, "text-anchor": "middle" }, "0"),
    svgElement("text", { x: x(steps), y: height - 20, "text-anchor": "middle" }, String(steps)),
    svgElement("text", { x: (width + pad.left) / 2, y: height - 4, "text-anchor": "middle" }, "step"),
    svgElement("text", { x: 14, y: height / 2, transform: `rotate(-90 14 ${height / 2})`, "text-anchor": "middle" }, network.loss),
  );
  results.forEach((result, k) => {
    const colour = COLOURS[k % COLOURS.length];
    const points = result.rows
      .filter((row) => Number.isFinite(row[network.loss]))
      .map((row) => `${x(row.step).toFixed(1)},${y(row[network.loss]).toFixed(1)}`);
    chart.append(svgElement("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    const legendY = pad.top + 14 + 18 * k;
    chart.append(
      svgElement("line", { x1: width - 150, y1: legendY - 4, x2: width - 126, y2: legendY - 4, stroke: colour, "stroke-width": 2 }),
      svgElement("text", { x: width - 120, y: legendY }, `lr ${result.lr}${result.diverged ? " (diverged)" : ""}`),
    );
  });
  document.getElementById("pg-chart").replaceChildren(chart);
}

function showRates(rates, chosen) {
  const previous = chosen ?? showSelect.value;
  showSelect.replaceChildren(...rates.map((lr) => cell("option", String(lr), { value: String(lr) })));
  if (rates.map(String).includes(previous)) showSelect.value = previous;
}

function say(lines, alarm) {
  message.replaceChildren(...lines.map((line) => cell("p", line)));
  message.classList.toggle("pg-alarm", alarm);
}

// The URL hash ---------------------------------------------------------------------------------

function saveHash() {
  const state = new URLSearchParams();
  for (const field of fields) state.set(field.name, field.value.trim());
  state.set("show", showSelect.value);
  history.replaceState(null, "", `#${state}`);
}

function loadHash() {
  const state = new URLSearchParams(location.hash.slice(1));
  for (const field of fields) {
    if (state.has(field.name)) field.value = state.get(field.name);
  }
  return state.get("show");
}

// Wiring ---------------------------------------------------------------------------------------

function update(chosen) {
  const { values, rates, steps, problems } = readForm();
  for (const slider of sliders) {
    const value = values[slider.dataset.sliderFor];
    if (value !== undefined) slider.value = String(value);
  }
  if (problems.length) {
    say([...problems, "The results below are for the last valid values."], true);
    return;
  }
  showRates(rates, chosen);
  const results = rates.map((lr) => run(values, lr, steps));
  const start = results.length ? results[0].rows[0] : run(values, 1, 0).rows[0];
  showDiagram(start);
  showValues(start);
  showChart(results, steps);
  showTable(results.find((r) => String(r.lr) === showSelect.value));
  const diverged = results.filter((r) => r.diverged).map((r) => {
    const names = r.diverged.names.slice(0, 4).join(", ") + (r.diverged.names.length > 4 ? ", ..." : "");
    return `lr ${r.lr} diverged at step ${r.diverged.step}: ${names} not finite; the run stops there.`;
  });
  say(diverged.length ? diverged : [`${results.length} runs of ${steps} steps, every value finite.`], diverged.length > 0);
  saveHash();
}

const sliders = [...form.querySelectorAll("input[data-slider-for]")];
for (const slider of sliders) {
  slider.addEventListener("input", () => {
    document.getElementById(`pg-${slider.dataset.sliderFor}`).value = slider.value;
    update();
  });
}
form.addEventListener("input", (event) => {
  if (!event.target.dataset.sliderFor) update();
});
showSelect.addEventListener("change", () => update());
document.getElementById("pg-reset").addEventListener("click", () => {
  for (const field of fields) field.value = field.dataset.default;
  update(null);
});
window.addEventListener("hashchange", () => update(loadHash()));
update(loadHash());
document.getElementById("pg-playground").dataset.ready = "true";
