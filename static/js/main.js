// Wiring: reads the view state from the URL, loads the models, runs the trace stream, and keeps
// every view (heatmaps, gradients, text, inspector, compare) on the one shared cursor.

import { getJSON, postJSON } from "./api.js";
import { CompareView } from "./compare.js";
import { $, countOptions, showMessage } from "./dom.js";
import { exportCSV, exportJSON } from "./export.js";
import { num, tokenLabel, tokenNote } from "./format.js";
import { GradientPlot } from "./gradients.js";
import { HeatmapGrid } from "./heatmaps.js";
import { InputError, InputPanel } from "./input.js";
import { Inspector } from "./inspector.js";
import { applyLimits } from "./limits.js";
import { ModelPicker, fetchModel, firstModel } from "./models.js";
import { clamp } from "./numbers.js";
import { setFontSize } from "./plots.js";
import { PANELS, encodeState, readState, writeState } from "./state.js";
import { TextView } from "./textview.js";
import { Timeline } from "./timeline.js";
import { TrainPanel } from "./training.js";
import { TraceRunner } from "./runner.js";
import { wireUpload } from "./upload.js";
import { reloadOnNewHash } from "./urlstate.js";
import { ModelZoo } from "./zoo.js";
// ---- your own model (issue 9) ----
import { InitialState } from "./initial.js";
import { PredictionList } from "./predictions.js";
import { ORDERS, parseShow, selectUnits, showText } from "./units.js";
import { readsTokens } from "./vocab.js";
// classroom (issue 10): the cell diagram, lessons, presenter mode, save as HTML
import { CellDiagram } from "./diagram.js";
import { LessonPlayer } from "./lessons.js";
// export (issue 10): save as HTML; a saved file runs offline
import { SavedRunner, goOffline, saveHTML, savedModels, savedTracer, savedView } from "./offline.js";

const state = readState();
const firstVisit = !window.location.hash || window.location.hash === "#";
const app = { model: null, data: null, follow: false, autoplay: firstVisit };
// export (issue 10): a saved file carries its view (as its hash, until the URL has one) and trace
const saved = savedView();
if (saved && firstVisit) Object.assign(state, readState(`#${saved.hash}`));

/** Above this many values (units x steps x layers) the views are drawn when the stream ends. */
const LIVE_DRAW_VALUES = 400_000;

// ---- views -------------------------------------------------------------------------------------

const heatmaps = new HeatmapGrid($("heatmaps"), {
  onPick: (t, unit) => {
    selectUnit(unit);
    timeline.userMove(t);
  },
});
const gradients = new GradientPlot($("gradients"));
const inspector = new Inspector({ onUnit: (u) => selectUnit(u) });
const textview = new TextView({
  onPick: (t) => timeline.userMove(t),
  onQuantity: (q) => {
    state.color = q;
    paintText();
    save();
  },
});
const compare = new CompareView({
  onChange: (ids) => {
    state.compare = ids;
    save();
    runCompare();
  },
  ...(saved ? { trace: savedTracer(saved) } : {}), // export (issue 10): a saved file's compare runs
});
const timeline = new Timeline({
  onChange: (t) => onCursor(t),
  onUnit: (delta) => selectUnit(state.unit + delta, true),
  label: (t) => tokenSuffix(t),
  onSpeed: (speed) => {
    state.speed = speed;
    save();
  },
});
const picker = new ModelPicker({ onSelect: (m) => chooseModel(m, true), onError: showError });
const input = new InputPanel({
  onEdit: () => onEdit(),
  onPreset: (name) => {
    state.preset = name;
    state.text = state.csv = null;
    save();
    run();
  },
  onRun: () => run(),
});
const trainPanel = new TrainPanel({
  onModel: (record) => picker.add(record),
  onOpen: (record) => openModel(record),
  onBeforeAfter: (trained, initId) => beforeAfter(trained, initId),
  onOpenChange: (open) => setPanelOpen("train", open),
});
const zoo = new ModelZoo({ onOpen: (record) => openModel(record), onOpenChange: (open) => setPanelOpen("zoo", open) });
wireUpload({
  onModel: (record) => {
    picker.add(record);
    chooseModel(record, true);
  },
  onError: showError,
  onStatus: setStatus,
});

