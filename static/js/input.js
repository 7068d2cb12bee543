// The input box: text for models with a vocabulary (one character per timestep, or space-separated
// tokens for vocabularies of longer tokens: vocab.js), otherwise numbers
// as CSV rows (one row per timestep, input_size values). Presets fill it; editing it makes the
// input custom. Width and vocabulary are checked by the server, whose message is shown as is.

import { $ } from "./dom.js";
import { readsTokens, sequenceFor, vocabHint } from "./vocab.js";

export class InputError extends Error {}

/** CSV rows -> numbers. Blank lines and lines starting with # are skipped. */
export function parseRows(text) {
  const rows = [];
  text.split(/\r?\n/).forEach((line, k) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) return;
    const row = trimmed.split(/[\s,;]+/).filter(Boolean).map((cell) => {
      const value = Number(cell);
      if (!Number.isFinite(value)) throw new InputError(`line ${k + 1}: “${cell}” is not a number`);
      return value;
    });
    rows.push(row);
  });
  if (!rows.length) throw new InputError("the input is empty: give one row of numbers per timestep");
  return rows;
}

export function rowsToText(rows) {
  return rows.map((row) => row.join(", ")).join("\n");
}

export class InputPanel {
  constructor({ onEdit, onPreset, onRun }) {
    this.box = $("input-text");
    this.label = $("input-label");
    this.hint = $("input-hint");
    this.presetSelect = $("preset-select");
    this.model = null;
    this.box.addEventListener("input", () => {
      this.presetSelect.value = "";
      onEdit();
    });
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        onRun();
      } else if (event.key === "Escape") {
        this.box.blur();
      }
    });
    this.presetSelect.addEventListener("change", () => {
      const preset = this.preset();
      if (!preset) return;
      this.box.value = this.presetText(preset);
      onPreset(preset.name);
    });
  }

  get isText() {
    return Boolean(this.model?.vocab);
  }

  setModel(model) {
    this.model = model;
    if (model.vocab) {
      this.label.textContent = readsTokens(model)
        ? "Tokens (separated by spaces, one per timestep)"
        : "Text (one character per timestep)";
      this.hint.textContent = vocabHint(model);
      this.box.rows = 3;
    } else {
      this.label.textContent = `Numbers: one row per timestep, ${model.input_size} values each (CSV)`;
      this.hint.textContent = "Ctrl+Enter runs. Blank lines and # comments are skipped.";
      this.box.rows = 5;
    }
    const options = [new Option("(custom input)", "")];
    for (const p of model.presets ?? []) options.push(new Option(p.name, p.name));
    this.presetSelect.replaceChildren(...options);
  }

  preset() {
    return (this.model?.presets ?? []).find((p) => p.name === this.presetSelect.value) ?? null;
  }

  presetText(preset) {
    return preset.text ?? rowsToText(preset.inputs);
  }

  /** Show a preset by name; false if the model has no such preset. */
  usePreset(name) {
    const preset = (this.model?.presets ?? []).find((p) => p.name === name);
    if (!preset) return false;
    this.presetSelect.value = name;
    this.box.value = this.presetText(preset);
    return true;
  }

  /** Show what the URL names ({preset, text, csv}, at most one set); failing that, the model's
   * first preset, or a sample input. */
  show({ preset, text, csv }) {
    if (preset !== null && this.usePreset(preset)) return;
    if (text !== null || csv !== null) this.setText(text ?? csv);
    else if (this.model.presets?.length) this.usePreset(this.model.presets[0].name);
    else if (readsTokens(this.model)) this.setText(this.model.vocab.slice(0, 6).join(" "));
    else this.setText(this.model.vocab ? this.model.vocab.slice(0, 12).join("") : "0, ".repeat(this.model.input_size).slice(0, -2));
  }

  /** What the box shows, as the URL keeps it: {preset, text, csv}, one of them set. */
  source() {
    if (this.presetSelect.value) return { preset: this.presetSelect.value, text: null, csv: null };
    return { preset: null, text: this.isText ? this.value : null, csv: this.isText ? null : this.value };
  }

  setText(text) {
    this.presetSelect.value = "";
    this.box.value = text;
  }

  get value() {
    return this.box.value;
  }

  /** {text}, {tokens} or {inputs} for the API, and the number of steps it will make. */
  payload() {
    if (this.isText) {
      const parsed = sequenceFor(this.model, this.box.value);
      if (!parsed) throw new InputError(readsTokens(this.model) ? "type some tokens first, separated by spaces" : "type some text first");
      return parsed;
    }
    const rows = parseRows(this.box.value);
    return { payload: { inputs: rows }, steps: rows.length, tokens: null };
  }
}
