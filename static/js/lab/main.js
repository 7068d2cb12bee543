// The lab page's wiring: the model and input (the main page's picker and input box), the unit
// and step selection, the tabs, and the URL state. Each tab is its own view module; only the
// shown one computes, and only when what it depends on changed (each view keeps a request key).

import { getJSON } from "../api.js";
import { $, showMessage } from "../dom.js";
import { tokenNote } from "../format.js";
import { InputError, InputPanel } from "../input.js";
import { ModelPicker, fetchModel, firstModel } from "../models.js";
import { clamp } from "../numbers.js";
import { reloadOnNewHash } from "../urlstate.js";
import { ConnectivityView } from "./connectivity.js";
import { CostView } from "./cost.js";
import { EquationsView } from "./equations.js";
import { GradientFlowView } from "./gradflow.js";
import { PatternsView } from "./patterns.js";
import { SaturationView } from "./saturation.js";
import { mainPageURL, readLabState, writeLabState } from "./state.js";

/** What the views share: the model, the parsed input, the selection and the URL state. */
const lab = {
  state: readLabState(),
  model: null,
  input: null, // {payload: {text} | {inputs}, steps, tokens}
  get variant() {
    return this.model?.arch === "gru" ? this.state.lab.variant : "torch";
  },
  get layer() {
    return this.state.main.layer;
  },
  get unit() {
    return this.state.main.unit;
  },
  get step() {
    const t = this.state.main.t;
    return t === null ? this.input.steps - 1 : t;
  },
  /** A request body for a model view: model, input, GRU variant, and ``extra``. */
  body(extra) {
    if (!this.input) throw new InputError("no input yet");
    return { model: this.model.id, ...this.input.payload, gru_variant: this.variant, ...extra };
  },
  inputKey() {
    return `${this.model?.id}|${JSON.stringify(this.input?.payload)}`;
  },
  save() {
    writeLabState(this.state);
    $("main-link").href = this.mainURL();
  },
  mainURL(selection = {}) {
    return mainPageURL({ ...this.state.main, model: this.model?.id ?? this.state.main.model }, selection);
  },
  openMain(selection) {
    window.location.href = this.mainURL(selection);
  },
  setStep(t) {
    this.state.main.t = clamp(t, 0, this.input.steps - 1);
    syncSelection();
    selectionChanged();
  },
};

const views = {
  gradients: new GradientFlowView(lab),
  saturation: new SaturationView(lab),
  cost: new CostView(lab),
  equations: new EquationsView(lab),
  connectivity: new ConnectivityView(lab),
  patterns: new PatternsView(lab),
};
// Which views read the model and input, and which the step cursor.
const MODEL_VIEWS = new Set(["saturation", "equations", "connectivity", "patterns"]);
const STEP_VIEWS = new Set(["equations", "connectivity"]);

function showError(text) {
  showMessage($("error"), text);
}

// ---- tabs ---------------------------------------------------------------------------------------

function showTab(tab) {
  lab.state.lab.tab = tab;
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  for (const section of document.querySelectorAll("[role=tabpanel]")) section.hidden = section.dataset.view !== tab;
  layoutSelection();
  document.body.dataset.tab = tab;
  lab.save();
  refreshView();
}

/** The selection bar shows what the tab reads: layer (if several), unit, step. */
function layoutSelection() {
  const tab = lab.state.lab.tab;
  const layered = (lab.model?.num_layers ?? 1) > 1;
  $("selection").hidden = !MODEL_VIEWS.has(tab) || tab === "saturation" || (tab === "patterns" && !layered);
  $("unit-input").closest("label").hidden = tab === "patterns";
  $("selection").querySelector(".step-field").hidden = !STEP_VIEWS.has(tab);
  $("step-label").hidden = !STEP_VIEWS.has(tab);
}

function refreshView() {
  const tab = lab.state.lab.tab;
  if (MODEL_VIEWS.has(tab) && (!lab.model || !lab.input)) return;
  views[tab].refresh();
}