// ---- small helpers -----------------------------------------------------------------------------

function save() {
  writeState({ ...state, model: app.model?.id ?? state.model });
}

function setStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  showMessage($("error"), text);
}

function tokenSuffix(t) {
  return tokenNote(app.data?.tokens?.[t]);
}

function objectiveLabel(obj) {
  if (obj === "task") return "the task loss";
  if (obj === "prediction") return "the next-token loss";
  if (typeof obj === "object" && "logit" in obj) return `the logit of ‘${tokenLabel(obj.logit)}’ at t = ${obj.step}`;
  if (typeof obj === "object") return `h_${obj.step}[${obj.unit}]${app.model.num_layers > 1 ? ` of layer ${obj.layer}` : ""}`;
  return app.model?.right_to_left ? "½‖h_0‖²" : "½‖h_T‖²"; // a model reading right to left ends at t = 0
}

function paintText() {
  if (app.data) textview.paint(state.layer, state.unit, state.color);
}

// ---- cursor, unit, layer -----------------------------------------------------------------------

function onCursor(t) {
  state.t = t;
  diagram.update(t, state.unit); // classroom
  heatmaps.setCursor(t);
  gradients.setCursor(t);
  textview.setCursor(t);
  compare.setCursor(t);
  inspector.update(t, state.unit, tokenSuffix(t));
  predictions.update(t, state.obj);
  save();
}

function selectUnit(unit, scroll = false) {
  if (!app.data) return;
  state.unit = clamp(Math.round(unit) || 0, 0, app.data.unitsOf(state.layer) - 1);
  $("unit-input").value = String(state.unit);
  heatmaps.setUnit(state.unit);
  diagram.update(timeline.t, state.unit); // classroom
  compare.setUnit(state.unit); // classroom
  inspector.update(timeline.t, state.unit, tokenSuffix(timeline.t));
  if (scroll) inspector.scrollToUnit(state.unit);
  paintText();
  save();
}

$("unit-input").addEventListener("change", () => selectUnit(Number($("unit-input").value), true));
$("layer-select").addEventListener("change", () => {
  state.layer = Number($("layer-select").value);
  if (app.data) unitRange(app.data); // a stack's layers may differ in size
  buildViews();
  save();
});

/** The unit input's range is the layer on screen's units (a stack's layers may differ in size). */
function unitRange(data) {
  const units = data.unitsOf(state.layer);
  state.unit = clamp(state.unit, 0, units - 1);
  $("unit-input").max = String(units - 1);
  $("unit-input").value = String(state.unit);
}

/** Draw every view of the current trace (a new trace, a new layer, teacher mode). */
function buildViews() {
  const data = app.data;
  const t = timeline.t;
  data.setDirection(state.dir);
  const units = shownUnits();
  heatmaps.build(data, state.layer, t, state.unit, units);
  gradients.build(data, t, objectiveLabel(state.obj));
  inspector.build(data, state.layer, units);
  diagram.build(data, state.layer); // classroom
  diagram.update(t, state.unit);
  textview.build(data, state.color);
  textview.setCursor(t);
  paintText();
  inspector.update(t, state.unit, tokenSuffix(t));
  predictions.build(data);
  predictions.update(t, state.obj);
}

// ---- choosing a model --------------------------------------------------------------------------

