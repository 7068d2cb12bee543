// Gradient flow: ||dL/dh_t|| and ||dh_{T−1}/dh_t||_F against distance T−1−t for RNN, LSTM and
// GRU built from one seed and run on one input (POST /api/analysis/vanishing), the slope of
// log10 of each per model as a number, and the knobs: length, W_hh's spectral radius, the LSTM
// forget bias, the RNN nonlinearity, clipping.

import { $, el } from "../dom.js";
import { count, fmt } from "../format.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { decadeAxis, extent } from "./logaxis.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;

export const ARCHS = {
  rnn: { name: "RNN", color: "#d1495b" },
  lstm: { name: "LSTM", color: "#1f4e9c" },
  gru: { name: "GRU (torch)", color: "#2a9d8f" },
  gru_cho: { name: "GRU (Cho 2014)", color: "#8d5fd3" },
  gru_chung: { name: "GRU (seed's, Chung 2014)", color: "#b5651d" },
};

const PRESETS = {
  vanish: { scale: "", clip: "", fb: "", nl: "tanh" },
  explode: { scale: "3", clip: "1", fb: "", nl: "tanh" },
};

export class GradientFlowView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-gradients");
    this.form = $("gf-form");
    this.gradDiv = $("gf-grad");
    this.jacDiv = $("gf-jac");
    this.tbody = document.querySelector("#gf-slopes tbody");
    this.showKnobs();
    // Typing a number fires once per key: recompute shortly after the last one.
    const changed = () => intents.change(this.formKnobs(), { after: 300 });
    this.form.addEventListener("input", changed);
    this.form.addEventListener("change", changed);
    this.form.addEventListener("submit", (event) => event.preventDefault());
    for (const button of this.form.querySelectorAll("[data-preset]")) {
      button.addEventListener("click", () => intents.change(PRESETS[button.dataset.preset]));
    }
  }

  /** The knobs as the URL state has them. A field is written only where it differs, so what the
   * user is typing (and reported) is left alone. */
  showKnobs() {
    const s = this.lab.knobs;
    const f = this.form.elements;
    const archs = s.gf.split(",");
    for (const box of this.form.querySelectorAll("input[name=arch]")) box.checked = archs.includes(box.value);
    const fields = [[f.steps, s.T], [f.hidden_size, s.H], [f.scale, s.scale], [f.forget_bias, s.fb],
      [f.nonlinearity, s.nl], [f.seed, s.seed]];
    if (s.clip !== "") fields.push([f.clip, s.clip]);
    for (const [field, value] of fields) if (field.value !== value) field.value = value;
    f.clip_on.checked = s.clip !== "";
  }

  /** The knobs as the form shows them, in the URL state's keys. */
  formKnobs() {
    const f = this.form.elements;
    return {
      gf: [...this.form.querySelectorAll("input[name=arch]:checked")].map((b) => b.value).join(","),
      T: f.steps.value,
      H: f.hidden_size.value,
      scale: f.scale.value,
      fb: f.forget_bias.value,
      nl: f.nonlinearity.value,
      seed: f.seed.value,
      clip: f.clip_on.checked ? f.clip.value : "",
    };
  }

  body() {
    const s = this.lab.knobs;
    const body = {
      archs: s.gf.split(",").filter(Boolean),
      steps: Number(s.T),
      hidden_size: Number(s.H),
      seed: Number(s.seed),
      nonlinearity: s.nl,
    };
    if (s.scale !== "") body.scale = Number(s.scale);
    if (s.fb !== "") body.forget_bias = Number(s.fb);
    if (s.clip !== "") body.clip = Number(s.clip);
    return body;
  }

  async refresh() {
    this.showKnobs();
    const body = this.body();
    if (!body.archs.length) {
      this.forget();
      this.status.error("tick at least one cell");
      return;
    }
    // One request for every cell: split per cell, the server's threads fight over the GIL and
    // the whole takes longer on two cores.
    await this.fetchAndDraw("/api/analysis/vanishing", body, {
      suffix: (data) => ` · T = ${data.steps}, H = ${body.hidden_size}`,
    });
  }

  async draw(data) {
    const steps = data.steps;
    const distance = Array.from({ length: steps }, (_, t) => steps - 1 - t);
    const grad = [];
    const jac = [];
    for (const [arch, r] of Object.entries(data.archs)) {
      const { name, color } = ARCHS[arch];
      const hover = (what) => `${name}<br>${what} = 10<sup>%{y:.2f}</sup><br>T−1−t = %{x}<extra></extra>`;
      grad.push({
        type: "scatter", mode: "lines", name, x: distance, y: r.grad_log10,
        line: { color, width: 3 }, hovertemplate: hover("‖dL/dh<sub>t</sub>‖"),
      });
      if (r.clipped_log10) {
        grad.push({
          type: "scatter", mode: "lines", name: `${name}, clipped to ${data.clip}`, x: distance, y: r.clipped_log10,
          line: { color, width: 2.5, dash: "dash" }, hovertemplate: hover("clipped ‖dL/dh<sub>t</sub>‖"),
        });
      }
      jac.push({
        type: "scatter", mode: "lines", name, x: distance, y: r.jacobian_log10,
        line: { color, width: 3 }, hovertemplate: hover("‖dh<sub>T−1</sub>/dh<sub>t</sub>‖<sub>F</sub>"),
      });
    }
    const xaxis = { title: { text: "distance T−1−t (steps back from the end)" }, zeroline: false, automargin: true };
    const layout = (text, ys, ytitle) => {
      const [lo, hi] = extent(ys);
      return {
        title: title(text), font: baseFont(), height: 480,
        margin: { l: 70, r: 16, t: 52, b: 110 }, xaxis, yaxis: decadeAxis(lo, hi, ytitle),
        legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top" },
        uirevision: "gf",
      };
    };
    await Promise.all([
      Plotly.react(this.gradDiv, grad, layout("Gradient of the loss, ‖dL/dh_t‖", grad.map((g) => g.y), "‖dL/dh<sub>t</sub>‖ (log scale)"),
        plotConfig("gatescope-lab-grad")),
      Plotly.react(this.jacDiv, jac, layout("Jacobian norm, ‖dh_{T−1}/dh_t‖_F", jac.map((g) => g.y), "Frobenius norm (log scale)"),
        plotConfig("gatescope-lab-jacobian")),
    ]);
    this.table(data);
  }

  table(data) {
    const clipped = data.clip !== null;
    this.section.querySelector("#gf-slopes").classList.toggle("no-clip", !clipped);
    const rows = Object.entries(data.archs).map(([arch, r]) => {
      const tr = el("tr");
      tr.dataset.arch = arch;
      const cell = (text, q, cls) => {
        const td = el("td", cls, text);
        if (q) td.dataset.q = q;
        tr.append(td);
      };
      const th = el("th");
      th.scope = "row";
      const swatch = el("span", "swatch");
      swatch.style.background = ARCHS[arch].color;
      th.append(swatch, ARCHS[arch].name);
      tr.append(th);
      // The slope (tested against the API at display precision), then the factor it means per step.
      const slope = (value, q, cls) => {
        const td = el("td", cls);
        const num = el("span", "slope", fmt(value));
        num.dataset.q = q;
        td.append(num);
        if (value !== null) td.append(el("span", "per-step", ` ×${fmt(10 ** value)} per step`));
        tr.append(td);
      };
      slope(r.grad_slope, "grad_slope");
      slope(r.jacobian_slope, "jacobian_slope");
      if (clipped) slope(r.clipped_slope, "clipped_slope", "clip-col");
      else cell("", "clipped_slope", "clip-col");
      cell(r.spectral_radius.map((v) => fmt(v, 2)).join(", "), "radius");
      cell(count(r.params), "params");
      return tr;
    });
    this.tbody.replaceChildren(...rows);
  }
}
