// The network diagram, laid out in CSS pixels for the width it is given (1 unit = 1 px, so text
// keeps its size on a phone): each edge carries its weight's name and value (colour by sign,
// thickness by size) and, in a separate label, its gradient; each neuron its activation, each output its error.
// Labels are placed so that no two overlap: every label's room is measured for the widest text it
// can hold, and an edge whose labels find no free place on it goes without (the list has them).
import { short, WIDEST_SHORT } from "./numbers.js";
import { svg } from "./dom.js";

const WIDE = 560; // px: from here on, neurons are larger and further apart
const ALONG = [0.3, 0.38, 0.22, 0.62, 0.7, 0.78, 0.5]; // where on an edge its labels may sit
const LINE = 15; // px between the lines of text stacked by a neuron

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

export class Diagram {
  constructor(holder, shape, network) {
    this.holder = holder;
    this.shape = shape;
    this.network = network;
    this.width = 0;
  }

  // Draw for `width` px (again only when the width has changed); the weights left unlabelled.
  draw(width) {
    if (width === this.width) return this.hidden;
    this.width = width;
    const wide = width >= WIDE;
    const r = wide ? 26 : 20;
    const { columns, edges } = this.shape;
    const stacks = this.stacks();
    const tallest = Math.max(...columns.map((c) => c.length));
    const lines = (up) => Math.max(0, ...Object.values(stacks).filter((s) => s.up === up).map((s) => s.labels.length));
    const top = r + 8 + LINE * lines(true);
    const height = top + (tallest - 1) * (wide ? 150 : 130) + r + 8 + LINE * lines(false);
    const side = wide ? 60 : 44;
    const step = (width - 2 * side) / (columns.length - 1);
    const root = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, class: "pg-network", role: "img",
      "aria-label": "The network at the chosen step: weights on the edges, activations by the neurons",
    });
    this.holder.replaceChildren(root);
    const at = {};
    columns.forEach((column, c) => {
      const first = top + ((tallest - column.length) * (wide ? 150 : 130)) / 2;
      column.forEach((neuron, j) => { at[neuron.name] = { x: side + c * step, y: first + j * (wide ? 150 : 130) }; });
    });
    const room = this.measure(root);
    const taken = [];
    const edgeLayer = root.appendChild(svg("g"));
    this.edges = edges.map((edge) => {
      const a = at[edge.from];
      const b = at[edge.to];
      const length = Math.hypot(b.x - a.x, b.y - a.y);
      const [ux, uy] = [(b.x - a.x) / length, (b.y - a.y) / length];
      const line = edgeLayer.appendChild(svg("line", {
        x1: a.x + ux * r, y1: a.y + uy * r, x2: b.x - ux * r, y2: b.y - uy * r, class: "pg-edge",
        "data-pick": edge.weight,
      }));
      return { edge, line, a, b };
    });
    this.texts = [];
    for (const column of columns) {
      for (const neuron of column) {
        const { x, y } = at[neuron.name];
        root.append(svg("circle", { cx: x, cy: y, r, class: neuron.activation ? "pg-neuron" : "pg-input", "data-pick": neuron.name }));
        taken.push({ x: x - r, y: y - r, w: 2 * r, h: 2 * r });
        root.append(svg("text", { x, y: y + 5, class: "pg-name" }, neuron.name));
        // Away from the edges: above the upper neurons of a column, below the lower ones.
        const { up, labels } = stacks[neuron.name];
        labels.forEach(([kind, name, prefix], k) => {
          const baseline = up ? y - r - 6 - k * LINE : y + r + 14 + k * LINE;
          const box = { x: x - room[kind].w / 2, y: baseline + room[kind].dy, w: room[kind].w, h: room[kind].h };
          taken.push(box);
          const node = root.appendChild(svg("text", { x, y: baseline, class: `pg-${room[kind].style}`, "data-symbol": name }));
          this.texts.push([node, name, prefix]);
        });
      }
    }
    this.hidden = this.edges.filter((item) => !this.label(root, item, room, taken)).map((item) => item.edge.weight);
    return this.hidden;
  }

  // What each neuron shows beside it, nearest first: its activation (an input its value), an
  // output's error, a bias and, when trained, the bias's gradient.
  stacks() {
    const { network } = this;
    const errors = Object.fromEntries(this.shape.errors.map((e) => [e.output, e.name]));
    const stacks = {};
    for (const column of this.shape.columns) {
      column.forEach((neuron, j) => {
        const labels = [["activation", neuron.value, ""]];
        if (errors[neuron.name]) labels.push(["error", errors[neuron.name], `${errors[neuron.name]} `]);
        if (neuron.bias) {
          labels.push(["bias", neuron.bias, `${neuron.biasLabel ?? neuron.bias} `]);
          const gradient = network.gradients[neuron.bias];
          if (network.trained.includes(neuron.bias)) labels.push(["gradient", gradient, "∇ "]);
        }
        stacks[neuron.name] = { up: column.length > 1 && j < column.length / 2, labels };
      });
    }
    return stacks;
  }

  // Width, height and baseline offset of the widest text each kind of label can hold.
  measure(root) {
    const probes = {
      activation: ["value", WIDEST_SHORT],
      error: ["value", `E8 ${WIDEST_SHORT}`],
      weight: ["weight", `w88 ${WIDEST_SHORT}`],
      bias: ["weight", `b88 ${WIDEST_SHORT}`],
      gradient: ["gradient", `∇ ${WIDEST_SHORT}`],
    };
    const room = {};
    for (const [kind, [style, text]] of Object.entries(probes)) {
      const probe = root.appendChild(svg("text", { x: 0, y: 0, class: `pg-${style}` }, text));
      const box = probe.getBBox();
      room[kind] = { w: box.width + 4, h: box.height, dy: box.y, style };
      probe.remove();
    }
    return room;
  }

  // An edge's value label on the line and its gradient label under it, at the first place along
  // the edge where neither touches a label or neuron already placed; false when there is none.
  label(root, item, room, taken) {
    const { edge, a, b } = item;
    for (const t of ALONG) {
      const x = a.x + t * (b.x - a.x);
      const y = a.y + t * (b.y - a.y);
      const valueBox = { x: x - room.weight.w / 2, y: y + 4 + room.weight.dy, w: room.weight.w, h: room.weight.h };
      const gradientBox = { x: x - room.gradient.w / 2, y: y + 19 + room.gradient.dy, w: room.gradient.w, h: room.gradient.h };
      if (taken.some((box) => overlaps(box, valueBox) || overlaps(box, gradientBox))) continue;
      taken.push(valueBox, gradientBox);
      // A plate in the page's background under each label: a thick edge (a large weight) would
      // otherwise show through its own label's letters, red on red.
      for (const box of [valueBox, gradientBox]) {
        root.appendChild(svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 3, class: "pg-plate", "data-pick": edge.weight }));
      }
      const gradient = this.network.gradients[edge.weight];
      item.value = root.appendChild(svg("text", { x, y: y + 4, class: "pg-weight", "data-symbol": edge.weight, "data-pick": edge.weight }));
      item.gradient = root.appendChild(svg("text", { x, y: y + 19, class: "pg-gradient", "data-symbol": gradient, "data-pick": edge.weight }));
      this.texts.push([item.value, edge.weight, `${edge.weight} `], [item.gradient, gradient, "∇ "]);
      return true;
    }
    return false;
  }

  // Write the values of `row` (name -> number) on the drawing.
  show(row) {
    for (const { edge, line } of this.edges) {
      const w = row[edge.weight];
      line.classList.toggle("pg-negative", w < 0);
      line.style.strokeWidth = String(1 + 1.6 * Math.min(Math.abs(w), 4));
    }
    for (const [node, name, prefix] of this.texts) {
      const value = row[name];
      node.textContent = prefix + short(value);
      node.dataset.value = String(value);
      node.classList.toggle("pg-negative", node.classList.contains("pg-weight") && value < 0);
    }
  }
}
