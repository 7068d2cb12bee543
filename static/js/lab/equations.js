// Equations: the seed's cell equations verbatim beside torch.nn's, both with the selected unit's
// numbers at the chosen step plugged in (POST /api/analysis/equations). For a GRU three columns:
// torch's, Cho et al. (2014)'s and the seed's (Chung et al. 2014's), three cells on the same
// weights, evaluated on the same x_t and h_{t−1}; POST /api/analysis/gru-variants shows how far
// their runs drift apart.

import { $, el } from "../dom.js";
import { factor, fmt, tokenLabel } from "../format.js";
import { equationRow, math, note } from "../mathtext.js";
import { Latest } from "../latest.js";
import { baseFont, plotConfig, timeAxis, title } from "../plots.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;

// The seed's equations, word for word (it omits biases and the LSTM candidate's name).
const SEED = {
  lstm: {
    f: "f_t = σ(W_f x_t + U_f h_{t−1})",
    i: "i_t = σ(W_i x_t + U_i h_{t−1})",
    o: "o_t = σ(W_o x_t + U_o h_{t−1})",
    c: "C_t = f_t * C_{t−1} + i_t * tanh(…)",
    h: "h_t = o_t * tanh(C_t)",
  },
  gru: {
    z: "z_t = σ(W_z x_t + U_z h_{t−1})",
    r: "r_t = σ(W_r x_t + U_r h_{t−1})",
    n: "h\u0303_t = tanh(W x_t + U (r_t * h_{t−1}))",
    h: "h_t = (1 − z_t) * h_{t−1} + z_t * h\u0303_t",
  },
};

const TORCH_GATE = (g, act) => `${g}_t = ${act}(W_i${g} x_t + b_i${g} + W_h${g} h_{t−1} + b_h${g})`;

function affineNumbers(terms, g, act) {
  return `${act}(${fmt(terms[`Wx_${g}`])} + ${factor(terms[`Uh_${g}`])}) = ${act}(${fmt(terms[`a_${g}`])})`;
}

function column(heading, className) {
  const col = el("div", `eq-col ${className}`);
  col.append(el("h3", null, heading));
  return col;
}

