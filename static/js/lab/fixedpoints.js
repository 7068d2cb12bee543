// Fixed and slow points (issue 11; Sussillo & Barak 2013): POST /api/analysis/fixed-points under a
// constant input, seeded from this input's trajectory, drawn on the trajectory's first two
// principal components (POST /api/analysis/projection): stable points filled, unstable ones open,
// time constants on hover and in the table; the trajectory colored by time with the cursor.

import { $, el } from "../dom.js";
import { fmt, sci, tokenLabel } from "../format.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { LabView } from "./request.js";
import { cursorTrace, pcTitle, stepLabels, timeTrace } from "./projection.js";

const Plotly = window.Plotly;

/** A state's coordinates on the projection's components: (h − mean) · component_k. */
export function projectState(hidden, data) {
  return data.components.map((row) => row.reduce((sum, w, j) => sum + w * (hidden[j] - data.mean[j]), 0));
}

function readsText(model) {
  return model.vocab && model.vocab.every((token) => [...token].length === 1);
}

function timeConstants(point) {
  const finite = point.time_constants.filter((tc) => tc !== null);
  return finite.slice(0, 4).map((tc) => fmt(tc, 2)).join(", ") + (finite.length > 4 ? ", …" : "");
}

export class FixedPointsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-fixedpoints");
    this.form = $("fp-form");
    this.plot = $("fp-plot");
    this.table = $("fp-table").querySelector("tbody");
    this.form.addEventListener("change", () => intents.change({
      fpx: this.form.elements.input.value, fpc: this.form.elements.count.value, fps: this.form.elements.seed.value,
    }));
    this.form.addEventListener("submit", (event) => event.preventDefault());
  }

  /** The constant input as the API takes it: one character, one token, or one row (zeros by default). */
  constant(model, text) {
    if (readsText(model)) {
      const ch = text ? [...text][0] : model.vocab.includes(" ") ? " " : model.vocab[0];
      return { text: ch, label: `‘${tokenLabel(ch)}’` };
    }
    if (model.vocab) {
      const token = text || model.vocab[0];
      return { tokens: [token], label: `‘${token}’` };
    }
    const row = text ? text.split(/[\s,]+/).filter(Boolean).map(Number) : new Array(model.input_size).fill(0);
    return { inputs: [row], label: text ? `[${row.join(", ")}]` : "zeros" };
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const knobs = lab.knobs;
    const model = lab.model;
    this.form.elements.input.value = knobs.fpx;
    this.form.elements.input.placeholder = this.constant(model, "").label;
    this.form.elements.count.value = knobs.fpc;
    this.form.elements.seed.value = knobs.fps;
    $("fp-hint").textContent = readsText(model) || model.vocab
      ? "one character or token; empty: a space (or the first token)"
      : `${model.input_size} numbers; empty: zeros`;
    const { label, ...constant } = this.constant(model, knobs.fpx);
    this.constantLabel = label;
    const projection = lab.body({ layer: lab.layer, components: 2 });
    const search = {
      model: model.id, gru_variant: lab.variant, ...constant, layer: lab.layer,
      count: Number(knobs.fpc) || 32, seed: Number(knobs.fps) || 0, trajectory: lab.input.payload,
    };
    const requests = [["/api/analysis/projection", projection], ["/api/analysis/fixed-points", search]];
    if (JSON.stringify(requests) === this.lastKey) {
      if (this.answers) await this.moveCursor();
      return;
    }
    this.answers = null;
    await this.fetchAllAndDraw(requests, {
      busy: "searching for fixed points…",
      suffix: ([, found]) => ` · ${found.points.length} point${found.points.length === 1 ? "" : "s"} from ${search.count} starts`,
    });
  }

  async draw(answers) {
    this.answers = answers;
    const [projection, found] = answers;
    const labels = stepLabels(projection.steps, projection.tokens);
    this.labels = labels;
    const t = Math.min(this.lab.step, projection.steps - 1);
    const xy = found.points.map((p) => projectState(p.hidden, projection));
    const traces = [timeTrace(projection.points, labels, 2, { name: "this input's trajectory" })];
    traces[0].marker.size = 6;
    traces[0].marker.colorbar.x = 1.02;
    for (const stable of [true, false]) {
      const idx = found.points.map((p, k) => k).filter((k) => found.points[k].stable === stable);
      traces.push({
        type: "scatter", mode: "markers", name: stable ? "stable fixed point" : "unstable fixed point",
        x: idx.map((k) => xy[k][0]), y: idx.map((k) => xy[k][1]), customdata: idx,
        text: idx.map((k) => {
          const p = found.points[k];
          const top = Math.hypot(...p.eigenvalues[0]);
          return `point ${k}, ${stable ? "stable" : "unstable"}<br>q(s) = ${sci(p.speed)}<br>max |λ| = ${fmt(top)}` +
            `<br>time constants: ${timeConstants(p)} steps`;
        }),
        marker: {
          // An open symbol is drawn in marker.color: both black, filled or open.
          size: 15, color: "#111", symbol: stable ? "circle" : "circle-open",
          line: { color: "#111", width: 2.5 },
        },
        hovertemplate: "%{text}<extra></extra>",
      });
    }
    traces.push(cursorTrace(projection.points[t], labels[t], 2));
    const axis = (k) => ({ title: { text: pcTitle(k, projection.explained_variance_ratio) }, zeroline: false, automargin: true });
    await Plotly.react(this.plot, traces, {
      title: title(`Fixed points under the constant input ${this.constantLabel}, layer ${found.layer}, on the trajectory's PCs`),
      font: baseFont(), height: 520, margin: { l: 64, r: 16, t: 52, b: 56 }, xaxis: axis(0), yaxis: axis(1),
      legend: { orientation: "h", x: 0, y: -0.16, yanchor: "top" }, hovermode: "closest",
    }, plotConfig("gatescope-lab-fixed-points"));
    this.table.replaceChildren(...found.points.map((p, k) => {
      const row = el("tr");
      row.dataset.point = String(k);
      const cells = [String(k), p.stable ? "stable" : "unstable", sci(p.speed), fmt(Math.hypot(...p.eigenvalues[0])),
        p.time_constants[0] === null ? "∞" : fmt(p.time_constants[0], 2)];
      for (const [q, text] of ["k", "stable", "speed", "radius", "tau"].map((q, j) => [q, cells[j]])) {
        const td = el("td", null, text);
        td.dataset.q = q;
        row.append(td);
      }
      return row;
    }));
  }

  async moveCursor() {
    const projection = this.answers[0];
    const t = Math.min(this.lab.step, projection.steps - 1);
    const p = projection.points[t];
    await Plotly.restyle(this.plot, { x: [[p[0]]], y: [[p[1]]], text: [[this.labels[t]]] }, [this.plot.data.length - 1]);
  }
}
