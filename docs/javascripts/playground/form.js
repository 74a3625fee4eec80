// The form: one text field per input, target, weight, bias, learning rate and the step count,
// built for the chosen network; checking what a reader (or a shared link) typed into it.
import { parseNumber } from "./numbers.js";
import { element } from "./dom.js";

// Weights and trained biases are where every run starts (step 0): the diagram moves on from them.
const GROUPS = [
  ["inputs", "Inputs", false],
  ["targets", "Targets", false],
  ["weights", "Initial weights (step 0)", true],
  ["biases", "Biases", true],
];

function field(name, label, kind, value, slider, range) {
  const row = element("div", { class: "pg-field" });
  row.append(element("label", { for: `pg-${name}` }, label));
  row.append(element("input", {
    id: `pg-${name}`, name, type: "text", inputmode: kind === "steps" ? "numeric" : "decimal",
    value: String(value), "data-kind": kind, "data-default": String(value),
  }));
  if (slider) {
    // The text field is the keyboard's way in (its arrow keys step); the slider is for the mouse
    // and touch: it spans value ± range, so a pixel is a fine change.
    const input = row.appendChild(element("input", {
      type: "range", step: 0.001, "data-slider-for": name, "aria-label": `${name} slider`, tabindex: -1,
    }));
    centre(input, value, range);
  }
  return row;
}

// The slider spans `value` ± `range` and stands at `value`, in its middle.
export function centre(slider, value, range) {
  slider.min = String(Number((value - range).toPrecision(12)));
  slider.max = String(Number((value + range).toPrecision(12)));
  slider.value = String(value);
}

// The arrow keys in a value's text field: up and down by 0.01, with Shift 0.1, with Alt 0.001;
// the new text, or null for a key that is not one of them or a field that holds no number.
export function stepped(event, text) {
  if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return null;
  const value = parseNumber(text);
  if (value === null) return null;
  const size = event.shiftKey ? 0.1 : event.altKey ? 0.001 : 0.01;
  return String(Number((value + (event.key === "ArrowUp" ? size : -size)).toPrecision(12)));
}

// Fieldsets for `network` (the printed module's description) into `holder`; the text fields.
// `shared` biases (Mazur's b1 for both hidden neurons, b2 for both outputs) get one field each.
export function buildForm(holder, network, settings, shared = []) {
  const sets = [];
  for (const [key, title, slider] of GROUPS) {
    if (!network[key].length) continue;
    const set = element("fieldset");
    const trained = key === "biases" && network.trained.includes(network.biases[0]);
    const legend = key !== "biases" ? title : trained ? "Initial biases (step 0), trained" : "Biases, fixed";
    set.append(element("legend", {}, legend));
    if (key === "biases" && shared.length) {
      for (const { name, label, members } of shared) {
        set.append(field(name, label, "value", network.defaults[members[0]], slider, settings.range));
      }
    } else {
      for (const name of network[key]) {
        set.append(field(name, name, "value", network.defaults[name], slider, settings.range));
      }
    }
    sets.push(set);
  }
  const descent = element("fieldset");
  descent.append(element("legend", {}, "Learning rates, one run each"));
  // Labelled by run, not "lr 5" (whose value, 1, read as a second learning rate).
  settings.rates.forEach((lr, k) => {
    descent.append(field(`lr${k + 1}`, `run ${k + 1}`, "rate", lr, false));
  });
  descent.append(field("steps", `steps (≤ ${settings.maxSteps})`, "steps", settings.steps, false));
  sets.push(descent);
  holder.replaceChildren(...sets);
  return [...holder.querySelectorAll("input[data-kind]")];
}

// {value} when `text` is allowed in a field of this kind, else {problem}: why not.
export function check(kind, text, maxSteps) {
  const value = parseNumber(text);
  if (value === null) return { problem: `"${text}" is not a finite number` };
  if (kind === "rate" && !(value > 0)) return { problem: `${text} must be above 0` };
  if (kind === "steps" && !(Number.isInteger(value) && value >= 1 && value <= maxSteps)) {
    return { problem: `${text} must be a whole number from 1 to ${maxSteps}` };
  }
  return { value };
}

// {values, rates, steps, problems}: every field checked, one problem line per bad field.
export function readForm(fields, maxSteps) {
  const values = {};
  const rates = [];
  let steps = null;
  const problems = [];
  for (const input of fields) {
    const { value, problem } = check(input.dataset.kind, input.value, maxSteps);
    input.setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) problems.push(`${input.labels[0].textContent}: ${problem}.`);
    else if (input.dataset.kind === "value") values[input.name] = value;
    else if (input.dataset.kind === "rate") rates.push(value);
    else steps = value;
  }
  return { values, rates: [...new Set(rates)], steps, problems };
}

// The values by the network's own names: each shared field's value given to every bias it names.
export function unshare(values, shared = []) {
  const own = { ...values };
  for (const { name } of shared) delete own[name];
  for (const { name, members } of shared) {
    for (const member of members) own[member] = values[name];
  }
  return own;
}

// Fill the fields from a shared link's state; the names it could not use, each with the reason.
export function loadFields(fields, state, maxSteps, known) {
  const ignored = [];
  const byName = new Map(fields.map((input) => [input.name, input]));
  for (const [name, text] of state) {
    const input = byName.get(name);
    if (!input) {
      if (!known.has(name)) ignored.push(`${name} (not a field of this network)`);
      continue;
    }
    const { problem } = check(input.dataset.kind, text, maxSteps);
    if (problem) ignored.push(`${name} (${problem})`);
    else input.value = text;
  }
  return ignored;
}
