// The table of the steps around the chosen one (the chosen row highlighted) and the list of every
// value at the chosen step: built once per recomputation, then only their numbers change.
import { element } from "./dom.js";
import { long, named } from "./numbers.js";

const AROUND = 3; // rows shown before and after the chosen step

function write(node, value, text) {
  node.textContent = text;
  node.dataset.value = String(value);
}

export class Steps {
  constructor(holder, cue, list) {
    this.holder = holder;
    this.list = list;
    // The scroll cue shows while the table is wider than its holder.
    this.cue = new ResizeObserver(() => {
      cue.hidden = holder.scrollWidth <= holder.clientWidth + 1;
    });
  }

  build(network, steps) {
    const gradients = network.trained.map((p) => network.gradients[p]);
    this.names = ["step", ...network.trained, network.loss, ...gradients];
    const table = element("table", { id: "pg-rows", class: "pg-rows" });
    const head = table.appendChild(element("tr"));
    for (const name of this.names) head.append(element("th", { scope: "col" }, named(name)));
    for (let k = 0; k < Math.min(2 * AROUND + 1, steps + 1); k += 1) {
      const line = table.appendChild(element("tr"));
      for (const name of this.names) line.append(element(name === "step" ? "th" : "td", { "data-name": name }));
    }
    this.holder.replaceChildren(table);
    this.lines = [...table.rows].slice(1);
    this.cue.disconnect();
    this.cue.observe(table);
    this.cue.observe(this.holder);
    this.list.replaceChildren(...[...network.forward, ...gradients].map((name) => {
      const item = element("div");
      item.append(element("dt", {}, named(name)), element("dd", { "data-name": name }));
      return item;
    }));
  }

  // Show `step` of `run`, whose values at that step are `row`.
  show(run, step, row) {
    const first = Math.max(0, Math.min(step - AROUND, run.length - this.lines.length));
    this.lines.forEach((line, k) => {
      const s = first + k;
      line.hidden = s >= run.length;
      line.classList.toggle("pg-current", s === step);
      if (s === step) line.setAttribute("aria-current", "true");
      else line.removeAttribute("aria-current");
      this.names.forEach((name, j) => {
        const value = name === "step" ? s : run.value(s, name);
        write(line.cells[j], value, name === "step" ? String(s) : long(value));
      });
    });
    for (const dd of this.list.querySelectorAll("dd")) write(dd, row[dd.dataset.name], long(row[dd.dataset.name]));
  }
}
