// Compare: the same input through two or three models (say LSTM vs GRU vs RNN) side by side, each
// with its parameter count, its hidden-state heatmap and its gradient norms, on the page's one
// shared cursor. All use L = ½‖h_T‖² so the gradients are comparable across models.

import { postJSON } from "./api.js";
import { rangeFor } from "./colors.js";
import { $, el } from "./dom.js";
import { count, fmt, num, sci } from "./format.js";
import { Latest } from "./latest.js";
import { compatible } from "./models.js";
import { sizeText } from "./sizes.js";
import { CursorOverlay, wrapPlot } from "./cursor.js";
import { extent, logTicks } from "./lab/logaxis.js";
import { norm } from "./numbers.js";
import { baseFont, plotConfig, purge, timeAxis, title } from "./plots.js";
import { TraceData } from "./trace.js";
import { CellDiagram } from "./diagram.js";
import { GateCompare } from "./gatecompare.js";

const Plotly = window.Plotly;

/** How many character labels fit under a plot in ``col`` (about 16 px each). */
/** The plot area's width in a column's plots (margins and the colorbar off), for timeAxis. */
function labelRoom(col) {
  return col.clientWidth - 110;
}

/** The live page's tracer: POST /api/trace. */
const postTrace = (model, body) => postJSON("/api/trace", body);

/** The top layer's ‖dL/dh_t‖ per step, a gap (null) where it is 0 (a log axis cannot show it). */
function gradNorms(data) {
  return data.layers.at(-1).gradNorm.hidden.map((v) => (v > 0 ? v : null));
}

/** A log y axis spanning ``values`` (every column's), with its ticks: the columns share it. */
function sharedLogRange(values) {
  const positive = values.filter((v) => v !== null && v > 0);
  if (!positive.length) return {};
  const [lo, hi] = extent([positive]);
  const pad = Math.max(0.05, (Math.log10(hi) - Math.log10(lo)) * 0.05);
  return { ...logTicks(positive), range: [Math.log10(lo) - pad, Math.log10(hi) + pad], autorange: false };
}

export class CompareView {
  /** ``trace(model, body)``: the POST /api/trace answer for ``body`` (a saved file's come from it). */
  constructor({ onChange, trace = postTrace }) {
    this.trace = trace;
    this.grid = $("compare-grid");
    this.status = $("compare-status");
    this.selects = [$("compare-a"), $("compare-b")];
    this.columns = [];
    this.latest = new Latest();
    this.unit = 0;
    this.gates = new GateCompare();
    this.selects.forEach((s) => s.addEventListener("change", () => onChange(this.selected())));
  }

  selected() {
    return [...new Set(this.selects.map((s) => s.value).filter(Boolean))];
  }

  setOptions(models, primary, chosen) {
    const options = compatible(models, primary);
    this.selects.forEach((select, k) => {
      select.replaceChildren(new Option("—", ""), ...options.map((m) => new Option(`${m.name} (${m.arch.toUpperCase()})`, m.id)));
      select.value = options.some((m) => m.id === chosen[k]) ? chosen[k] : "";
    });
  }

  /** Empty the grid (an answer still in flight is dropped). */
  clear(message) {
    this.latest.drop();
    this.columns.forEach((c) => c.divs.forEach(purge));
    this.columns = [];
    this.gates.clear();
    this.grid.replaceChildren();
    this.status.textContent = message ?? "";
  }

  /**
   * Trace ``payload`` through the primary model and the chosen ones, and draw the columns. The
   * objective is the task loss when every model was trained on the same task and the page uses
   * it; otherwise ½‖h_T‖², which every model has.
   */
  async show(models, payload, t, objective, unit = 0) {
    this.unit = unit;
    const sameTask = objective === "task" && models.every((m) => m.task && m.task === models[0].task);
    const obj = sameTask ? "task" : "hidden_norm";
    if (models.length < 2) {
      this.clear("pick a model to compare with");
      return;
    }
    this.status.textContent = "tracing…";
    const results = await this.latest.settle(Promise.all(models.map((m) =>
      this.trace(m, { model: m.id, ...payload, objective: obj })
        .then((response) => ({ model: m, data: TraceData.fromResponse(m, response) }))
        .catch((err) => ({ model: m, error: err.message })))));
    if (!results) return; // a newer comparison started meanwhile
    this.clear(sameTask
      ? `L = each model's ${models[0].task} task loss`
      : "L = ½‖h_T‖² for every model, so the gradients compare");
    this.grid.style.setProperty("--columns", String(results.length));
    // One y range for every column's gradient plot, so side by side they read on one scale.
    const norms = results.filter((r) => r.data).flatMap((r) => gradNorms(r.data));
    this.columns = results.map((r) => this.column(r, t, norms));
    this.gates.show(this.columns.filter((c) => c.data), t, this.unit);
    this.setCursor(t);
  }

