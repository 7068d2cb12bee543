// The lab page's wiring: the model and input (the main page's picker and input box), the unit
// and step selection, the tabs, and the URL state. Each tab is its own view module; only the
// shown one computes, and only when what it depends on changed (each view keeps a request key).
//
// Data flows one way: this module alone writes the state. Views read it through ``lab`` and
// report what the user asked for through ``intents``; this module updates the state, writes the
// URL and refreshes the shown view.

import { getJSON } from "../api.js";
import { $, countOptions, showMessage } from "../dom.js";
import { tokenNote } from "../format.js";
import { InputError, InputPanel } from "../input.js";
import { applyLimits } from "../limits.js";
import { ModelPicker, compatible, fetchModel, firstModel } from "../models.js";
import { clamp } from "../numbers.js";
import { unitsIn } from "../sizes.js";
import { reloadOnNewHash } from "../urlstate.js";
import { AttributionView } from "./attribution.js";
import { ConnectivityView } from "./connectivity.js";
import { CostView } from "./cost.js";
import { EquationsView } from "./equations.js";
import { FixedPointsView } from "./fixedpoints.js";
import { GradientFlowView } from "./gradflow.js";
import { InterventionsView } from "./interventions.js";
import { PatternsView } from "./patterns.js";
import { ProjectionView } from "./projection.js";
import { SaturationView } from "./saturation.js";
import { UnitsView } from "./units.js";
import { mainPageURL, readLabState, writeLabState } from "./state.js";
import { LessonPlayer } from "../lessons.js"; // classroom (issue 10): lessons run in the lab too

/** The URL state ({main, lab}, see state.js): written here only. */
const state = readLabState();
/** The model shown and the parsed input: {payload: {text} | {inputs}, steps, tokens}. */
const current = { model: null, input: null };

