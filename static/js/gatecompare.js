// Gates side by side in compare: one gate role per architecture (the LSTM's forget gate f or input
// gate i, the GRU's update gate z or 1 − z, ...) for every compared model on one time axis, for
// the selected unit (lines) or for all units (heatmaps), and their difference where the hidden
// sizes agree. In torch's GRU z keeps the old state, so z is the closest kin of the LSTM's f.

import { rangeFor } from "./colors.js";
import { ARCH_STYLE } from "./colors.js";
import { CursorOverlay, wrapPlot } from "./cursor.js";
import { $, el } from "./dom.js";
import { baseFont, plotConfig, purge, timeAxis, title } from "./plots.js";

const Plotly = window.Plotly;

/** The roles a model's gates can play: key -> {label, rows(data, layer)}. */
export const ROLES = {
  lstm: {
    f: { label: "forget gate f_t", gate: "f" },
    i: { label: "input gate i_t", gate: "i" },
    o: { label: "output gate o_t", gate: "o" },
  },
  gru: {
    z: { label: "update gate z_t", gate: "z" },
    "1-z": { label: "1 − z_t", gate: "z", flip: true },
    r: { label: "reset gate r_t", gate: "r" },
  },
};

/** The role's values as units x time rows. */
export function roleRows(data, layer, roleKey) {
  const role = ROLES[data.arch]?.[roleKey];
  if (!role) return null;
  const rows = data.rows(layer, role.gate);
  return role.flip ? rows.map((row) => row.map((v) => (v === null ? null : 1 - v))) : rows;
}

export class GateCompare {
  constructor() {
    this.box = $("gate-compare");
    this.plots = $("gate-plots");
    this.selects = { lstm: $("role-lstm"), gru: $("role-gru"), view: $("role-view") };
    this.columns = [];
    this.divs = [];
    this.cursors = [];
    this.t = 0;
    this.unit = 0;
    for (const s of Object.values(this.selects)) s.addEventListener("change", () => this.draw());
  }

  /** ``columns``: [{model, data}] from the compare view. */
  show(columns, t, unit) {
    this.columns = columns.filter((c) => c.data && ROLES[c.data.arch]);
    this.t = t;
    this.unit = unit;
    this.box.hidden = this.columns.length === 0;
    this.draw();
  }

  clear() {
    this.divs.forEach(purge);
    this.divs = [];
    this.cursors = [];
    this.plots.replaceChildren();
    this.box.hidden = true;
  }

  series() {
    return this.columns.map(({ model, data }) => {
      const role = this.selects[data.arch].value;
      const layer = data.layers.length - 1;
      return { model, data, role, label: ROLES[data.arch][role].label, rows: roleRows(data, layer, role) };
    });
  }

  draw() {
    this.divs.forEach(purge);
    this.plots.replaceChildren();
    this.divs = [];
    this.cursors = [];
    if (!this.columns.length) return;
    const series = this.series();
    const [a, b] = series;
    const diff = a && b && a.rows.length === b.rows.length && a.data.steps === b.data.steps
      ? a.rows.map((row, u) => row.map((v, t) => (v === null || b.rows[u][t] === null ? null : v - b.rows[u][t])))
      : null;
    const steps = Math.max(...series.map((s) => s.data.steps));
    const tokens = series[0].data.tokens;
    const font = baseFont();
    if (this.selects.view.value === "lines") {
      const div = wrapPlot(this.plots, "gate-lines");
      const traces = series.map((s) => ({
        type: "scatter", mode: "lines", name: `${s.model.name}: ${s.label}`.replace(/_t/g, "<sub>t</sub>"),
        y: s.rows[Math.min(this.unit, s.rows.length - 1)],
        line: { width: 3, color: ARCH_STYLE[s.data.arch]?.color, dash: ARCH_STYLE[s.data.arch]?.dash },
        hovertemplate: `${s.label.replace(/_t/g, "<sub>t</sub>")} = %{y:.3f}<br>t = %{x}<extra>${s.model.name}</extra>`,
      }));
      if (diff) {
        traces.push({
          type: "scatter", mode: "lines", name: "difference (first − second)", y: diff[Math.min(this.unit, diff.length - 1)],
          line: { width: 2, color: "#555", dash: "dot" }, hovertemplate: "difference = %{y:.3f}<br>t = %{x}<extra></extra>",
        });
      }
      Plotly.newPlot(div, traces, {
        title: title(`Gates side by side, unit ${this.unit}`), font, height: 340,
        margin: { l: 64, r: 16, t: 48, b: 48 },
        xaxis: timeAxis(steps, tokens, this.plots.clientWidth - 300),
        yaxis: { title: { text: "gate value" }, range: [diff ? -1.05 : -0.05, 1.05], automargin: true, zeroline: true },
        // The legend sits to the right of the plot area, never on an axis title or tick labels.
        legend: { x: 1.02, xanchor: "left", y: 1, yanchor: "top" },
      }, plotConfig("gatescope-compare-gates"));
      this.divs.push(div);
      this.cursors.push(new CursorOverlay(div));
    } else {
      const maps = series.map((s) => ({ name: `${s.model.name}: ${s.label}`, rows: s.rows, kind: "sigmoid", units: s.rows.length }));
      if (diff) maps.push({ name: "difference (first − second)", rows: diff, kind: "tanh", units: diff.length });
      const grid = el("div", "gate-heatmaps");
      grid.style.setProperty("--columns", String(maps.length));
      this.plots.append(grid);
      for (const m of maps) {
        const div = wrapPlot(grid);
        const range = rangeFor(m.kind);
        Plotly.newPlot(div, [{
          type: "heatmap", z: m.rows, colorscale: range.scale, zmin: range.zmin, zmax: range.zmax,
          colorbar: { thickness: 10 }, hovertemplate: "%{z:.3f}<br>t = %{x}, unit %{y}<extra></extra>",
        }], {
          title: title(m.name), font, height: 260, margin: { l: 56, r: 10, t: 44, b: 48 },
          xaxis: timeAxis(steps, tokens, grid.clientWidth / maps.length - 90),
          yaxis: { title: { text: "unit" }, automargin: true, range: [m.units - 0.5, -0.5], showgrid: false, zeroline: false },
        }, plotConfig("gatescope-compare-gate-heatmap"));
        this.divs.push(div);
        this.cursors.push(new CursorOverlay(div));
      }
    }
    this.setCursor(this.t);
  }

  setCursor(t) {
    this.t = t;
    this.cursors.forEach((c) => c.setT(t));
  }

  setUnit(unit) {
    if (unit === this.unit) return;
    this.unit = unit;
    if (this.selects.view.value === "lines" && this.columns.length) this.draw();
  }
}
