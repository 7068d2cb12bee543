// Units that mean something (issue 11; Karpathy, Johnson & Fei-Fei 2015): every unit's Pearson
// correlation with a per-character feature (POST /api/analysis/units), the strongest as signed
// bars; clicking a bar opens that unit in the main view.

import { $ } from "../dom.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { quantities } from "./interventions.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
const FEATURES = {
  quotes: "inside quotes", brackets: "inside brackets", line_position: "position in the line",
  indentation: "indentation depth", nesting: "nesting depth",
};

export class UnitsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-units");
    this.form = $("un-form");
    this.plot = $("un-plot");
    this.form.addEventListener("change", () => intents.change({
      uf: this.form.elements.feature.value, urx: this.form.elements.regex.value,
      uq: this.form.elements.quantity.value, us: this.form.elements.source.value,
    }));
    this.form.addEventListener("submit", (event) => event.preventDefault());
  }

  async refresh() {
    const lab = this.lab;
    const model = lab.model;
    if (!model || !lab.input) return;
    const f = this.form.elements;
    if (this.arch !== model.arch) {
      this.arch = model.arch;
      f.quantity.replaceChildren(...quantities(model.arch).map((q) => new Option(q, q)));
    }
    const knobs = lab.knobs;
    f.feature.value = knobs.uf in FEATURES || knobs.uf === "regex" ? knobs.uf : "quotes";
    f.regex.value = knobs.urx;
    f.regex.closest("label").hidden = f.feature.value !== "regex";
    f.quantity.value = quantities(model.arch).includes(knobs.uq) ? knobs.uq : "hidden";
    f.source.querySelector("option[value=task]").disabled = !model.task;
    f.source.value = model.task && knobs.us === "task" ? "task" : "input";
    if (!model.vocab) {
      this.forget();
      Plotly.purge(this.plot);
      this.status.error("This model reads numbers: the units view reads text (a model with a vocabulary).");
      return;
    }
    const feature = f.feature.value === "regex" ? { regex: knobs.urx || "\\w+" } : f.feature.value;
    const body = { model: model.id, gru_variant: lab.variant, feature, quantity: f.quantity.value, top: 20 };
    if (f.source.value === "task") Object.assign(body, { source: "task", chars: 10000 });
    else body.text = lab.input.payload.text ?? (lab.input.tokens ?? []).join("");
    this.feature = typeof feature === "string" ? FEATURES[feature] : `inside /${feature.regex}/`;
    await this.fetchAndDraw("/api/analysis/units", body, {
      suffix: (data) => ` · over ${data.steps} characters; the feature's mean is ${data.feature_mean.toFixed(3)}`,
    });
  }

  async draw(data) {
    const many = (this.lab.model?.num_layers ?? 1) > 1;
    const labels = data.units.map((u) => (many ? `L${u.layer}·u${u.unit}` : `unit ${u.unit}`));
    const scores = data.units.map((u) => u.score);
    await Plotly.react(this.plot, [{
      type: "bar", x: labels, y: scores, customdata: data.units.map((u) => [u.layer, u.unit]),
      marker: { color: scores.map((s) => (s >= 0 ? "#b2182b" : "#2166ac")) },
      hovertemplate: "layer %{customdata[0]}, unit %{customdata[1]}<br>Pearson r = %{y:.3f}<br>click to open in the main view<extra></extra>",
    }], {
      title: title(`Units whose ${data.quantity} tracks “${this.feature}” (Pearson r; red rises with it, blue falls)`),
      font: baseFont(), height: 420, margin: { l: 72, r: 16, t: 52, b: 72 },
      xaxis: { title: { text: "unit, strongest |r| first" }, type: "category", automargin: true, tickangle: -45 },
      yaxis: { title: { text: "Pearson r with the feature" }, range: [-1, 1], zeroline: true, automargin: true },
    }, plotConfig("gatescope-lab-units"));
    if (!this.plot.dataset.wired) {
      this.plot.dataset.wired = "1";
      this.plot.on("plotly_click", (event) => {
        const [layer, unit] = event.points[0].customdata;
        this.intents.openMain({ unit, layer });
      });
    }
  }
}
