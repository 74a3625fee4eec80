// The Playground: builds the form for the chosen network, runs gradient descent for every
// learning rate with that network's `evaluate` (printed from the SymPy derivation at build time),
// and shows the chosen step of the chosen rate on the diagram, the chart, the table and the list.
// The page's state lives in the URL hash, so a configuration can be shared as a link.
import { buildForm, centre, check, loadFields, readForm, stepped, unshare } from "./playground/form.js";
import { chainLines, pickable } from "./playground/chain.js";
import { Chart } from "./playground/chart.js";
import { Diagram } from "./playground/diagram.js";
import { element } from "./playground/dom.js";
import { long, short } from "./playground/numbers.js";
import { Steps } from "./playground/steps.js";
import { lowestError, saturated, train } from "./playground/train.js";

const root = document.getElementById("pg-playground");
const $ = (id) => document.getElementById(id);
const shapes = JSON.parse($("pg-networks").textContent);
const settings = {
  maxSteps: Number(root.dataset.maxSteps),
  steps: Number(root.dataset.steps),
  range: Number(root.dataset.range),
  rates: root.dataset.rates.split(",").map(Number),
  shown: Number(root.dataset.shown),
};
const STATE_KEYS = new Set(["net", "show", "step", "log"]);
const models = {};
const timings = (window.playgroundTimings = []); // ms per recomputation, read by the tests
const state = { shape: null, model: null, fields: [], runs: [], steps: 0, step: 0, playing: false, notices: [] };
const chart = new Chart($("pg-chart"), $("pg-legend"));
const table = new Steps($("pg-table"), $("pg-cue"), $("pg-values"));

async function model(shape) {
  models[shape.key] ??= await import(shape.module);
  return models[shape.key];
}

// Switching networks --------------------------------------------------------------------------

async function useNetwork(shape, carried = {}) {
  state.shape = shape;
  state.model = await model(shape);
  state.fields = buildForm($("pg-fields"), state.model.network, settings, shape.shared);
  for (const input of state.fields) {
    if (input.dataset.kind !== "value" && carried[input.name] !== undefined) input.value = carried[input.name];
  }
  for (const slider of $("pg-fields").querySelectorAll("input[data-slider-for]")) {
    slider.addEventListener("input", () => {
      $(`pg-${slider.dataset.sliderFor}`).value = slider.value;
      edited();
    });
    // Let go: centred on where it stands, so the next drag reaches as far either way.
    slider.addEventListener("change", () => centre(slider, Number(slider.value), settings.range));
  }
  for (const input of state.fields.filter((f) => f.dataset.kind === "value")) {
    input.addEventListener("keydown", (event) => {
      const text = stepped(event, input.value);
      if (text === null) return;
      event.preventDefault();
      input.value = text;
      edited();
    });
  }
  state.diagram = new Diagram($("pg-diagram"), shape, state.model.network);
  drawDiagram();
  const picks = pickable(shape);
  $("pg-pick").replaceChildren(...picks.map((name) => element("option", { value: name }, name)));
  // At first the first weight into an output: its chain is the shortest.
  $("pg-pick").value = shape.edges.find((e) => shape.columns.at(-1).some((n) => n.name === e.to)).weight;
}

// The diagram at its holder's width; the edges it had no room to label are named.
function drawDiagram() {
  const hidden = state.diagram.draw($("pg-diagram").clientWidth);
  $("pg-hidden").hidden = !hidden.length;
  $("pg-hidden").textContent = `No room on the drawing for the labels of ${hidden.join(", ")}: `
    + "their values are in the table below.";
}

// Computing -------------------------------------------------------------------------------------

function recompute() {
  const started = performance.now();
  const { values, rates, steps, problems } = readForm(state.fields, settings.maxSteps);
  for (const slider of $("pg-fields").querySelectorAll("input[data-slider-for]")) {
    const value = values[slider.dataset.sliderFor];
    // A value typed in its field: the slider is centred on it, as on a slider let go. Every
    // time, not only past the ends: typed key by key, "-3.5" is "-3" first, past the ends, and
    // the slider must not stay centred on that.
    if (value !== undefined && value !== Number(slider.value)) centre(slider, value, settings.range);
  }
  if (problems.length) {
    say([...problems, "The results show the last valid values."], "alarm");
    return;
  }
  state.lowest = lowestError(state.shape.loss, state.model.network.targets.map((t) => values[t]));
  // The previous runs are dropped here, so their arrays are filled again.
  const own = unshare(values, state.shape.shared);
  state.runs = rates.map((lr, k) => train(state.model, own, lr, steps, state.lowest, state.runs[k]?.data));
  state.steps = steps;
  const previous = $("pg-show").value;
  $("pg-show").replaceChildren(...rates.map((lr) => element("option", { value: String(lr) }, String(lr))));
  if (rates.map(String).includes(previous)) $("pg-show").value = previous;
  // At first the rate Backpropagation explained steps with, so the two pages start alike.
  else if (rates.includes(settings.shown)) $("pg-show").value = String(settings.shown);
  $("pg-step").max = String(steps);
  state.step = Math.min(state.step, steps);
  chart.draw(state.runs, steps, $("pg-log").checked, state.model.network.loss);
  table.build(state.model.network, state.steps);
  report();
  showStep();
  timings.push(performance.now() - started);
}