/** Show ``model``; ``fresh`` (a user's choice, not a URL's) resets input and selection. */
function chooseModel(model, fresh) {
  app.model = model;
  picker.show(model);
  input.setModel(model);
  if (fresh) {
    // A trained model's own loss is the most telling objective: its gradient is what training saw.
    const obj = model.task ? "task" : "hidden_norm";
    Object.assign(state, { preset: null, text: null, csv: null, t: null, unit: 0, layer: 0, obj });
    state.compare = state.compare.filter((id) => picker.get(id) && id !== model.id);
  }
  input.show(state);
  Object.assign(state, input.source());
  const layers = $("layer-select");
  layers.replaceChildren(...countOptions(model.num_layers));
  state.layer = clamp(state.layer, 0, model.num_layers - 1);
  layers.value = String(state.layer);
  layers.closest("label").hidden = model.num_layers < 2;
  $("unit-input").value = String(state.unit); // the URL's unit shows before the trace arrives
  const objective = $("objective-select");
  objective.querySelector("option[value=task]").disabled = !model.task;
  if (state.obj === "task" && !model.task) state.obj = "hidden_norm";
  ownModelOptions(model);
  objective.value = typeof state.obj === "object" ? ("logit" in state.obj ? "logit" : "unit") : state.obj;
  compare.setOptions(picker.models, model, state.compare);
  state.compare = compare.selected();
  if (fresh) Object.assign(state, { from: null, fromin: null, dir: "forward", order: "index", show: "all" });
  ownModelControls(model);
  save();
  run();
}

$("objective-select").addEventListener("change", () => {
  const value = $("objective-select").value;
  if (value === "logit") {
    // The top prediction at the cursor; another one is a click away under the text.
    const top = app.data?.topAt(timeline.t)?.[0];
    if (!top) return;
    state.obj = { logit: top.token, step: timeline.t };
  } else {
    state.obj = value === "unit" ? { layer: state.layer, unit: state.unit, step: timeline.t } : value;
  }
  save();
  run();
});

// ---- running the stream ------------------------------------------------------------------------

const runner = makeRunner({
  start: (data) => {
    app.data = data;
    app.follow = state.t === null; // no cursor asked for: follow the stream's front
    timeline.pause();
    timeline.setLength(data.capacity);
    timeline.t = app.follow ? 0 : clamp(state.t, 0, data.capacity - 1);
    timeline.render();
    unitRange(data);
    streaming(data);
  },
  flush: (data, final) => {
    $("progress").value = data.steps;
    // At real sizes (millions of values) a redraw takes longer than the stream's next steps do to
    // arrive: while streaming, show the progress only, and draw everything once every step is in
    // (the gradients, which come last, then redraw only their own plot).
    if (!final && data.steps < data.capacity && data.units * data.capacity * data.layers.length > LIVE_DRAW_VALUES) {
      setStatus(`running… ${data.steps} / ${data.capacity} steps`);
      return;
    }
    // The first steps of a new trace: draw its views once, with what has arrived; then update them.
    if (heatmaps.data !== data) buildViews();
    else if (heatmaps.drawnSteps !== data.steps) heatmaps.refresh();
    paintText();
    $("progress").value = data.steps;
    if (!data.complete) setStatus(`running… ${data.steps} / ${data.capacity} steps`);
    if (app.follow) timeline.set(data.steps - 1);
    else inspector.update(timeline.t, state.unit, tokenSuffix(timeline.t));
    diagram.update(timeline.t, state.unit); // classroom
  },
  done: (data, loss) => {
    gradients.refresh();
    $("stop-button").disabled = true;
    setStatus(`${data.steps} step${data.steps === 1 ? "" : "s"} · loss L = ${objectiveLabel(state.obj)} = ${num(loss)}`);
    predictions.update(timeline.t, state.obj);
    if (state.order !== "index" || state.show !== "all") applyUnits(); // order by the whole run
    if (app.follow) {
      app.follow = false;
      if (app.autoplay) {
        app.autoplay = false;
        timeline.set(0);
        timeline.play();
      }
    }
    runCompare();
  },
  cancelled: (data) => {
    app.follow = false;
    timeline.setLength(data.steps);
    $("stop-button").disabled = true;
    setStatus(`stopped after ${data.steps} of ${data.capacity} steps; gradients need the whole sequence`);
  },
  error: (text) => {
    showError(text);
    setStatus("");
    $("stop-button").disabled = true;
  },
});

function streaming(data) {
  $("progress").max = data.capacity;
  $("progress").value = data.steps;
  setStatus(`running… ${data.steps} / ${data.capacity} steps`);
  $("stop-button").disabled = false;
}