for (const button of document.querySelectorAll("[role=tab]")) {
  button.addEventListener("click", () => showTab(button.dataset.tab));
}

// ---- selection: layer, unit, step ---------------------------------------------------------------

function syncSelection() {
  const m = lab.model;
  const s = lab.state.main;
  if (!m || !lab.input) return;
  s.layer = clamp(s.layer, 0, m.num_layers - 1);
  s.unit = clamp(s.unit, 0, m.hidden_size - 1);
  if (s.t !== null) s.t = clamp(s.t, 0, lab.input.steps - 1);
  $("layer-select").value = String(s.layer);
  $("unit-input").max = String(m.hidden_size - 1);
  $("unit-input").value = String(s.unit);
  $("step-slider").max = String(lab.input.steps - 1);
  $("step-slider").value = String(lab.step);
  $("step-label").textContent = `t = ${lab.step}${tokenNote(lab.input.tokens?.[lab.step])}`;
}

let selectionFrame = 0;

/** Coalesce a run of slider events into one refresh per frame. */
function selectionChanged() {
  lab.save();
  cancelAnimationFrame(selectionFrame);
  selectionFrame = requestAnimationFrame(refreshView);
}

$("layer-select").addEventListener("change", () => {
  lab.state.main.layer = Number($("layer-select").value);
  syncSelection();
  selectionChanged();
});
$("unit-input").addEventListener("change", () => {
  lab.state.main.unit = Math.round(Number($("unit-input").value)) || 0;
  syncSelection();
  selectionChanged();
});
$("step-slider").addEventListener("input", () => lab.setStep(Number($("step-slider").value)));

// ---- model and input ----------------------------------------------------------------------------

const picker = new ModelPicker({ onSelect: (m) => chooseModel(m, true), onError: showError });

const input = new InputPanel({
  onEdit: () => {
    clearTimeout(editTimer);
    if (input.isText) editTimer = setTimeout(() => readInput(), 400);
  },
  onPreset: () => readInput(),
  onRun: () => readInput(true),
});
let editTimer = null;
$("run-button").addEventListener("click", () => readInput(true));

/** Parse the input box into lab.input and the URL; recompute the shown view. */
function readInput(force = false) {
  showError("");
  const s = lab.state.main;
  try {
    lab.input = input.payload();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    showError(err.message);
    return;
  }
  Object.assign(s, input.source());
  syncSelection();
  lab.save();
  if (force) for (const view of Object.values(views)) view.lastKey = null;
  refreshView();
}

function chooseModel(model, fresh) {
  lab.model = model;
  picker.show(model);
  input.setModel(model);
  const s = lab.state.main;
  if (fresh) Object.assign(s, { preset: null, text: null, csv: null, t: null, unit: 0, layer: 0 });
  input.show(s);
  $("layer-select").replaceChildren(
    ...Array.from({ length: model.num_layers }, (_, l) => new Option(String(l), String(l))));
  $("layer-select").closest("label").hidden = model.num_layers < 2;
  $("variant-field").hidden = model.arch !== "gru";
  $("variant-select").value = lab.variant;
  layoutSelection();
  readInput();
}

$("variant-select").addEventListener("change", () => {
  lab.state.lab.variant = $("variant-select").value;
  lab.save();
  refreshView();
});

reloadOnNewHash();

async function boot() {
  let models;
  try {
    models = (await getJSON("/api/models")).models;
  } catch (err) {
    showError(err.message);
    return;
  }
  picker.setModels(models);
  const wanted = lab.state.main.model;
  let model = wanted ? picker.get(wanted) : null;
  if (wanted && !model) {
    model = await fetchModel(wanted).catch(() => null);
    if (model) picker.add(model);
    else showError(`The model “${wanted}” is not on this server; showing another one.`);
  }
  const fresh = !model;
  model ??= firstModel(models);
  showTab(lab.state.lab.tab);
  if (model) chooseModel(model, fresh && !wanted);
}

boot();