  column({ model, data, error }, t, allNorms) {
    const col = el("article", "compare-col");
    col.dataset.model = model.id;
    col.append(el("h3", "compare-name", model.name));
    const meta = el("p", "compare-meta");
    meta.append(
      el("span", "arch", model.arch.toUpperCase()),
      ` · ${sizeText(model)} units · ${model.num_layers} layer${model.num_layers > 1 ? "s" : ""} · `,
      el("strong", "params", `${count(model.params)} parameters`),
    );
    col.append(meta);
    this.grid.append(col);
    if (error) {
      col.append(el("p", "error", error));
      return { col, divs: [], data: null };
    }
    const top = data.layers.length - 1;
    const readout = el("p", "compare-readout");
    col.append(readout);
    // The cell diagram of this model, on the same input and cursor (LSTM and GRU side by side).
    const figure = el("figure", "diagram-wrap");
    const holder = el("div", "diagram");
    holder.dataset.testid = "compare-diagram";
    figure.append(holder);
    col.append(figure);
    const diagram = new CellDiagram(holder);
    diagram.build(data, top);
    const heat = wrapPlot(col);
    const grad = wrapPlot(col);
    const rows = data.rows(top, "hidden");
    const hiddenKind = data.quantities.at(-1).kind;
    const range = rangeFor(hiddenKind, rows);
    const font = baseFont();
    Plotly.newPlot(heat, [{
      type: "heatmap", z: rows, colorscale: range.scale, zmin: range.zmin, zmax: range.zmax,
      colorbar: { thickness: 12 }, hovertemplate: "h: %{z:.4f}<br>t = %{x}, unit %{y}<extra></extra>",
    }], {
      title: title(`hidden state h_t${data.layers.length > 1 ? ` (top layer ${top})` : ""}`),
      font, height: 230, margin: { l: 56, r: 10, t: 40, b: 48 },
      xaxis: timeAxis(data.steps, data.tokens, labelRoom(col)),
      yaxis: { title: { text: "unit" }, automargin: true, range: [rows.length - 0.5, -0.5], showgrid: false, zeroline: false },
    }, plotConfig(`gatescope-${model.id}-hidden`));
    const norms = gradNorms(data);
    Plotly.newPlot(grad, [{
      type: "scatter", mode: "lines", y: norms, line: { width: 2.5, color: "#1f4e9c" },
      hovertemplate: "‖dL/dh_t‖ = %{y:.3e}<br>t = %{x}<extra></extra>",
    }], {
      title: title("‖dL/dh_t‖, log scale, same y range in every column"), font, height: 230, margin: { l: 64, r: 10, t: 40, b: 48 },
      xaxis: timeAxis(data.steps, data.tokens, labelRoom(col)),
      yaxis: {
        type: "log", automargin: true, title: { text: "gradient norm" }, exponentformat: "power",
        ...sharedLogRange(allNorms),
      },
      showlegend: false,
    }, plotConfig(`gatescope-${model.id}-gradients`));
    const cursors = [new CursorOverlay(heat), new CursorOverlay(grad)];
    return { col, divs: [heat, grad], cursors, data, readout, top, diagram, model };
  }

  setCursor(t) {
    this.t = t;
    for (const c of this.columns) {
      if (!c.data) continue;
      const tt = Math.min(t, c.data.steps - 1);
      c.cursors.forEach((cursor) => cursor.setT(tt));
      const hNorm = norm(c.data.rows(c.top, "hidden").map((row) => row[tt]));
      const gradNorm = c.data.layers[c.top].gradNorm.hidden[tt];
      c.readout.textContent = `at t = ${tt}: ‖hₜ‖ = ${fmt(hNorm)}, ‖dL/dhₜ‖ = ${sci(gradNorm)}, loss ${num(c.data.loss)}`;
      c.diagram.update(tt, Math.min(this.unit, c.data.unitsOf(c.top) - 1));
    }
    this.gates.setCursor(t);
  }

  /** The page's selected unit: each column's diagram (clamped to its size) and the gate lines. */
  setUnit(unit) {
    this.unit = unit;
    for (const c of this.columns) {
      if (c.data) c.diagram.update(Math.min(this.t ?? 0, c.data.steps - 1), Math.min(unit, c.data.unitsOf(c.top) - 1));
    }
    this.gates.setUnit(unit);
  }
}