/** Read the input box into the URL state, and parse it for the API. */
function currentInput() {
  const parsed = input.payload();
  Object.assign(state, input.source());
  return parsed;
}

function run() {
  showError("");
  let parsed;
  try {
    parsed = currentInput();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    runner.stop();
    showError(err.message);
    return;
  }
  save();
  let objective = state.obj;
  if (typeof objective === "object") objective = { ...objective, step: Math.min(objective.step, parsed.steps - 1) };
  startRun(parsed, objective);
}

$("run-button").addEventListener("click", () => run());
$("stop-button").addEventListener("click", () => runner.cancel());

// ---- live typing: extend the running sequence instead of recomputing it ---------------------------

let editTimer = null;

function onEdit() {
  Object.assign(state, input.source());
  save();
  if (!input.isText) return; // numbers run on Ctrl+Enter or the Run button
  clearTimeout(editTimer);
  editTimer = setTimeout(liveUpdate, 250);
}

function liveUpdate() {
  const text = input.value;
  // A unit objective names a step: appending would move what "the end" means, so run anew.
  if (typeof state.obj !== "string" || !runner.append(text)) {
    if (text.length) run();
    else showError(""); // an empty box: nothing runs, and an error about the old text is gone
    return;
  }
  const data = runner.data;
  showError("");
  textview.extend(data.tokens);
  timeline.setLength(data.capacity);
  app.follow = true;
  state.t = null;
  streaming(data);
}

// ---- compare, export, teacher mode -------------------------------------------------------------

function runCompare() {
  const others = state.compare.map((id) => picker.get(id)).filter(Boolean);
  if (!others.length || !app.model) {
    compare.clear("pick one or two models to run the same input through");
    return;
  }
  let payload;
  try {
    payload = input.payload().payload;
  } catch {
    return;
  }
  compare.show([app.model, ...others], payload, timeline.t, state.obj, state.unit);
}

$("export-json").addEventListener("click", () => app.data && exportJSON(app.data));
$("export-csv").addEventListener("click", () => app.data && exportCSV(app.data));

function applyTeacher(on, redraw) {
  state.teach = on;
  document.body.classList.toggle("teacher", on);
  $("teacher-toggle").setAttribute("aria-pressed", String(on));
  setFontSize(on ? 19 : 14);
  heatmaps.height = on ? 200 : 250; // presenter mode: two heatmaps fit a 720-px projector, also under two lines of text
  gradients.height = on ? 360 : 300;
  if (redraw) trainPanel.refont();
  if (redraw && app.data) {
    buildViews();
    runCompare();
  }
  save();
}

$("teacher-toggle").addEventListener("click", () => applyTeacher(!state.teach, true));
// The lab opens on the same model and input: the link carries the current URL state. Set just
// before it is followed (any button, keyboard too), so it never goes stale.
for (const event of ["pointerdown", "focus", "click"]) {
  $("lab-link").addEventListener(event, (e) => { e.currentTarget.href = `/lab${window.location.hash}`; });
}

// ---- train panel and model zoo -----------------------------------------------------------------

const panels = { train: trainPanel, zoo };

function openPanels() {
  for (const name of PANELS) panels[name].setOpen(state.open.includes(name));
}

function setPanelOpen(name, open) {
  state.open = PANELS.filter((p) => (p === name ? open : state.open.includes(p)));
  save();
}

for (const button of document.querySelectorAll("[data-open]")) {
  button.addEventListener("click", () => panels[button.dataset.open].reveal());
}

/** Explore ``record`` in the main view, on its task's preset with its task loss. */
function openModel(record) {
  if (!picker.get(record.id)) picker.add(record);
  chooseModel(record, true);
  window.scrollTo({ top: 0, behavior: "smooth" });
}

