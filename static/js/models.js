// Choosing a model: the select lists builtin, trained, uploaded, notebook (gatescope.show) and
// random models; "New model…" creates a fresh random one from a seed and sizes (POST /api/models;
// its id encodes them, so it survives a reload or a server restart).

import { getJSON, postJSON } from "./api.js";
import { $, el } from "./dom.js";
import { count, num } from "./format.js";
import { sizeText } from "./sizes.js";

const GROUPS = [
  ["builtin", "Shipped models"], ["trained", "Trained here"], ["upload", "Uploaded"],
  ["notebook", "From a notebook"], ["random", "Random (untrained)"],
];

/** Where a model's weights came from, when not torch (the record's "framework"). */
const FRAMEWORKS = { keras: "Keras", onnx: "ONNX" };

/** "LSTM · 29 → 64 · 2 layers · 50,432 parameters · next character, accuracy 0.61"; a Keras or
 * ONNX upload says so ("from Keras"), and so does a bidirectional model or one that reads right to left. */
export function describe(model) {
  const parts = [
    model.arch.toUpperCase() + (model.arch === "rnn" ? ` (${model.nonlinearity})` : ""),
    `${model.input_size} → ${sizeText(model)}`,
    `${model.num_layers} layer${model.num_layers > 1 ? "s" : ""}`,
    `${count(model.params)} parameters`,
  ];
  if (FRAMEWORKS[model.framework]) parts.push(`from ${FRAMEWORKS[model.framework]}`);
  if (model.bidirectional) parts.push("bidirectional");
  if (model.right_to_left) parts.push("reads right to left");
  if (model.task) parts.push(`task: ${model.task}`);
  if (model.metric) {
    const split = model.metric.split ? `${model.metric.split} ` : "";
    parts.push(`${split}${model.metric.name} ${num(Number(model.metric.value))}`);
  }
  return parts.join(" · ");
}

/** One model's record (GET /api/models/{id}): random ids spell out their model, so the server
 * rebuilds those on demand. */
export function fetchModel(id) {
  return getJSON(`/api/models/${encodeURIComponent(id)}`);
}

/** Models that read the same input as ``primary``: the same characters, or the same input width
 * (the main page's compare and the lab's compare paths). */
export function compatible(models, primary) {
  const vocab = (m) => (m.vocab ? [...m.vocab].sort().join("") : null);
  return models.filter((m) => m.id !== primary.id &&
    (primary.vocab ? vocab(m) === vocab(primary) : !m.vocab && m.input_size === primary.input_size));
}

/** The model a newcomer sees first: a shipped LSTM (gates to watch), on text if there is one. */
export function firstModel(models) {
  const builtin = models.filter((m) => m.source === "builtin");
  return builtin.find((m) => m.arch === "lstm" && m.vocab) ?? builtin.find((m) => m.arch === "lstm") ??
    builtin[0] ?? models[0] ?? null;
}

export class ModelPicker {
  constructor({ onSelect, onError }) {
    this.select = $("model-select");
    this.info = $("model-info");
    this.models = [];
    this.onSelect = onSelect;
    this.select.addEventListener("change", () => onSelect(this.get(this.select.value)));
    const form = $("random-form");
    const sync = () => {
      const arch = form.elements.arch.value;
      form.querySelector(".rnn-only").hidden = arch !== "rnn";
      form.querySelector(".lstm-only").hidden = arch !== "lstm";
      form.querySelector(".numeric-only").hidden = form.elements.text.checked;
    };
    form.elements.arch.addEventListener("change", sync);
    form.elements.text.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = form.elements;
      const payload = {
        arch: f.arch.value,
        hidden_size: Number(f.hidden_size.value),
        num_layers: Number(f.num_layers.value),
        seed: Number(f.seed.value),
      };
      if (payload.arch === "rnn") payload.nonlinearity = f.nonlinearity.value;
      if (payload.arch === "lstm" && f.forget_bias.value !== "") payload.forget_bias = Number(f.forget_bias.value);
      if (f.text.checked) payload.vocab = "ascii";
      else payload.input_size = Number(f.input_size.value);
      try {
        const record = await postJSON("/api/models", payload);
        this.add(record);
        onSelect(record);
      } catch (err) {
        onError(err.message);
      }
    });
  }

  get(id) {
    return this.models.find((m) => m.id === id) ?? null;
  }

  setModels(models) {
    this.models = models;
    this.render();
  }

  /** Add (or replace) a record, e.g. a new upload or random model. */
  add(record) {
    this.models = this.models.filter((m) => m.id !== record.id).concat([record]);
    this.render();
  }

  render() {
    const current = this.select.value;
    const groups = GROUPS.map(([source, label]) => {
      const group = el("optgroup");
      group.label = label;
      for (const m of this.models.filter((x) => x.source === source)) group.append(new Option(m.name, m.id));
      return group;
    }).filter((g) => g.children.length);
    this.select.replaceChildren(...groups);
    if (current) this.select.value = current;
  }

  show(model) {
    this.select.value = model.id;
    this.info.textContent = describe(model);
  }
}
