// E_total against step, one line per learning rate, with real ticks on both axes, a linear or
// logarithmic error axis, a marker at the chosen step and the legend outside the plot (in HTML).
import { short } from "./numbers.js";
import { svg } from "./dom.js";

const PAD = { left: 64, right: 14, top: 12, bottom: 42 };

// About `count` round ticks (1, 2 or 5 times a power of ten) from low to high.
export function ticks(low, high, count) {
  const rough = (high - low) / count || 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const first = Math.ceil(low / step - 1e-9);
  const out = [];
  for (let k = first; k * step <= high + step * 1e-9; k += 1) out.push(Number((k * step).toPrecision(12)));
  return out;
}

// A run's polyline: per pixel column its lowest and highest E_total, in step order (one point
// where they are within half a pixel), so a 10,000-step line costs no more than the plot is wide.
function polyline(run, loss, perPixel, x, y, log) {
  const { data, width } = run;
  const column = run.column[loss];
  const at = (s) => data[s * width + column];
  const out = [];
  const add = (s) => {
    const e = at(s);
    if (Number.isFinite(e) && (!log || e > 0)) out.push(`${Math.round(x(s) * 10) / 10},${Math.round(y(e) * 10) / 10}`);
  };
  for (let start = 0; start < run.length; start += perPixel) {
    const end = Math.min(run.length, start + perPixel);
    let low = start;
    let high = start;
    for (let s = start + 1; s < end; s += 1) {
      if (at(s) < at(low)) low = s;
      if (at(s) > at(high)) high = s;
    }
    if (Math.abs(y(at(low)) - y(at(high))) < 0.5) add(start);
    else for (const s of low < high ? [low, high] : [high, low]) add(s);
  }
  return out.join(" ");
}

// The smallest and largest E_total of the runs that can be drawn (above 0 on a log axis).
function extent(runs, loss, log) {
  let low = Infinity;
  let high = -Infinity;
  for (const run of runs) {
    const column = run.column[loss];
    for (let at = column; at < run.length * run.width; at += run.width) {
      const e = run.data[at];
      if (Number.isFinite(e) && (!log || e > 0)) {
        if (e < low) low = e;
        if (e > high) high = e;
      }
    }
  }
  return [low, high];
}

export class Chart {
  constructor(holder, legend) {
    this.holder = holder;
    this.legend = legend;
  }

  draw(runs, steps, log, loss) {
    const width = Math.max(280, this.width ?? this.holder.clientWidth);
    const height = width < 560 ? 240 : 300;
    const plotWidth = width - PAD.left - PAD.right;
    this.loss = loss;
    const [smallest, largest] = extent(runs, loss, log);
    if (!(smallest <= largest)) {
      this.holder.replaceChildren(Object.assign(document.createElement("p"), { textContent: "No finite error to draw." }));
      this.marker = null;
      return;
    }
    let low = log ? Math.floor(Math.log10(smallest)) : 0;
    let high = log ? Math.ceil(Math.log10(largest)) : largest;
    if (high <= low) high = low + 1;
    const value = log ? (e) => Math.log10(e) : (e) => e;
    this.x = (s) => PAD.left + (s / steps) * plotWidth;
    this.y = (e) => height - PAD.bottom - ((value(e) - low) / (high - low)) * (height - PAD.top - PAD.bottom);
    const root = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, class: "pg-plot", role: "img",
      "aria-label": `Total error per step${log ? " (logarithmic axis)" : ""}, one line per learning rate`,
    });
    const grid = root.appendChild(svg("g", { class: "pg-grid" }));
    const yTicks = log ? ticks(low, high, 6).filter(Number.isInteger) : ticks(0, high, 5);
    for (const tick of yTicks) {
      const y = this.y(log ? 10 ** tick : tick);
      grid.append(svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y }));
      root.append(svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, log ? `1e${tick}`.replace("-", "−") : short(tick)));
    }
    for (const tick of ticks(0, steps, Math.max(2, Math.floor(plotWidth / 90)))) {
      const x = this.x(tick);
      grid.append(svg("line", { x1: x, x2: x, y1: PAD.top, y2: height - PAD.bottom }));
      root.append(svg("text", { x, y: height - PAD.bottom + 16, "text-anchor": "middle" }, String(tick)));
    }
    root.append(
      svg("line", { x1: PAD.left, x2: width - PAD.right, y1: height - PAD.bottom, y2: height - PAD.bottom, class: "pg-axis" }),
      svg("line", { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: height - PAD.bottom, class: "pg-axis" }),
      svg("text", { x: PAD.left + plotWidth / 2, y: height - 6, "text-anchor": "middle" }, "step"),
      this.axisName(16, (height - PAD.bottom + PAD.top) / 2, log),
    );
    const perPixel = Math.max(1, Math.floor(steps / plotWidth));
    runs.forEach((run, k) => {
      root.append(svg("polyline", { points: polyline(run, loss, perPixel, this.x, this.y, log), class: `pg-line pg-c${k}` }));
    });
    this.cursor = root.appendChild(svg("line", { y1: PAD.top, y2: height - PAD.bottom, class: "pg-cursor" }));
    this.marker = root.appendChild(svg("circle", { r: 5, class: "pg-marker" }));
    this.log = log;
    this.holder.replaceChildren(root);
  }

  // "E_total" (with its subscript) along the error axis.
  axisName(x, y, log) {
    const name = svg("text", { x, y, "text-anchor": "middle", transform: `rotate(-90 ${x} ${y})` }, "E");
    name.append(svg("tspan", { "baseline-shift": "sub", class: "pg-sub" }, "total"));
    if (log) name.append(svg("tspan", {}, " (log)"));
    return name;
  }

  // Follow `step` of `run` (its colour index `k`).
  mark(run, k, step) {
    if (!this.marker || !run) return;
    const s = Math.min(step, run.length - 1);
    const e = run.value(s, this.loss);
    const x = this.x(s);
    this.cursor.setAttribute("x1", x);
    this.cursor.setAttribute("x2", x);
    const visible = Number.isFinite(e) && (!this.log || e > 0);
    this.marker.setAttribute("cx", x);
    this.marker.setAttribute("cy", visible ? this.y(e) : -10);
    this.marker.setAttribute("class", `pg-marker pg-c${k}`);
  }

  // The legend: each rate's colour, and what happened to its run.
  showLegend(runs, chosen) {
    this.legend.replaceChildren(...runs.map((run, k) => {
      const item = document.createElement("li");
      if (run === chosen) item.setAttribute("aria-current", "true");
      const swatch = item.appendChild(document.createElement("span"));
      swatch.className = `pg-swatch pg-c${k}`;
      swatch.setAttribute("aria-hidden", "true");
      const note = run.diverged ? `, not finite from step ${run.diverged.step}`
        : run.stalled ? `, stalled from step ${run.stalled.step}` : "";
      item.append(`lr ${run.lr}${note}`);
      return item;
    }));
  }
}
