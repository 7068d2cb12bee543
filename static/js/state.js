// The main page's view state in the URL hash, so a reload or a shared link shows the same view.
// One table of keys (urlstate.js) reads and writes them, in this order:
//   model=<id>  compare=<id>,<id>  preset=<name> | text=<chars> | csv=<rows; newline-separated>
//   t=<step>  unit=<u>  layer=<l>  obj=hidden_norm|task|unit:<layer>,<unit>,<step>
//   color=<quantity coloring the text>  speed=<steps/s>  teach=1  open=train,zoo (open panels)
//   obj also: prediction | logit:<token>,<step> (models with a head)
//   dir=reverse (bidirectional models)  from=<model id>  fromin=<its input> (start from its last state)
//   order=index|variance|cluster  show=all|top:<k>|units:<u>,<u>…|span:<t0>-<t1> (units.js)
//   lesson=<id>  step=<k> (the lesson player, lessons.js)

import { UrlState, countKey, hashOf, hashWriter, key, listKey, paramsOf } from "./urlstate.js";

/** The collapsible panels whose open state the URL keeps. */
export const PANELS = ["train", "zoo"];

/** Parse an objective: "hidden_norm", "task", "prediction", {layer, unit, step} or {logit, step}
 * (the token is everything up to the last comma, so a token may hold commas). */
export function parseObjective(text) {
  if (!text || text === "hidden_norm" || text === "task" || text === "prediction") return text || "hidden_norm";
  const logit = /^logit:(.+),(\d+)$/s.exec(text);
  if (logit) return { logit: logit[1], step: Number(logit[2]) };
  const match = /^unit:(\d+),(\d+),(\d+)$/.exec(text);
  if (!match) return "hidden_norm";
  return { layer: Number(match[1]), unit: Number(match[2]), step: Number(match[3]) };
}

export function objectiveText(objective) {
  if (typeof objective === "string") return objective;
  if ("logit" in objective) return `logit:${objective.logit},${objective.step}`;
  return `unit:${objective.layer},${objective.unit},${objective.step}`;
}

/** The main page's keys; the lab reads and writes them too (lab/state.js). */
export const MAIN_STATE = new UrlState([
  key("model", null, { isDefault: (id) => !id }),
  listKey("compare", { max: 2 }),
  // One input: a preset, else text, else CSV rows.
  key("preset", null),
  key("text", null, { omit: (s) => s.preset !== null }),
  key("csv", null, { omit: (s) => s.preset !== null || s.text !== null }),
  countKey("t", null),
  countKey("unit", 0, { isDefault: (u) => !u }),
  countKey("layer", 0, { isDefault: (l) => !l }),
  key("obj", "hidden_norm", {
    parse: parseObjective, serialize: objectiveText, isDefault: (o) => objectiveText(o) === "hidden_norm",
  }),
  key("color", "hidden"),
  countKey("speed", 5, { positive: true }),
  key("teach", false, { parse: (text) => text === "1", serialize: () => "1", isDefault: (on) => !on }),
  listKey("open", { keep: (panel) => PANELS.includes(panel) }),
  // ---- your own model (issue 9): direction, initial state, unit order and subset ----
  key("dir", "forward", { parse: (text) => (text === "reverse" ? text : undefined) }),
  key("from", null),
  key("fromin", null, { omit: (s) => !s.from }),
  key("order", "index", { parse: (text) => (["index", "variance", "cluster"].includes(text) ? text : undefined) }),
  key("show", "all"),
  // A guided tour (lessons.js): the lesson's id and its step; last, so a step's link reads
  // as its view followed by where it is in the lesson.
  key("lesson", null, { isDefault: (id) => !id }),
  countKey("step", 0, { omit: (s) => !s.lesson, isDefault: () => false }),
]);

export function readState(hash = window.location.hash) {
  return MAIN_STATE.read(paramsOf(hash));
}

/** The hash for a state; only what differs from the defaults, in a stable key order. */
export function encodeState(state) {
  return hashOf(MAIN_STATE.write(state));
}

/** Write the state to the URL without adding history entries; coalesced to one write per frame. */
export const writeState = hashWriter(encodeState);
