// The whole view state lives in the URL hash, so a reload or a shared link shows the same view
// (as tensorflow/playground's state.ts does). Keys:
//   model=<id>  compare=<id>,<id>  preset=<name> | text=<chars> | csv=<rows; newline-separated>
//   t=<step>  unit=<u>  layer=<l>  obj=hidden_norm|task|unit:<layer>,<unit>,<step>
//   color=<quantity coloring the text>  speed=<steps/s>  teach=1  open=train,zoo (open panels)

const DEFAULTS = {
  model: null,
  compare: [],
  preset: null,
  text: null,
  csv: null,
  t: null,
  unit: 0,
  layer: 0,
  obj: "hidden_norm",
  color: "hidden",
  speed: 5,
  teach: false,
  open: [],
};

/** The collapsible panels whose open state the URL keeps. */
export const PANELS = ["train", "zoo"];

function int(value, fallback) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** Parse an objective: "hidden_norm", "task" or {layer, unit, step}. */
export function parseObjective(text) {
  if (!text || text === "hidden_norm" || text === "task") return text || "hidden_norm";
  const match = /^unit:(\d+),(\d+),(\d+)$/.exec(text);
  if (!match) return "hidden_norm";
  return { layer: Number(match[1]), unit: Number(match[2]), step: Number(match[3]) };
}

export function objectiveText(objective) {
  if (typeof objective === "string") return objective;
  return `unit:${objective.layer},${objective.unit},${objective.step}`;
}

export function readState(hash = window.location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const state = { ...DEFAULTS, compare: [], open: [] };
  if (params.has("model")) state.model = params.get("model");
  if (params.get("compare")) state.compare = params.get("compare").split(",").filter(Boolean).slice(0, 2);
  if (params.has("preset")) state.preset = params.get("preset");
  if (params.has("text")) state.text = params.get("text");
  if (params.has("csv")) state.csv = params.get("csv");
  if (params.has("t")) state.t = int(params.get("t"), null);
  state.unit = int(params.get("unit"), 0);
  state.layer = int(params.get("layer"), 0);
  state.obj = parseObjective(params.get("obj"));
  if (params.has("color")) state.color = params.get("color");
  state.speed = int(params.get("speed"), DEFAULTS.speed) || DEFAULTS.speed;
  state.teach = params.get("teach") === "1";
  if (params.get("open")) state.open = params.get("open").split(",").filter((p) => PANELS.includes(p));
  return state;
}

/** The hash for a state; only what differs from the defaults, in a stable key order. */
export function encodeState(state) {
  const params = new URLSearchParams();
  if (state.model) params.set("model", state.model);
  if (state.compare.length) params.set("compare", state.compare.join(","));
  if (state.preset !== null) params.set("preset", state.preset);
  else if (state.text !== null) params.set("text", state.text);
  else if (state.csv !== null) params.set("csv", state.csv);
  if (state.t !== null) params.set("t", String(state.t));
  if (state.unit) params.set("unit", String(state.unit));
  if (state.layer) params.set("layer", String(state.layer));
  const obj = objectiveText(state.obj);
  if (obj !== "hidden_norm") params.set("obj", obj);
  if (state.color !== DEFAULTS.color) params.set("color", state.color);
  if (state.speed !== DEFAULTS.speed) params.set("speed", String(state.speed));
  if (state.teach) params.set("teach", "1");
  if (state.open.length) params.set("open", state.open.join(","));
  return "#" + params.toString();
}

let pending = null;

/** Write the state to the URL without adding history entries; coalesced to one write per frame. */
export function writeState(state) {
  pending = state;
  if (writeState.scheduled) return;
  writeState.scheduled = true;
  requestAnimationFrame(() => {
    writeState.scheduled = false;
    const hash = encodeState(pending);
    if (hash !== window.location.hash) {
      history.replaceState(null, "", hash === "#" ? window.location.pathname + window.location.search : hash);
    }
  });
}
