// Interventions (issue 11): clamp a gate or a state of some units over steps a <= t < b and let
// the network compute the rest (``interventions`` in POST /api/trace). The selected unit's run
// with the clamps over the original one, the difference, and the objective before and after.
// The clamps live in the URL as iv=<layer>,<quantity>,<unit unit ...>,<a>,<b>,<value>;...

import { $, el } from "../dom.js";
import { fmt, num } from "../format.js";
import { baseFont, plotConfig, timeAxis, title } from "../plots.js";
import { objectiveLabel } from "./objective.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
const GATES = { lstm: ["i", "f", "g", "o"], gru: ["r", "z", "n"], rnn: [] };
const NAMES = {
  i: "input gate i", f: "forget gate f", g: "candidate g", o: "output gate o",
  r: "reset gate r", z: "update gate z", n: "candidate n", hidden: "hidden state h", cell: "cell state c",
};
const ORIGINAL = "#8c959f";
const INTERVENED = "#c2410c";

/** The quantities a clamp can name for this arch: its gates, hidden, and cell for an LSTM. */
export function quantities(arch) {
  return [...(GATES[arch] ?? []), "hidden", ...(arch === "lstm" ? ["cell"] : [])];
}

/** iv= text -> [{layer, quantity, units, steps: [a, b], value}]; unreadable clamps are dropped. */
export function parseClamps(text) {
  const clamps = [];
  for (const part of (text || "").split(";")) {
    const f = part.split(",");
    if (f.length !== 6) continue;
    const units = f[2].split(/\s+/).filter(Boolean).map(Number);
    const [layer, a, b, value] = [f[0], f[3], f[4], f[5]].map(Number);
    if (!units.length || units.some((u) => !Number.isInteger(u) || u < 0)) continue;
    if (![layer, a, b].every(Number.isInteger) || !Number.isFinite(value)) continue;
    clamps.push({ layer, quantity: f[1], units, steps: [a, b], value });
  }
  return clamps;
}

export function clampsText(clamps) {
  return clamps.map((c) => [c.layer, c.quantity, c.units.join(" "), c.steps[0], c.steps[1], c.value].join(",")).join(";");
}

/**
 * The time axis and the value axis of both plots, with the tick labels standing off the corner:
 * the lowest value label is centred on the plot's bottom edge, and the first time label (t = 0 on a
 * long run) on its left edge, so without the standoff they collide there. The time labels move
 * down by half a line and the value labels left, so the two never meet.
 */
function axes(data, yTitle) {
  const font = baseFont();
  const xaxis = { ...timeAxis(data.steps, data.tokens, 560), ticklabelstandoff: Math.ceil(font.size / 2) };
  const yaxis = { title: { text: yTitle }, automargin: true, zeroline: true, ticklabelstandoff: 6 };
  return { font, xaxis, yaxis };
}

function describe(c) {
  const units = c.units.length === 1 ? `unit ${c.units[0]}` : `units ${c.units.join(", ")}`;
  return `layer ${c.layer} · ${c.quantity} of ${units} = ${fmt(c.value, 2)} over ${c.steps[0]} ≤ t < ${c.steps[1]}`;
}