/** What the views read: the model, the parsed input, the selection and the lab's URL keys. */
const lab = {
  get model() {
    return current.model;
  },
  get input() {
    return current.input;
  },
  /** The lab's own URL keys (lab/state.js), as a read-only copy. */
  get knobs() {
    return Object.freeze({ ...state.lab });
  },
  /** Every model the picker knows (records of GET /api/models and those added since). */
  get models() {
    return picker.models;
  },
  /** The compare models (compare= in the URL, shared with the main page) that read this model's input. */
  get compare() {
    const options = this.model ? compatible(picker.models, this.model) : [];
    return state.main.compare.map((id) => options.find((m) => m.id === id)).filter(Boolean);
  },
  get variant() {
    return this.model?.arch === "gru" ? state.lab.variant : "torch";
  },
  get layer() {
    return state.main.layer;
  },
  get unit() {
    return state.main.unit;
  },
  /** The main view's objective (obj=), as /api/trace takes it; the default where this model cannot take it. */
  get objective() {
    const obj = state.main.obj;
    const model = this.model;
    if (obj === "task" && !model?.task) return "hidden_norm";
    if (obj === "prediction" && !model?.has_head) return "hidden_norm";
    if (typeof obj !== "object") return obj;
    if ("logit" in obj && !model?.has_head) return "hidden_norm";
    if ("unit" in obj && (obj.layer >= model.num_layers || obj.unit >= unitsIn(model, obj.layer))) return "hidden_norm";
    return { ...obj, step: Math.min(obj.step, (this.input?.steps ?? 1) - 1) };
  },
  get step() {
    const t = state.main.t;
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
  /** The main page's URL for this model and input, with ``selection`` ({unit, layer, t}). */
  mainURL(selection = {}) {
    return mainPageURL({ ...state.main, model: this.model?.id ?? state.main.model }, selection);
  },
};

/** What the views may ask for. */
const intents = {
  /**
   * New values for lab keys (``patch``). The shown view recomputes on the next frame, or
   * ``after`` ms (typing), or not at all (``recompute: false``: the form's Measure button asks).
   */
  change(patch, { after = 0, recompute = true } = {}) {
    Object.assign(state.lab, patch);
    save();
    if (recompute) refreshSoon(after);
  },
  /** Compare this model with ``ids`` (at most two; the main page's compare= too). */
  setCompare(ids) {
    state.main.compare = [...new Set(ids.filter(Boolean))].slice(0, 2);
    save();
    refreshSoon();
  },
  /** Move the step cursor to ``t``. */
  setStep(t) {
    state.main.t = clamp(t, 0, current.input.steps - 1);
    syncSelection();
    selectionChanged();
  },
  /** Open the main page on this model and input, at ``selection``. */
  openMain(selection) {
    window.location.href = lab.mainURL(selection);
  },
};

const views = {
  gradients: new GradientFlowView(lab, intents),
  saturation: new SaturationView(lab, intents),
  cost: new CostView(lab, intents),
  equations: new EquationsView(lab, intents),
  connectivity: new ConnectivityView(lab, intents),
  patterns: new PatternsView(lab, intents),
  interventions: new InterventionsView(lab, intents),
  fixedpoints: new FixedPointsView(lab, intents),
  projection: new ProjectionView(lab, intents),
  attribution: new AttributionView(lab, intents),
  units: new UnitsView(lab, intents),
};
// Which views read the model and input, which the step cursor, which the unit, and which
// show no selection bar (they pick their own units, or read none).
const MODEL_VIEWS = new Set([
  "saturation", "equations", "connectivity", "patterns",
  "interventions", "fixedpoints", "projection", "attribution", "units",
]);
const STEP_VIEWS = new Set(["equations", "connectivity", "fixedpoints", "projection"]);
const NO_UNIT_VIEWS = new Set(["patterns", "fixedpoints", "projection"]);
const NO_SELECTION_VIEWS = new Set(["saturation", "attribution", "units"]);

function showError(text) {
  showMessage($("error"), text);
}

function save() {
  writeLabState(state);
  $("main-link").href = lab.mainURL();
}

// ---- tabs ---------------------------------------------------------------------------------------

function showTab(tab) {
  state.lab.tab = tab;
  for (const button of document.querySelectorAll("[role=tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  for (const section of document.querySelectorAll("[role=tabpanel]")) section.hidden = section.dataset.view !== tab;
  layoutSelection();
  document.body.dataset.tab = tab;
  save();
  refreshView();
}

/** The selection bar shows what the tab reads: layer (if several), unit, step. */
function layoutSelection() {
  const tab = state.lab.tab;
  const layered = (lab.model?.num_layers ?? 1) > 1;
  const noUnit = NO_UNIT_VIEWS.has(tab);
  $("selection").hidden = !MODEL_VIEWS.has(tab) || NO_SELECTION_VIEWS.has(tab) || (noUnit && !layered && !STEP_VIEWS.has(tab));
  $("unit-input").closest("label").hidden = noUnit;
  $("selection").querySelector(".step-field").hidden = !STEP_VIEWS.has(tab);
  $("step-label").hidden = !STEP_VIEWS.has(tab);
}

function refreshView() {
  const tab = state.lab.tab;
  if (MODEL_VIEWS.has(tab) && (!current.model || !current.input)) return;
  views[tab].refresh();
}

let refreshTimer = 0;
let refreshFrame = 0;

/** Refresh the shown view once, on the next frame or after ``delay`` ms, however many changes came first. */
function refreshSoon(delay = 0) {
  clearTimeout(refreshTimer);
  cancelAnimationFrame(refreshFrame);
  if (delay) refreshTimer = setTimeout(refreshView, delay);
  else refreshFrame = requestAnimationFrame(refreshView);
}

for (const button of document.querySelectorAll("[role=tab]")) {
  button.addEventListener("click", () => showTab(button.dataset.tab));
}

// ---- selection: layer, unit, step ---------------------------------------------------------------

function syncSelection() {
  const m = current.model;
  const s = state.main;
  if (!m || !current.input) return;
  s.layer = clamp(s.layer, 0, m.num_layers - 1);
  const units = unitsIn(m, s.layer); // a stack's layers may differ in size
  s.unit = clamp(s.unit, 0, units - 1);
  if (s.t !== null) s.t = clamp(s.t, 0, current.input.steps - 1);
  $("layer-select").value = String(s.layer);
  $("unit-input").max = String(units - 1);
  $("unit-input").value = String(s.unit);
  $("step-slider").max = String(current.input.steps - 1);
  $("step-slider").value = String(lab.step);
  $("step-label").textContent = `t = ${lab.step}${tokenNote(current.input.tokens?.[lab.step])}`;
}

/** A run of slider events makes one refresh per frame. */
function selectionChanged() {
  save();
  refreshSoon();
}

$("layer-select").addEventListener("change", () => {
  state.main.layer = Number($("layer-select").value);
  syncSelection();
  selectionChanged();
});
$("unit-input").addEventListener("change", () => {
  state.main.unit = Math.round(Number($("unit-input").value)) || 0;
  syncSelection();
  selectionChanged();
});
$("step-slider").addEventListener("input", () => intents.setStep(Number($("step-slider").value)));

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

/** Parse the input box into the current input and the URL; recompute the shown view. */
function readInput(force = false) {
  showError("");
  try {
    current.input = input.payload();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    showError(err.message);
    return;
  }
  Object.assign(state.main, input.source());
  syncSelection();
  save();
  if (force) for (const view of Object.values(views)) view.forget();
  refreshView();
}

function chooseModel(model, fresh) {
  current.model = model;
  picker.show(model);
  input.setModel(model);
  const s = state.main;
  s.model = model.id; // so a reload or a shared link opens this model, as on the main page
  if (fresh) {
    Object.assign(s, { preset: null, text: null, csv: null, t: null, unit: 0, layer: 0 });
    s.compare = s.compare.filter((id) => compatible(picker.models, model).some((m) => m.id === id));
  }
  input.show(s);
  $("layer-select").replaceChildren(...countOptions(model.num_layers));
  $("layer-select").closest("label").hidden = model.num_layers < 2;
  $("variant-field").hidden = model.arch !== "gru";
  $("variant-select").value = lab.variant;
  layoutSelection();
  readInput();
}

$("variant-select").addEventListener("change", () => {
  state.lab.variant = $("variant-select").value;
  save();
  refreshView();
});

reloadOnNewHash();

// classroom (issue 10): a lesson step that shows the lab
const lessons = new LessonPlayer({
  page: "lab",
  onClose: () => {
    state.main.lesson = null;
    save();
  },
});

async function boot() {
  await lessons.open(state.main.lesson, state.main.step);
  applyLimits();
  let models;
  try {
    models = (await getJSON("/api/models")).models;
  } catch (err) {
    showError(err.message);
    return;
  }
  picker.setModels(models);
  const wanted = state.main.model;
  let model = wanted ? picker.get(wanted) : null;
  if (wanted && !model) {
    model = await fetchModel(wanted).catch(() => null);
    if (model) picker.add(model);
    else showError(`The model “${wanted}” is not on this server; showing another one.`);
  }
  for (const id of state.main.compare) {
    if (picker.get(id)) continue; // a random model's id rebuilds it; an unknown one is left out
    const other = await fetchModel(id).catch(() => null);
    if (other) picker.add(other);
  }
  const fresh = !model;
  model ??= firstModel(models);
  showTab(state.lab.tab);
  if (model) chooseModel(model, fresh && !wanted);
}

boot();
