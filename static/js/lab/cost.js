// Parameters and cost: the seed's table (gates, memory cell, parameter count, computational
// cost, expressive flexibility), each word beside what torch measures on real modules of the
// sizes asked for (POST /api/analysis/cost). Nothing here is hard-coded but the seed's words.

import { $, el } from "../dom.js";
import { count, fmt } from "../format.js";
import { LabView } from "./request.js";

function bytes(n) {
  if (n >= 2 ** 20) return `${fmt(n / 2 ** 20, 2)} MiB`;
  if (n >= 2 ** 10) return `${fmt(n / 2 ** 10, 1)} KiB`;
  return `${n} B`;
}

/** One unit for every time in the table, so a row reads at a glance. */
function ms(value) {
  const us = value * 1000;
  return `${fmt(us, us < 100 ? 1 : 0)} µs`;
}

function ratio(value) {
  return value === null || value === undefined ? "–" : `${fmt(value, 2)}×`;
}

/** The form's fields, in the order of the URL's cost=I,H,layers,steps,batch. */
const SIZES = ["input_size", "hidden_size", "num_layers", "steps", "batch"];

export class CostView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-cost");
    this.form = $("cost-form");
    this.tbody = document.querySelector("#cost-table tbody");
    this.claim = $("cost-claim");
    this.showSizes();
    // The sizes go to the URL as they are typed; measuring waits for the button.
    const sizes = () => ({ cost: Object.values(this.body()).join(",") });
    this.form.addEventListener("input", () => intents.change(sizes(), { recompute: false }));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.forget(); // the times vary from run to run: the same sizes are measured again
      intents.change(sizes());
    });
  }

  /** The sizes the URL state names; a field it leaves out (or that already shows it) is left alone. */
  showSizes() {
    const sizes = this.lab.knobs.cost.split(",");
    SIZES.forEach((name, k) => {
      const field = this.form.elements[name];
      if (sizes[k] && field.value !== sizes[k]) field.value = sizes[k];
    });
  }

  body() {
    return Object.fromEntries(SIZES.map((name) => [name, Number(this.form.elements[name].value)]));
  }

  async refresh() {
    this.showSizes();
    const body = this.body();
    await this.fetchAndDraw("/api/analysis/cost", body, {
      busy: "measuring real modules… (about a second)",
      suffix: (data) => ` · torch ${data.torch_version}, ${data.torch_threads} thread${data.torch_threads > 1 ? "s" : ""}; ` +
        "times are medians of interleaved runs and vary from run to run",
    });
  }

  draw(data) {
    const a = data.archs;
    const r = data.ratios["gru/lstm"];
    const rows = [];
    const row = (key, label, cells, gruOverLstm = "") => {
      const tr = el("tr");
      tr.dataset.row = key;
      const th = el("th", null, label);
      th.scope = "row";
      tr.append(th);
      for (const [text, cls, q] of cells) {
        const td = el("td", cls);
        if (Array.isArray(text)) td.append(...text.map((line) => el("div", null, line)));
        else td.textContent = text;
        if (q) td.dataset.q = q;
        tr.append(td);
      }
      tr.append(el("td", "ratio", gruOverLstm));
      rows.push(tr);
    };
    const seed = (arch, key) => [a[arch].seed?.[key] ?? "", "seed"];
    const gates = (arch) => {
      const g = a[arch].gates;
      if (!g.sigmoid_gates.length) return "none (1 weight block)";
      return `${g.sigmoid_gates.length} sigmoid gates: ${g.sigmoid_gates.join(", ")} (+ candidate ${g.candidate}; ${g.weight_blocks} weight blocks)`;
    };
    row("gates", "Gates", [seed("lstm", "gates"), [gates("lstm")], seed("gru", "gates"), [gates("gru")], [gates("rnn")]]);
    const cell = (arch) => (a[arch].gates.memory_cell ? "Yes: cₜ beside hₜ" : "No: hₜ only");
    row("memory", "Separate memory cell", [
      seed("lstm", "separate_memory_cell"), [cell("lstm")], seed("gru", "separate_memory_cell"), [cell("gru")], [cell("rnn")],
    ]);
    const params = (arch) => {
      const f = a[arch].params_formula;
      return [[f.symbolic, f.numbers, `= ${count(f.value)}`, `torch: ${count(a[arch].params_torch)}`], "params", `params-${arch}`];
    };
    row("params", "Parameter count", [seed("lstm", "parameter_count"), params("lstm"), seed("gru", "parameter_count"),
      params("gru"), params("rnn")], ratio(r.params_torch));
    const timed = (arch, key, label) => [`${ms(a[arch][key])} ${label}`, "num", `${key}-${arch}`];
    row("forward", "Computational cost: inference", [seed("lstm", "computational_cost"),
      timed("lstm", "forward_ms_per_step", "per step"), seed("gru", "computational_cost"),
      timed("gru", "forward_ms_per_step", "per step"), timed("rnn", "forward_ms_per_step", "per step")],
    ratio(r.forward_ms_per_step));
    row("train", "Computational cost: training step", [seed("lstm", "computational_cost"),
      timed("lstm", "train_ms_per_step", "per step"), seed("gru", "computational_cost"),
      timed("gru", "train_ms_per_step", "per step"), timed("rnn", "train_ms_per_step", "per step")],
    ratio(r.train_ms_per_step));
    const memory = (arch) => [[`weights ${bytes(a[arch].param_bytes)}`,
      `saved for backward ${bytes(a[arch].activation_bytes)}`], "num", `memory-${arch}`];
    row("memory-bytes", "Memory (training step)", [["(not in the seed)", "seed"], memory("lstm"), ["(not in the seed)", "seed"],
      memory("gru"), memory("rnn")], ratio(r.activation_bytes));
    const notTimed = ["not a measurement: see the aⁿbⁿ models in the zoo", "muted"];
    row("flex", "Expressive flexibility", [seed("lstm", "expressive_flexibility"), notTimed,
      seed("gru", "expressive_flexibility"), notTimed, ["", "muted"]]);
    this.tbody.replaceChildren(...rows);

    const s = data.sizes;
    const t = r.train_ms_per_step;
    const verdict = t > 1 ? `${fmt(t, 2)}× the LSTM's time: slower here` : `${fmt(t, 2)}× the LSTM's time: faster here`;
    const lead = el("strong", null, "The seed says “GRU trains faster”. ");
    this.claim.replaceChildren(lead, `Measured at I = ${s.input_size}, H = ${s.hidden_size}, ${s.num_layers} layer` +
      `${s.num_layers > 1 ? "s" : ""}, batch ${s.batch}: a GRU training step takes ${verdict}` +
      ` (${ms(a.gru.train_ms_per_step)} vs ${ms(a.lstm.train_ms_per_step)} per step), with ${fmt(r.params_torch, 2)}× the parameters.` +
      (t > 1 ? " The GRU does less arithmetic (3 weight blocks to 4), but torch.nn.LSTM has a fused CPU kernel and the GRU does not." : ""));
  }
}

