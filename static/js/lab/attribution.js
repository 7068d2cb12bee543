// Attribution per step (issue 11): gradient × input or integrated gradients of the main view's
// objective (POST /api/analysis/attribution), summed per step and shown on the text on a
// diverging scale (red raised L, blue lowered it), as bars, and the completeness check printed.

import { DIVERGING, colorOf } from "../colors.js";
import { $, el } from "../dom.js";
import { fmt, sci, tokenLabel } from "../format.js";
import { baseFont, plotConfig, timeAxis, title } from "../plots.js";
import { tokenSpans } from "../tokens.js";
import { objectiveLabel } from "./objective.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
const METHODS = { ig: "integrated_gradients", gxi: "gradient_x_input" };

/** Attributions span decades: 4 significant digits, a true minus sign, a plus for positives. */
export function signed(value) {
  const text = Math.abs(value) >= 1e-3 || value === 0 ? fmt(value, 4) : sci(value, 3);
  return value > 0 ? `+${text}` : text;
}

export class AttributionView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-attribution");
    this.form = $("at-form");
    this.text = $("at-text");
    this.sums = $("at-sums");
    this.plot = $("at-plot");
    this.form.addEventListener("change", () => intents.change({
      atm: this.form.elements.method.value, ats: this.form.elements.steps.value,
    }));
    this.form.addEventListener("submit", (event) => event.preventDefault());
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const method = METHODS[lab.knobs.atm] ? lab.knobs.atm : "ig";
    this.form.elements.method.value = method;
    this.form.elements.steps.value = lab.knobs.ats;
    this.form.elements.steps.closest("label").hidden = method !== "ig";
    const objective = lab.objective;
    $("at-objective").textContent = `L = ${objectiveLabel(objective)} (the main view's objective)`;
    const extra = { objective, method: METHODS[method] };
    if (method === "ig") extra.steps = Math.max(1, Math.min(256, Number(lab.knobs.ats) || 16));
    await this.fetchAndDraw("/api/analysis/attribution", lab.body(extra), {
      suffix: (data) => ` · ${data.method === "integrated_gradients" ? `${data.integration_steps} nodes` : "gradient × input"} on the ${data.input} rows`,
    });
  }

  async draw(data) {
    const perStep = data.per_step;
    // The response's "steps" is the number of integration nodes for integrated gradients (it
    // overwrites the header's sequence length): the sequence length is per_step's.
    const steps = perStep.length;
    let top = 1e-12;
    for (const v of perStep) top = Math.max(top, Math.abs(v));
    const range = { scale: DIVERGING, zmin: -top, zmax: top };
    const spans = tokenSpans(this.text, steps, data.tokens);
    spans.forEach((span, t) => {
      const c = colorOf(perStep[t], range);
      span.style.background = c.css;
      span.style.color = c.light ? "#fff" : "#111";
      span.dataset.value = signed(perStep[t]);
      span.title = `t = ${t}${data.tokens ? ` ‘${tokenLabel(data.tokens[t])}’` : ""}: ${signed(perStep[t])}`;
    });
    let total = 0;
    for (const v of perStep) total += v;
    const difference = data.objective_value - data.baseline_value;
    const cell = (q, text) => {
      const span = el("span", "num", text);
      span.dataset.q = q;
      return span;
    };
    this.sums.replaceChildren(
      "Σ attribution = ", cell("sum", signed(total)),
      " · L(x) − L(baseline) = ", cell("objective", signed(data.objective_value)), " − ",
      cell("baseline", signed(data.baseline_value)), " = ", cell("difference", signed(difference)),
      " · completeness error (relative) ", cell("completeness", sci(data.completeness_error)),
      data.method === "gradient_x_input" ? " (gradient × input need not be complete)" : "",
    );
    const x = perStep.map((_, t) => t);
    await Plotly.react(this.plot, [{
      type: "bar", x, y: perStep, marker: { color: perStep.map((v) => colorOf(v, range).css), line: { color: "#555", width: 0.5 } },
      hovertemplate: "t = %{x}<br>attribution %{y:.4g}<extra></extra>",
    }], {
      title: title(`Attribution per step of L = ${objectiveLabel(this.lab.objective)}`), font: baseFont(), height: 320,
      margin: { l: 72, r: 16, t: 52, b: 56 }, xaxis: timeAxis(steps, data.tokens),
      yaxis: { title: { text: "attribution (sum over the row)" }, automargin: true, zeroline: true },
    }, plotConfig("gatescope-lab-attribution"));
  }
}