function chosen() {
  return state.runs.find((run) => String(run.lr) === $("pg-show").value) ?? state.runs[0];
}

// E_total at a run's last computed step (not finite for a run that diverged).
function lastError(run) {
  return run.diverged ? Infinity : run.value(run.length - 1, state.model.network.loss);
}

// Every run's status: not finite, stalled by saturation, or fine; and what a link left out.
function report() {
  const lines = state.notices.map((text) => ({ text, kind: "warn" }));
  for (const run of state.runs) {
    if (run.diverged) {
      const names = run.diverged.names.slice(0, 4).join(", ") + (run.diverged.names.length > 4 ? ", ..." : "");
      lines.push({ text: `lr ${run.lr} diverged at step ${run.diverged.step}: ${names} not finite; the run stops there.`, kind: "alarm" });
    } else if (run.stalled) {
      const { step, error, gradient } = run.stalled;
      const flat = saturated(state.shape, state.model.derivatives, run.row(step)).map((n) => `${n.name} (${n.value} = ${short(run.value(step, n.value))})`);
      const floor = state.lowest === 0 ? "0"
        : `its lowest possible value (${short(error - state.lowest)} above ${short(state.lowest)})`;
      // Stalled is not the same as bad: say so when this run still ends lowest of all.
      const best = lastError(run) <= Math.min(...state.runs.map(lastError));
      lines.push({
        text: `lr ${run.lr} stalls from step ${step}: the gradients have all but vanished (largest ${short(gradient)}, `
          + `under a millionth of the error left) while E_total = ${short(error)} is not yet ${floor}`
          + (flat.length ? `; neurons where the activation is flat: ${flat.join(", ")}` : "")
          + ". Descent has stopped moving there; it has not converged"
          + (best ? ", although this run's error is the lowest of all the runs." : "."),
        kind: "warn",
      });
    }
  }
  if (lines.length === state.notices.length) {
    lines.push({ text: `${state.runs.length} runs of ${state.steps} steps: every value finite, no run stalled.`, kind: "ok" });
  }
  say(lines.map((l) => l.text), lines.some((l) => l.kind === "alarm") ? "alarm" : lines.some((l) => l.kind === "warn") ? "warn" : "ok");
}

function say(lines, kind) {
  const message = $("pg-message");
  message.replaceChildren(...lines.map((line) => element("p", {}, line)));
  message.dataset.kind = kind;
}

// Showing the chosen step -------------------------------------------------------------------------

function showStep() {
  const run = chosen();
  if (!run) return;
  const step = Math.min(state.step, run.length - 1);
  const row = run.row(step);
  const loss = state.model.network.loss;
  $("pg-step").value = String(state.step);
  $("pg-step-out").textContent = String(state.step);
  $("pg-total").textContent = long(row[loss]);
  $("pg-total").dataset.value = String(row[loss]);
  $("pg-where").textContent = `at step ${step} of lr ${run.lr}` + (step < state.step ? ` (the run stopped at step ${step})` : "");
  state.diagram.show(row);
  chart.mark(run, state.runs.indexOf(run), step);
  chart.showLegend(state.runs, run);
  table.show(run, step, row);
  showChain(row);
}

// The chosen weight's or neuron's chain with the numbers of `row`.
function showChain(row) {
  const lines = chainLines(state.shape, state.model, row, $("pg-pick").value);
  $("pg-chain").replaceChildren(...lines.map((line) => element("p", {}, line)));
}

// Playing -----------------------------------------------------------------------------------------

function setPlaying(playing) {
  state.playing = playing;
  $("pg-play").textContent = playing ? "Pause" : "Play";
  $("pg-play").setAttribute("aria-pressed", String(playing));
  if (playing) requestAnimationFrame(tick);
  else saveHash();
}

