// Encoder -> decoder: start this model's run from the last state of another model's run (a
// seq2seq decoder starts from its encoder's final state). The user picks a model and its own
// input (or one of the compare columns, which run this input); the page runs it with POST
// /api/trace, takes its final hidden state (and cell, between LSTMs) in torch's (layers x
// directions, H) order, and sends them as h0 (c0). The page says which state it started from;
// the URL keeps from=<model> and fromin=<its input>. Text is set with textContent only.

import { postJSON } from "./api.js";
import { $, el } from "./dom.js";
import { InputError, parseRows } from "./input.js";
import { TraceData } from "./trace.js";
import { sequenceFor } from "./vocab.js";

/** The API's input for ``text`` typed for ``model`` (text, tokens or CSV rows). */
function sourcePayload(model, text) {
  if (model.vocab) {
    const parsed = sequenceFor(model, text);
    if (!parsed) throw new InputError(`give ${model.name} an input to start from`);
    return parsed.payload;
  }
  return { inputs: parseRows(text) };
}

export class InitialState {
  /** onChange({from, fromin}): the user chose a source (from null: zeros). */
  constructor({ onChange }) {
    this.panel = $("from-panel");
    this.select = $("from-model");
    this.input = $("from-input");
    this.compareBox = $("from-compare");
    this.note = $("from-note");
    this.models = [];
    this.cache = new Map(); // "model\0input" -> {h0, c0}
    this.currentInput = () => "";
    $("from-apply").addEventListener("click", () => {
      const from = this.select.value || null;
      onChange({ from, fromin: from ? this.input.value : null });
    });
    $("from-clear").addEventListener("click", () => onChange({ from: null, fromin: null }));
    this.compareBox.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-model]");
      if (button) onChange({ from: button.dataset.model, fromin: this.currentInput() });
    });
    this.select.addEventListener("change", () => {
      if (!this.input.value) this.input.value = this.currentInput();
    });
  }

  /** The models to start from, the current one, the compare columns and the URL's choice. */
  setOptions(models, current, compareIds, { from, fromin }) {
    this.models = models;
    const options = [new Option("(zeros: the default)", "")];
    for (const m of models) if (m.id !== current.id) options.push(new Option(m.name, m.id));
    this.select.replaceChildren(...options);
    this.select.value = from ?? "";
    this.input.value = fromin ?? "";
    const buttons = compareIds.map((id) => models.find((m) => m.id === id)).filter(Boolean).map((m) => {
      const button = el("button", "from-compare", `${m.name} on this input`);
      button.type = "button";
      button.dataset.model = m.id;
      return button;
    });
    this.compareBox.replaceChildren(...buttons);
    this.compareBox.closest(".from-compare-row").hidden = !buttons.length;
    if (from) this.panel.open = true;
  }

  /** {h0, c0} from ``from``'s run on ``fromin`` (cached), or null to start from zeros. */
  async states(from, fromin) {
    if (!from) return null;
    const model = this.models.find((m) => m.id === from);
    if (!model) throw new InputError(`the model “${from}” to start from is not on this server`);
    const key = `${from}\u0000${fromin}`;
    if (!this.cache.has(key)) {
      const response = await postJSON("/api/trace", { model: from, ...sourcePayload(model, fromin ?? "") });
      this.cache.set(key, TraceData.fromResponse(model, response).finalStates());
    }
    return this.cache.get(key);
  }

  /** Say which state this run started from (or nothing, for zeros). */
  say(from, fromin, states, arch) {
    if (!from || !states) {
      this.note.hidden = true;
      this.note.textContent = "";
      return;
    }
    const model = this.models.find((m) => m.id === from);
    const what = states.c0 && arch === "lstm" ? "h0 and c0" : "h0";
    this.note.textContent = `Started from the last state of ${model?.name ?? from} on “${fromin}” (${what}), not from zeros.`;
    this.note.hidden = false;
  }
}