export class InterventionsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-interventions");
    this.form = $("iv-form");
    this.show = $("iv-show");
    this.list = $("iv-clamps");
    this.loss = $("iv-loss");
    this.plot = $("iv-plot");
    this.diff = $("iv-diff");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.setClamps([this.formClamp()]);
    });
    this.form.querySelector("[data-action=add]").addEventListener("click", () => {
      this.setClamps([...parseClamps(this.lab.knobs.iv), this.formClamp()]);
    });
    this.form.querySelector("[data-preset=gate]").addEventListener("click", () => {
      const gate = GATES[this.lab.model.arch].includes(this.field("quantity")) ? this.field("quantity") : GATES[this.lab.model.arch][0];
      if (!gate) return;
      this.setClamps([this.formClamp({ quantity: gate, units: [this.lab.unit] })], gate);
    });
    this.form.querySelector("[data-preset=ablate]").addEventListener("click", () => {
      this.setClamps([this.formClamp({ quantity: "hidden", units: [this.lab.unit], value: 0 })], "hidden");
    });
    this.form.querySelector("[data-preset=hold]").addEventListener("click", () => {
      const units = [this.lab.unit];
      this.setClamps([
        this.formClamp({ quantity: "f", units, value: 1 }),
        this.formClamp({ quantity: "i", units, value: 0 }),
      ], "cell");
    });
    $("iv-clear").addEventListener("click", () => this.intents.change({ iv: "" }));
    this.show.addEventListener("change", () => this.intents.change({ ivs: this.show.value }));
  }

  field(name) {
    return this.form.elements[name].value.trim();
  }

  /** The clamp the form describes (empty fields: the selected unit, from 0 to the end), with ``patch``. */
  formClamp(patch = {}) {
    const steps = this.lab.input.steps;
    const units = this.field("units").split(/[\s,]+/).filter(Boolean).map(Number);
    const a = this.field("a") === "" ? 0 : Number(this.field("a"));
    const b = this.field("b") === "" ? steps : Number(this.field("b"));
    const value = this.field("value") === "" ? 0 : Number(this.field("value"));
    return { layer: this.lab.layer, quantity: this.field("quantity"), units: units.length ? units : [this.lab.unit],
      steps: [a, b], value, ...patch };
  }

  setClamps(clamps, shown) {
    this.intents.change({ iv: clampsText(clamps), ...(shown ? { ivs: shown } : {}) });
  }

  /** The form's and the Show menu's options for this arch (kept when the arch is the same). */
  syncForm(model) {
    const names = quantities(model.arch);
    if (this.arch !== model.arch) {
      this.arch = model.arch;
      const options = () => names.map((q) => el("option", null, NAMES[q] ?? q));
      this.form.elements.quantity.replaceChildren(...options());
      this.show.replaceChildren(...options());
      names.forEach((q, k) => {
        this.form.elements.quantity.options[k].value = q;
        this.show.options[k].value = q;
      });
      this.form.elements.quantity.value = names.includes("f") ? "f" : names[0];
    }
    this.form.querySelector("[data-preset=hold]").disabled = model.arch !== "lstm";
    this.form.querySelector("[data-preset=gate]").disabled = model.arch === "rnn";
    this.shown = names.includes(this.lab.knobs.ivs) ? this.lab.knobs.ivs : "hidden";
    this.show.value = this.shown;
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    this.syncForm(lab.model);
    this.clamps = parseClamps(lab.knobs.iv);
    this.list.replaceChildren(...(this.clamps.length
      ? this.clamps.map((c) => el("li", null, describe(c)))
      : [el("li", "none", "none: pick a clamp and Apply, or press a preset")]));
    $("iv-clear").disabled = !this.clamps.length;
    const base = lab.body({ objective: lab.objective });
    const requests = [["/api/trace", base]];
    if (this.clamps.length) requests.push(["/api/trace", { ...base, interventions: this.clamps }]);
    if (JSON.stringify(requests) === this.lastKey) {
      if (this.answers) await this.draw(this.answers); // only the unit or the quantity shown changed
      return;
    }
    this.answers = null;
    await this.fetchAllAndDraw(requests, { failed: () => this.loss.replaceChildren() });
  }

  series(data, quantity) {
    const layer = data.layers[this.lab.layer];
    const rows = quantity in layer.gates ? layer.gates[quantity] : layer[quantity];
    return rows.map((row) => row[this.lab.unit]);
  }

  async draw(answers) {
    this.answers = answers;
    const [original, intervened] = answers;
    const q = this.shown;
    const unit = this.lab.unit;
    const layer = this.lab.layer;
    const x = original.layers[0].hidden.map((_, t) => t);
    const before = this.series(original, q);
    const after = intervened ? this.series(intervened, q) : null;
    const label = `${NAMES[q] ?? q}, unit ${unit}${original.layers.length > 1 ? ` of layer ${layer}` : ""}`;
    const spans = this.clamps
      .filter((c) => c.layer === layer)
      .map((c) => ({
        type: "rect", xref: "x", yref: "paper", x0: c.steps[0] - 0.5, x1: c.steps[1] - 0.5, y0: 0, y1: 1,
        fillcolor: "rgba(194, 65, 12, 0.08)", line: { width: 0 }, layer: "below",
      }));
    const traces = [{
      type: "scatter", mode: "lines+markers", name: "original", x, y: before,
      line: { color: ORIGINAL, width: 2.5 }, marker: { size: 5 },
      hovertemplate: "t = %{x}<br>original: %{y:.4f}<extra></extra>",
    }];
    if (after) {
      traces.push({
        type: "scatter", mode: "lines+markers", name: "with the clamps", x, y: after,
        line: { color: INTERVENED, width: 2.5, dash: "dash" }, marker: { size: 5, symbol: "diamond" },
        hovertemplate: "t = %{x}<br>with the clamps: %{y:.4f}<extra></extra>",
      });
    }
    const layout = {
      title: title(`${label} (shaded: clamped steps)`), height: 380,
      margin: { l: 64, r: 16, t: 52, b: 56 }, ...axes(original, `${q} value`),
      legend: { orientation: "h", x: 1, y: 1.01, yanchor: "bottom", xanchor: "right" }, shapes: spans,
      hovermode: "x unified",
    };
    await Plotly.react(this.plot, traces, layout, plotConfig("gatescope-lab-intervention"));
    const difference = after ? after.map((v, t) => v - before[t]) : before.map(() => 0);
    await Plotly.react(this.diff, [{
      type: "bar", x, y: difference, marker: { color: difference.map((d) => (d >= 0 ? "#b2182b" : "#2166ac")) },
      hovertemplate: "t = %{x}<br>difference: %{y:.4f}<extra></extra>",
    }], {
      title: title(`Difference, with the clamps − original (${q})`), height: 380,
      margin: { l: 64, r: 16, t: 52, b: 56 }, ...axes(original, "difference"), shapes: spans,
    }, plotConfig("gatescope-lab-intervention-difference"));
    this.showLoss(original, intervened);
  }

  showLoss(original, intervened) {
    const what = `L = ${objectiveLabel(this.lab.objective)}`;
    const cell = (q, text) => {
      const span = el("span", "num", text);
      span.dataset.q = q;
      return span;
    };
    const parts = [`${what}: original `, cell("loss-original", num(original.loss))];
    if (intervened) {
      const delta = intervened.loss - original.loss;
      parts.push(" → with the clamps ", cell("loss-intervened", num(intervened.loss)),
        ` (change ${delta >= 0 ? "+" : ""}`, cell("loss-change", num(delta)), ")");
    }
    this.loss.replaceChildren(...parts);
  }
}