/** The trained model beside its untrained initialization (same seed), on the task's preset. */
async function beforeAfter(trained, initId) {
  let init = picker.get(initId);
  if (!init) {
    try {
      init = await fetchModel(initId);
    } catch (err) {
      trainPanel.showError(`The initialization “${initId}” is not on this server: ${err.message}`);
      return;
    }
    picker.add(init);
  }
  if (!picker.get(trained.id)) picker.add(trained);
  state.compare = [init.id];
  chooseModel(trained, true);
  document.querySelector(".compare").scrollIntoView({ behavior: "smooth", block: "start" });
}

reloadOnNewHash();

// ---- your own model (issue 9): predictions, initial state, direction, unit order and subset -----

const predictions = new PredictionList({
  onPick: (token, t) => {
    state.obj = { logit: token, step: t };
    $("objective-select").value = "logit";
    save();
    run();
  },
});

const initial = new InitialState({
  onChange: ({ from, fromin }) => {
    Object.assign(state, { from, fromin });
    save();
    run();
  },
});
initial.currentInput = () => input.value;

/** Objectives a model's head allows: "prediction" when its classes are its input vocabulary. */
function ownModelOptions(model) {
  const objective = $("objective-select");
  const sameVocab = model.has_head && model.vocab && JSON.stringify(model.vocab) === JSON.stringify(model.output_vocab);
  objective.querySelector("option[value=prediction]").disabled = !sameVocab;
  objective.querySelector("option[value=logit]").disabled = !model.has_head;
  // A model that reads right to left ends at t = 0: its final state is h_0.
  objective.querySelector("option[value=hidden_norm]").textContent =
    `L = ½‖h_${model.right_to_left ? "0" : "T"}‖² (top layer)`;
  if (state.obj === "prediction" && !sameVocab) state.obj = "hidden_norm";
  if (typeof state.obj === "object" && "logit" in state.obj && !model.has_head) state.obj = "hidden_norm";
}

/** The direction switch (bidirectional models) and the start-from control, for ``model``. */
function ownModelControls(model) {
  $("direction-field").hidden = !model.bidirectional;
  if (!model.bidirectional) state.dir = "forward";
  $("direction-select").value = state.dir;
  initial.setOptions(picker.models, model, state.compare, state);
  $("textview").classList.toggle("tokens", readsTokens(model));
}

/** Run the input, from the chosen model's last state when there is one. */
async function startRun(parsed, objective) {
  const model = app.model;
  let states = null;
  try {
    states = await initial.states(state.from, state.fromin);
  } catch (err) {
    runner.stop();
    showError(`cannot start from ${state.from}'s last state: ${err.message}`);
    return;
  }
  if (model !== app.model) return; // another model was chosen meanwhile
  initial.say(state.from, state.fromin, states, model.arch);
  runner.start(model, parsed, objective, states);
}

$("direction-select").addEventListener("change", () => {
  state.dir = $("direction-select").value;
  save();
  if (app.data) buildViews();
});

// Unit order and subset: computed from the hidden state of the layer on screen.
$("order-select").replaceChildren(...Object.entries(ORDERS).map(([value, label]) => new Option(label, value)));

function shownUnits() {
  const data = app.data;
  const show = parseShow(state.show);
  syncUnitsBar(show);
  if (!data || (state.order === "index" && show.kind === "all")) {
    $("units-note").textContent = "";
    return null;
  }
  const units = selectUnits(data.rows(state.layer, "hidden"), state.order, show);
  $("units-note").textContent = `showing ${units.length} of ${data.unitsOf(state.layer)} units`;
  return units;
}

function syncUnitsBar(show) {
  $("order-select").value = state.order;
  $("show-select").value = show.kind;
  if (show.kind === "top") $("show-k").value = String(show.k);
  if (show.kind === "units") $("show-units").value = show.units.join(", ");
  if (show.kind === "span") $("show-span").value = `${show.t0}-${show.t1}`;
  for (const label of document.querySelectorAll(".show-arg")) label.hidden = label.dataset.show !== show.kind;
}

/** The order or subset changed: restyle the heatmaps, rebuild the inspector's rows. */
function applyUnits() {
  save();
  if (!app.data) return;
  const units = shownUnits();
  heatmaps.setUnits(units);
  inspector.build(app.data, state.layer, units);
  inspector.update(timeline.t, state.unit, tokenSuffix(timeline.t));
}

