// Connectivity (Distill's "Memorization in RNNs"): how strongly the selected unit at step t
// depends on each input x_s, ||dh_t[k]/dx_s||, as a 1×T strip on a sequential scale under the
// input, and the input's characters tinted the same way (POST /api/analysis/connectivity).

import { SEQUENTIAL, colorOf } from "../colors.js";
import { $ } from "../dom.js";
import { sci } from "../format.js";
import { baseFont, plotConfig, timeAxis, title, tokenNoun } from "../plots.js";
import { stepAt, tokenSpans } from "../tokens.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;

export class ConnectivityView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-connectivity");
    this.strip = $("conn-strip");
    this.text = $("conn-text");
    this.textKey = null;
    this.spans = [];
    this.log = $("conn-log");
    this.log.addEventListener("change", () => this.data && this.draw(this.data));
    this.text.addEventListener("click", (event) => {
      const t = stepAt(event, this.text);
      if (t !== null) intents.setStep(t);
    });
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const body = lab.body({ layer: lab.layer, unit: lab.unit, step: lab.step });
    await this.fetchAndDraw("/api/analysis/connectivity", body);
  }

  async draw(data) {
    this.data = data;
    const norms = data.norms;
    let top = 0;
    for (const v of norms) if (v > top) top = v;
    top = Math.max(top, 1e-30);
    // Log colors: log10 of the norm, from 8 decades below the largest (0 shows as the floor).
    const log = this.log.checked;
    const hi = Math.log10(top);
    const values = log ? norms.map((v) => (v > 0 ? Math.max(Math.log10(v), hi - 8) : hi - 8)) : norms;
    const [zmin, zmax] = log ? [hi - 8, hi] : [0, top];
    const trace = {
      type: "heatmap", z: [values], customdata: [norms], x: norms.map((_, s) => s), y: [""], zmin, zmax,
      colorscale: SEQUENTIAL,
      colorbar: { title: { text: log ? "log<sub>10</sub> norm" : "norm", side: "right" }, thickness: 14, len: 1.1 },
      hovertemplate: `s = %{x}<br>‖∂h<sub>${data.step}</sub>[${data.unit}]/∂x<sub>s</sub>‖ = %{customdata:.3e}<extra></extra>`,
    };
    const layout = {
      title: title(`How much unit ${data.unit} (layer ${data.layer}) at t = ${data.step} depends on each input x_s`),
      font: baseFont(), height: 200, margin: { l: 24, r: 16, t: 48, b: 56 },
      xaxis: { ...timeAxis(data.steps, data.tokens), title: { text: data.tokens ? `input ${tokenNoun(data.tokens)} s` : "input step s" } },
      yaxis: { showticklabels: false, ticks: "" },
      shapes: [{ type: "rect", xref: "x", yref: "paper", x0: data.step - 0.5, x1: data.step + 0.5, y0: 0, y1: 1,
        line: { color: "#fff", width: 3 } }],
    };
    await Plotly.react(this.strip, [trace], layout, plotConfig("gatescope-lab-connectivity"));
    const textKey = `${this.lab.inputKey()}`;
    if (textKey !== this.textKey || this.spans.length !== data.steps) {
      this.textKey = textKey;
      this.spans = tokenSpans(this.text, data.steps, data.tokens);
    }
    const range = { scale: SEQUENTIAL, zmin, zmax };
    this.spans.forEach((span, s) => {
      const c = colorOf(values[s], range);
      span.style.background = c.css;
      span.style.color = c.light ? "#fff" : "#111";
      span.classList.toggle("cursor", s === data.step);
      span.title = `s = ${s}: ${sci(norms[s])}`;
    });
  }
}