export class EquationsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-equations");
    this.box = $("eq-columns");
    this.diffWrap = $("eq-diff-wrap");
    this.diffDiv = $("eq-diff");
    this.latestDiff = new Latest();
    this.diffKey = null;
    this.diff = null;
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const body = lab.body({ layer: lab.layer, unit: lab.unit, step: lab.step });
    await this.fetchAndDraw("/api/analysis/equations", body, {
      // For a GRU, the two variants' drift (its own request) loads meanwhile.
      alongside: () => (lab.model.arch === "gru" ? this.loadDiff() : this.hideDiff()),
    });
  }

  draw(data) {
    const k = data.unit;
    const where = el("p", "eq-where");
    const token = data.tokens ? ` (‘${tokenLabel(data.tokens[data.step])}’)` : "";
    where.append(...math(`Unit ${k} of layer ${data.layer} at t = ${data.step}${token}.`));
    const nodes = [where];
    if (data.arch === "lstm") nodes.push(this.lstm(data.terms.lstm));
    else if (data.arch === "gru") nodes.push(...this.gru(data.terms, data.gru_variant));
    else nodes.push(this.rnn(data.terms));
    if (data.layer > 0) nodes.push(note(`Layer ${data.layer}: x_t is the hidden state h_t of layer ${data.layer - 1}.`));
    this.box.replaceChildren(...nodes);
  }

  lstm(t) {
    const grid = el("div", "eq-grid");
    const seed = column("The seed writes", "seed");
    const torch = column("torch.nn.LSTM computes", "torch");
    seed.append(note("No biases in the seed; the numbers include torch's, so W_f x_t stands for W_if x_t + b_if " +
      "and U_f h_{t−1} for W_hf h_{t−1} + b_hf."));
    torch.append(note("Gate order i, f, g, o; ⊙ is elementwise, as the seed's *."));
    for (const g of ["f", "i", "o"]) {
      seed.append(equationRow(`seed-${g}`, SEED.lstm[g], affineNumbers(t, g, "σ"), fmt(t[g])));
    }
    seed.append(equationRow("seed-c", SEED.lstm.c,
      `${factor(t.f)} × ${factor(t.c_prev)} + ${factor(t.i)} × tanh(${fmt(t.a_g)})`, fmt(t.c)));
    seed.append(equationRow("seed-h", SEED.lstm.h, `${factor(t.o)} × tanh(${fmt(t.c)})`, fmt(t.h)));
    seed.append(note("The seed's tanh(…) is torch's candidate g_t."));
    for (const [g, act] of [["i", "σ"], ["f", "σ"], ["g", "tanh"], ["o", "σ"]]) {
      torch.append(equationRow(`torch-${g}`, TORCH_GATE(g, act), affineNumbers(t, g, act), fmt(t[g])));
    }
    torch.append(equationRow("torch-c", "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t",
      `${factor(t.f)} × ${factor(t.c_prev)} + ${factor(t.i)} × ${factor(t.g)}`, fmt(t.c)));
    torch.append(equationRow("torch-h", "h_t = o_t ⊙ tanh(c_t)",
      `${factor(t.o)} × ${factor(t.tanh_c)}`, fmt(t.h)));
    grid.append(seed, torch);
    return grid;
  }

  /**
   * Three columns on the same x_t and h_{t−1}: torch.nn.GRU (reset after W_hn, z keeps h_{t−1}),
   * Cho et al. 2014 (reset before W_hn, z keeps h_{t−1}) and the seed's, which is Chung et al.
   * 2014's and colah's (reset before W_hn, z takes the candidate).
   */
  gru(terms, variant) {
    const tt = terms.torch;
    const cho = terms.cho;
    const chung = terms.chung;
    const grid = el("div", "eq-grid eq-grid-3");
    const runs = (name) => (variant === name ? " · this run" : "");
    const torch = column(`torch.nn.GRU computes${runs("torch")}`, "torch");
    const choCol = column(`Cho et al. 2014${runs("cho")}`, "cho");
    const seed = column(`The seed writes: Chung et al. 2014${runs("chung")}`, "seed");
    torch.append(note("Gate order r, z, n; the reset gate multiplies W_hn h_{t−1} + b_hn, after the matrix; " +
      "z_t keeps the old state. Keras' GRU(reset_after=True)."));
    choCol.append(note("arXiv 1406.1078v3 eq. 7–8: the reset gate acts before the matrix, and z_t keeps the old " +
      "state. Keras' GRU(reset_after=False)."));
    seed.append(note("Reset before the matrix, as Cho's, but z_t weights the candidate (Chung et al. 2014, " +
      "colah's post). No biases in the seed; the numbers include torch's."));
    for (const g of ["z", "r"]) torch.append(equationRow(`torch-${g}`, TORCH_GATE(g, "σ"), affineNumbers(tt, g, "σ"), fmt(tt[g])));
    torch.append(equationRow("torch-n", "n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))",
      `tanh(${fmt(tt.Wx_n)} + ${factor(tt.r)} × ${factor(tt.Uh_n)})`, fmt(tt.n)));
    torch.append(equationRow("torch-h", "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}",
      `(1 − ${fmt(tt.z)}) × ${factor(tt.n)} + ${factor(tt.z)} × ${factor(tt.h_prev)}`, fmt(tt.h)));
    for (const g of ["z", "r"]) choCol.append(equationRow(`cho-${g}`, TORCH_GATE(g, "σ"), affineNumbers(cho, g, "σ"), fmt(cho[g])));
    choCol.append(equationRow("cho-n", "h\u0303_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t−1}) + b_hn)",
      `tanh(${fmt(cho.Wx_n)} + ${factor(cho.Uh_n)})`, fmt(cho.n)));
    choCol.append(equationRow("cho-h", "h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h\u0303_t",
      `${factor(cho.z)} × ${factor(cho.h_prev)} + (1 − ${fmt(cho.z)}) × ${factor(cho.n)}`, fmt(cho.h)));
    for (const g of ["z", "r"]) seed.append(equationRow(`seed-${g}`, SEED.gru[g], affineNumbers(chung, g, "σ"), fmt(chung[g])));
    seed.append(equationRow("seed-n", SEED.gru.n, `tanh(${fmt(chung.Wx_n)} + ${factor(chung.Uh_n)})`, fmt(chung.n)));
    seed.append(equationRow("seed-h", SEED.gru.h,
      `(1 − ${fmt(chung.z)}) × ${factor(chung.h_prev)} + ${factor(chung.z)} × ${factor(chung.n)}`, fmt(chung.h)));
    grid.append(torch, choCol, seed);
    for (const row of grid.querySelectorAll('[data-eq$="-n"], [data-eq$="-h"]')) row.classList.add("differs");
    const summary = el("p", "eq-summary");
    summary.dataset.testid = "eq-summary";
    const from = { torch: "torch", cho: "Cho", chung: "seed's" }[variant] ?? "torch";
    summary.append(...math(
      `Same weights, same x_t and h_{t−1} = ${fmt(tt.h_prev)} (from the ${from} run): the reset gate acts after ` +
      `W_hn in torch and before it in the other two; z_t keeps h_{t−1} in torch and Cho's but weights the ` +
      `candidate in the seed's, so h_t = ${fmt(tt.h)} (torch), ${fmt(cho.h)} (Cho), ${fmt(chung.h)} (seed).`));
    return [grid, summary];
  }

  rnn(terms) {
    const [act, t] = Object.entries(terms)[0];
    const grid = el("div", "eq-grid");
    const seed = column("The seed writes", "seed");
    seed.append(note("Nothing: the seed compares LSTM and GRU only, with no equation for the plain RNN."));
    const torch = column(`torch.nn.RNN (${act}) computes`, "torch");
    torch.append(equationRow("torch-h", `h_t = ${act}(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)`,
      `${act}(${fmt(t.Wx)} + ${factor(t.Uh)}) = ${act}(${fmt(t.a)})`, fmt(t.h)));
    torch.append(note("No gate: the gradient through time is multiplied by W_hh and the slope of the nonlinearity at every step."));
    grid.append(seed, torch);
    return grid;
  }

  hideDiff() {
    this.diffWrap.hidden = true;
    this.diffKey = null;
  }

  /** ||h_torch − h_cho|| per step for this layer: once per model, input and layer. */
  async loadDiff() {
    const lab = this.lab;
    this.diffWrap.hidden = false;
    const body = lab.body({});
    delete body.gru_variant;
    const key = JSON.stringify(body) + lab.layer;
    if (key !== this.diffKey) {
      let data;
      try {
        data = await this.latestDiff.post("/api/analysis/gru-variants", body);
      } catch (err) {
        this.status.error(err.message);
        return;
      }
      if (!data) return;
      this.diffKey = key;
      this.diff = data;
    }
    const data = this.diff;
    const layer = data.layers[Math.min(lab.layer, data.layers.length - 1)];
    const k = lab.unit;
    const x = layer.difference.map((_, t) => t);
    const traces = [
      { type: "scatter", mode: "lines", name: "‖h<sub>t</sub>(torch) − h<sub>t</sub>(Cho)‖, all units", x, y: layer.difference,
        line: { color: "#444", width: 3 }, hovertemplate: "t = %{x}<br>‖difference‖ = %{y:.3f}<extra></extra>" },
      { type: "scatter", mode: "lines", name: "‖h<sub>t</sub>(torch) − h<sub>t</sub>(seed)‖", x, y: layer.chung_difference,
        line: { color: "#b5651d", width: 3, dash: "dot" }, hovertemplate: "t = %{x}<br>‖difference‖ = %{y:.3f}<extra></extra>" },
      { type: "scatter", mode: "lines", name: `unit ${k}, torch`, x, y: layer.torch_hidden.map((h) => h[k]),
        line: { color: "#2a9d8f", width: 2 }, hovertemplate: `t = %{x}<br>h<sub>t</sub>[${k}] torch = %{y:.3f}<extra></extra>` },
      { type: "scatter", mode: "lines", name: `unit ${k}, Cho`, x, y: layer.cho_hidden.map((h) => h[k]),
        line: { color: "#8d5fd3", width: 2, dash: "dash" }, hovertemplate: `t = %{x}<br>h<sub>t</sub>[${k}] Cho = %{y:.3f}<extra></extra>` },
    ];
    const layout = {
      title: title(`The three GRUs on the same weights and input, layer ${lab.layer}`), font: baseFont(), height: 400,
      margin: { l: 64, r: 16, t: 52, b: 110 },
      xaxis: timeAxis(data.steps, data.tokens),
      yaxis: { title: { text: "hidden state / distance" }, zeroline: true, automargin: true },
      legend: { orientation: "h", x: 0, y: -0.32, yanchor: "top" },
      shapes: [{ type: "line", xref: "x", yref: "paper", x0: lab.step, x1: lab.step, y0: 0, y1: 1,
        line: { color: "#111", width: 2 } }],
      uirevision: key,
    };
    await Plotly.react(this.diffDiv, traces, layout, plotConfig("gatescope-lab-gru-variants"));
  }
}