function readShow() {
  const kind = $("show-select").value;
  if (kind === "top") return `top:${Math.max(1, Number($("show-k").value) || 16)}`;
  if (kind === "units") {
    const units = $("show-units").value.split(/[\s,;]+/).filter(Boolean).map(Number).filter(Number.isInteger);
    return units.length ? `units:${units.join(",")}` : `units:${state.unit}`;
  }
  if (kind === "span") {
    const m = /(\d+)\s*[-–]\s*(\d+)/.exec($("show-span").value);
    const t = timeline.t;
    return m ? `span:${m[1]}-${m[2]}` : `span:${Math.max(0, t - 5)}-${t}`;
  }
  return "all";
}

$("order-select").addEventListener("change", () => {
  state.order = $("order-select").value;
  applyUnits();
});
for (const id of ["show-select", "show-k", "show-units", "show-span"]) {
  $(id).addEventListener("change", () => {
    state.show = showText(parseShow(readShow()));
    applyUnits();
  });
}

// ---- classroom (issue 10): the cell diagram, the lesson player ------------------------------------

const diagram = new CellDiagram($("diagram"));
const lessons = new LessonPlayer({
  page: "main",
  onClose: () => {
    state.lesson = null;
    state.step = 0;
    save();
  },
});

// ---- export (issue 10): "Save as HTML", and a saved file that runs offline -------------------------

function makeRunner(hooks) {
  return saved ? new SavedRunner(saved, hooks) : new TraceRunner(hooks);
}

$("export-html").addEventListener("click", async () => {
  const model = app.model?.id ?? state.model;
  try {
    await saveHTML(model, encodeState({ ...state, model }));
  } catch (err) {
    showError(`cannot save this view as HTML: ${err.message}`);
  }
});

/** A saved file: its model and trace (and its compare runs, its lesson step's caption), no server;
 * the controls that need one are off. */
function bootSaved() {
  applyTeacher(state.teach, false);
  timeline.speed = state.speed;
  picker.setModels(savedModels(saved));
  initial.states = async () => saved.states; // the start state the trace ran from, computed by the server
  chooseModel(saved.model, false);
  goOffline(saved);
  if (saved.lesson) lessons.showSaved(saved.lesson);
}

// ---- boot --------------------------------------------------------------------------------------

/** A model named in the URL but not listed: the server rebuilds a random one from its id. */
async function recover(id) {
  return fetchModel(id).catch(() => null);
}

async function boot() {
  await lessons.open(state.lesson, state.step); // classroom: a lesson step's link sets the state before anything reads it
  applyLimits();
  applyTeacher(state.teach, false);
  timeline.speed = state.speed;
  openPanels();
  let models;
  try {
    models = (await getJSON("/api/models")).models;
  } catch (err) {
    showError(err.message);
    return;
  }
  picker.setModels(models);
  getJSON("/api/tasks").then(({ tasks }) => {
    trainPanel.setTasks(tasks, models);
    zoo.render(models, tasks);
  }, (err) => trainPanel.showError(err.message));
  let model = state.model ? picker.get(state.model) : null;
  let missing = null;
  if (state.model && !model) {
    model = await recover(state.model);
    if (model) picker.add(model);
    else missing = `The model “${state.model}” is not on this server; showing another one.`;
  }
  for (const id of state.compare) {
    if (picker.get(id)) continue;
    const other = await recover(id);
    if (other) picker.add(other);
  }
  const fresh = !model;
  model ??= firstModel(models);
  if (!model) {
    // No shipped models: start from a random text LSTM, so there is still something to watch.
    model = await postJSON("/api/models", { arch: "lstm", vocab: "ascii", hidden_size: 32, num_layers: 1, seed: 0 });
    picker.add(model);
  }
  chooseModel(model, fresh && firstVisit);
  if (missing) showError(missing); // after chooseModel's run, which clears old errors
}

if (saved) bootSaved(); // export (issue 10)
else boot();