function tick() {
  if (!state.playing) return;
  state.step = Math.min(state.steps, state.step + Math.max(1, Math.ceil(state.steps / 250)));
  showStep();
  if (state.step >= state.steps) setPlaying(false);
  else requestAnimationFrame(tick);
}

// The URL hash ------------------------------------------------------------------------------------

function saveHash() {
  const hash = new URLSearchParams({ net: state.shape.key });
  for (const input of state.fields) hash.set(input.name, input.value.trim());
  hash.set("show", $("pg-show").value);
  hash.set("step", String(state.step));
  if ($("pg-log").checked) hash.set("log", "1");
  history.replaceState(null, "", `#${hash}`);
}

// Open the state of a link: whatever it holds that is not valid is named, and the config's
// values are used for it instead.
async function openHash() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const ignored = [];
  const key = hash.get("net");
  const shape = shapes.find((s) => s.key === key) ?? shapes[0];
  if (key !== null && shape.key !== key) ignored.push(`net (no network named "${key}")`);
  const carried = {};
  for (const input of state.fields) carried[input.name] = input.value;
  await useNetwork(shape, hash.toString() ? {} : carried);
  ignored.push(...loadFields(state.fields, hash, settings.maxSteps, STATE_KEYS));
  $("pg-log").checked = hash.get("log") === "1";
  state.step = 0;
  state.notices = ignored.length
    ? [`From the link, ignored ${ignored.join(" and ")}; the config's values are used instead.`]
    : [];
  recompute();
  const show = hash.get("show");
  if (show !== null) {
    if (state.runs.some((run) => String(run.lr) === show)) $("pg-show").value = show;
    else state.notices.push(`The link's learning rate to show, ${show}, is not one of the rates; showing ${$("pg-show").value}.`);
  }
  const step = hash.get("step");
  if (step !== null) {
    const { value, problem } = check("steps", step, state.steps);
    const past = problem && Number.isInteger(Number(step)) && Number(step) > state.steps;
    if (step === "0") state.step = 0;
    else if (past) {
      state.step = state.steps;
      state.notices.push(`The link's step ${step} is past this run's ${state.steps} steps; showing the last step, ${state.steps}.`);
    } else if (problem) state.notices.push(`The link's step ${step} is not a step of this run; showing step 0.`);
    else state.step = value;
  }
  report();
  showStep();
}

// Wiring ------------------------------------------------------------------------------------------

let pending = false;
function edited() {
  state.notices = [];
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    recompute();
    saveHash();
  });
}

$("pg-net").replaceChildren(...shapes.map((s) => element("option", { value: s.key }, s.title)));
$("pg-net").addEventListener("change", async () => {
  const carried = Object.fromEntries(state.fields.map((input) => [input.name, input.value]));
  setPlaying(false);
  await useNetwork(shapes.find((s) => s.key === $("pg-net").value), carried);
  state.step = 0;
  edited();
});
$("pg-form").addEventListener("input", (event) => {
  if (!event.target.dataset.sliderFor) edited();
});
$("pg-show").addEventListener("change", () => { showStep(); saveHash(); });
$("pg-pick").addEventListener("change", showStep);
$("pg-diagram").addEventListener("click", (event) => {
  const picked = event.target.closest("[data-pick]");
  if (!picked) return;
  $("pg-pick").value = picked.dataset.pick;
  showStep();
});
$("pg-step").addEventListener("input", () => { state.step = Number($("pg-step").value); showStep(); });
$("pg-step").addEventListener("change", saveHash);
$("pg-log").addEventListener("change", () => {
  chart.draw(state.runs, state.steps, $("pg-log").checked, state.model.network.loss);
  showStep();
  saveHash();
});
$("pg-play").addEventListener("click", () => {
  if (!state.playing && state.step >= state.steps) state.step = 0;
  setPlaying(!state.playing);
});
$("pg-reset").addEventListener("click", () => {
  for (const input of state.fields) input.value = input.dataset.default;
  edited();
});
window.addEventListener("hashchange", async () => {
  await openHash();
  $("pg-net").value = state.shape.key;
});
// Drawings follow their holder's width.
new ResizeObserver(() => {
  if (!state.diagram || !state.runs.length) return;
  drawDiagram();
  showStep();
}).observe($("pg-diagram"));
new ResizeObserver(([entry]) => {
  chart.width = entry.contentRect.width;
  if (!state.runs.length) return;
  chart.draw(state.runs, state.steps, $("pg-log").checked, state.model.network.loss);
  showStep();
}).observe($("pg-chart"));

await openHash();
$("pg-net").value = state.shape.key;
saveHash();
root.dataset.ready = "true";
