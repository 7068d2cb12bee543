// Gate saturation (Karpathy, Johnson & Fei-Fei 2015): one scatter per sigmoid gate, each unit a
// point at (fraction of steps < 0.1, fraction > 0.9), colored by layer. Clicking a unit opens it
// in the main view (POST /api/analysis/saturation).

import { $, el } from "../dom.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
const LAYER_COLORS = ["#1f4e9c", "#e07b00", "#2a9d8f", "#b8336a"];
const GATE_NAMES = {
  i: "input gate i", f: "forget gate f", o: "output gate o", r: "reset gate r", z: "update gate z",
};

export class SaturationView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-saturation");
    this.box = $("sat-plots");
    this.source = $("sat-source");
    this.divs = new Map();
    this.source.addEventListener("change", () => intents.change({ src: this.source.value }));
  }

  body() {
    const task = this.lab.knobs.src === "task" && this.lab.model.task;
    const body = this.lab.body({ source: task ? "task" : "input" });
    if (task) {
      delete body.text;
      delete body.inputs;
    }
    return body;
  }

  async refresh() {
    const model = this.lab.model;
    if (!model) return;
    const taskOption = this.source.querySelector("option[value=task]");
    taskOption.disabled = !model.task;
    this.source.value = model.task ? this.lab.knobs.src : "input";
    if (model.arch === "rnn") {
      this.forget();
      this.clear();
      this.status.error("A plain RNN has no gates, so nothing saturates: pick an LSTM or a GRU.");
      return;
    }
    let body;
    try {
      body = this.body();
    } catch (err) {
      this.status.error(err.message);
      return;
    }
    await this.fetchAndDraw("/api/analysis/saturation", body, {
      suffix: (data) => (data.source === "task"
        ? ` · over ${data.sequences} held-out sequences of the task (${data.steps} steps)`
        : ` · over this input (${data.steps} steps)`),
    });
  }

  clear() {
    for (const div of this.divs.values()) Plotly.purge(div);
    this.divs.clear();
    this.box.replaceChildren();
  }

  /** A plot per gate; the same gates as before are updated in place (Plotly.react). */
  async draw(data) {
    const gates = Object.keys(data.layers[0] ?? {});
    if ([...this.divs.keys()].join() !== gates.join()) {
      this.clear();
      for (const gate of gates) {
        const div = el("div", "plot sat-plot");
        div.dataset.gate = gate;
        this.box.append(div);
        this.divs.set(gate, div);
      }
    }
    const many = data.layers.length > 1;
    await Promise.all(gates.map((gate) => {
      const traces = [{
        type: "scatter", mode: "lines", x: [0, 1], y: [1, 0], hoverinfo: "skip", showlegend: false,
        line: { color: "#8c959f", width: 1.5, dash: "dot" },
      }];
      data.layers.forEach((layer, l) => {
        const s = layer[gate];
        traces.push({
          type: "scatter", mode: "markers", name: `layer ${l}`, x: s.left, y: s.right,
          customdata: s.left.map((_, unit) => unit),
          marker: { color: LAYER_COLORS[l % LAYER_COLORS.length], size: 11, opacity: 0.8,
            line: { color: "#fff", width: 1 } },
          hovertemplate: `layer ${l}, unit %{customdata}<br>shut (&lt; ${data.low}): %{x:.3f}` +
            `<br>open (&gt; ${data.high}): %{y:.3f}<br>click to open in the main view<extra></extra>`,
        });
      });
      const axis = (text) => ({ title: { text }, range: [-0.03, 1.03], dtick: 0.25, zeroline: false, automargin: true });
      const layout = {
        title: title(`${GATE_NAMES[gate] ?? gate}`), font: baseFont(), height: 400,
        margin: { l: 64, r: 12, t: 48, b: 56 },
        xaxis: axis(`fraction of steps < ${data.low} (shut)`),
        yaxis: { ...axis(`fraction > ${data.high} (open)`), scaleanchor: "x" },
        showlegend: many, legend: { orientation: "h", x: 0, y: -0.22, yanchor: "top" },
        annotations: [{
          text: "always saturated", x: 0.62, y: 0.44, showarrow: false, textangle: -45,
          font: { size: 12, color: "#8c959f" },
        }],
        hovermode: "closest",
      };
      const div = this.divs.get(gate);
      return Plotly.react(div, traces, layout, plotConfig(`gatescope-lab-saturation-${gate}`)).then(() => {
        if (div.dataset.wired) return;
        div.dataset.wired = "1";
        div.on("plotly_click", (event) => {
          const point = event.points.find((p) => p.customdata !== undefined);
          if (!point) return;
          this.intents.openMain({ unit: point.customdata, layer: point.curveNumber - 1 });
        });
      });
    }));
  }
}
