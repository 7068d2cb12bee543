// export (issue 10): "Save as HTML" downloads this view as one file (GET /export.html: the trace,
// Plotly, these scripts and styles inline), and that file runs here offline. It carries its view as
// data (a <script type="application/json" id="gatescope-saved">: {version, hash, model, states,
// trace, compare, lesson}, gatescope.web.saved); SavedRunner shows that trace where TraceRunner
// would stream one, savedTracer answers the compare view from the saved runs, and the controls that
// need the server are disabled or hidden, with a note that says so.

import { ApiError, detailText } from "./api.js";
import { $ } from "./dom.js";
import { download } from "./export.js";
import { TraceRunner } from "./runner.js";
import { TraceData } from "./trace.js";

/** The saved view this file carries, or null on the live page. */
export function savedView() {
  const node = document.getElementById("gatescope-saved");
  return node ? JSON.parse(node.textContent) : null;
}

/** "gatescope-random-lstm-iascii-h8-l1-s0.html": the model id, safe as a file name. */
export function savedFileName(modelId) {
  return `gatescope-${String(modelId).replace(/[^\w.-]+/g, "_")}.html`;
}

/** Download exactly what GET /export.html returns for the view in ``hash`` (the page's hash). */
export async function saveHTML(modelId, hash) {
  let response;
  try {
    response = await fetch(`/export.html?${hash.replace(/^#/, "")}`);
  } catch (err) {
    throw new ApiError(`cannot reach the server: ${err.message}`);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(detailText(body?.detail, response.status));
  }
  download(savedFileName(modelId), "text/html", await response.blob());
}

/** The runner of a saved file: every run shows the one trace the file holds, as a whole. */
export class SavedRunner extends TraceRunner {
  constructor(saved, hooks) {
    super(hooks);
    this.saved = saved;
  }

  start(model) {
    this.stop();
    const data = TraceData.fromResponse(model, this.saved.trace);
    data.h0 = this.saved.states?.h0 ?? null;
    data.c0 = this.saved.states?.c0 ?? null;
    this.data = data;
    this.hooks.start(data);
    this.flush();
    this.hooks.done(data, this.saved.trace.loss);
  }

  append() {
    return false; // typing cannot extend a saved trace
  }
}

/** The models a saved file knows: its own, then the ones it compares with. */
export function savedModels(saved) {
  return [saved.model, ...(saved.compare?.runs.slice(1).map((run) => run.model) ?? [])];
}

/**
 * The compare view's tracer in a saved file: a compared model's saved run (the primary's is the
 * main trace when the server left it null). Anything else needs the server: an ApiError saying so.
 */
export function savedTracer(saved) {
  return async (model, body) => {
    const run = saved.compare?.runs.find((r) => r.model.id === model.id);
    if (!run || body.objective !== saved.compare.objective) {
      throw new ApiError(`this saved file holds no run of ${model.name} for this comparison; open it in gatescope`);
    }
    return run.trace ?? saved.trace;
  };
}

const NEEDS_SERVER = ["model-select", "preset-select", "objective-select", "run-button", "stop-button"];

/** Mark the page offline: what needs the server is disabled (or hidden by CSS: body.offline). */
export function goOffline(saved) {
  document.body.classList.add("offline");
  for (const id of NEEDS_SERVER) $(id).disabled = true;
  $("input-text").readOnly = true;
  $("input-hint").textContent = "The input this trace ran on (read-only in a saved file).";
  const others = savedModels(saved).slice(1).map((m) => m.name);
  document.body.classList.toggle("offline-compare", others.length > 0);
  const note = $("offline-note");
  const compared = others.length ? `, compared with ${others.join(" and ")} on the same input` : "";
  note.textContent = `Saved view (gatescope ${saved.version}): this file holds one trace of ` +
    `${saved.model.name}, ${saved.trace.steps} steps${compared}. Play, scrub and inspect it here; other ` +
    "inputs, objectives, models, comparisons and training need gatescope itself.";
  note.hidden = false;
}
