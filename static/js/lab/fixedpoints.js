// Fixed and slow points (issue 11; Sussillo & Barak 2013): POST /api/analysis/fixed-points under a
// constant input, seeded from this input's trajectory (the search: fixedsearch.js), drawn on the
// trajectory's first two principal components (POST /api/analysis/projection): stable points
// filled, unstable ones open, time constants on hover and in the table; the trajectory colored by
// time with the cursor.

import { $, el } from "../dom.js";
import { fmt, sci } from "../format.js";
import { baseFont, plotConfig, title } from "../plots.js";
import {
  FIXED_POINTS_URL, constantHint, constantInput, fixedPointSearch, fixedPointTraces, forgetSearches, pointKind,
  rememberingPost, timeConstantText,
} from "./fixedsearch.js";
import { LabView } from "./request.js";
import { cursorTrace, pcTitle, stepLabels, timeTrace } from "./projection.js";

const Plotly = window.Plotly;

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

  forget() {
    super.forget();
    forgetSearches();
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const knobs = lab.knobs;
    const model = lab.model;
    this.form.elements.input.value = knobs.fpx;
    this.form.elements.input.placeholder = constantInput(model, "").label;
    this.form.elements.count.value = knobs.fpc;
    this.form.elements.seed.value = knobs.fps;
    $("fp-hint").textContent = constantHint(model);
    const search = fixedPointSearch(lab);
    this.constantLabel = search.label;
    const projection = lab.body({ layer: lab.layer, components: 2 });
    const requests = [["/api/analysis/projection", projection], [FIXED_POINTS_URL, search.body]];
    if (JSON.stringify(requests) === this.lastKey) {
      if (this.answers) await this.moveCursor();
      return;
    }
    this.answers = null;
    await this.fetchAllAndDraw(requests, {
      busy: "searching for fixed points…",
      post: rememberingPost,
      suffix: ([, found]) => ` · ${found.points.length} point${found.points.length === 1 ? "" : "s"} from ${search.count} starts`,
    });
  }

  async draw(answers) {
    this.answers = answers;
    const [projection, found] = answers;
    const labels = stepLabels(projection.steps, projection.tokens);
    this.labels = labels;
    const t = Math.min(this.lab.step, projection.steps - 1);
    const traces = [timeTrace(projection.points, labels, 2, { name: "this input's trajectory" })];
    traces[0].marker.size = 6;
    traces[0].marker.colorbar.x = 1.02;
    traces.push(...fixedPointTraces(found, projection, 2));
    traces.push(cursorTrace(projection.points[t], labels[t], 2));
    const axis = (k) => ({ title: { text: pcTitle(k, projection.explained_variance_ratio) }, zeroline: false, automargin: true });
    await Plotly.react(this.plot, traces, {
      title: title(`Fixed and slow points under the constant input ${this.constantLabel}, layer ${found.layer}, on the trajectory's PCs`),
      font: baseFont(), height: 520, margin: { l: 64, r: 16, t: 52, b: 56 }, xaxis: axis(0), yaxis: axis(1),
      legend: { orientation: "h", x: 0, y: -0.16, yanchor: "top" }, hovermode: "closest",
    }, plotConfig("gatescope-lab-fixed-points"));
    this.table.replaceChildren(...found.points.map((p, k) => {
      const row = el("tr");
      row.dataset.point = String(k);
      const cells = [String(k), pointKind(p).replace(" point", ""), p.stable ? "stable" : "unstable", sci(p.speed),
        fmt(Math.hypot(...p.eigenvalues[0])), timeConstantText(p.time_constants[0])];
      for (const [q, text] of ["k", "kind", "stable", "speed", "radius", "tau"].map((q, j) => [q, cells[j]])) {
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
