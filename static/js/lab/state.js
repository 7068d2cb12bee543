// The lab's view state in the URL hash. Keys shared with the main page (model, preset | text | csv,
// t, unit, layer, and the main page's others, kept as they are) come from ../state.js's table, so a
// link carries over either way; the lab's own table adds, after them:
//   tab=<view>  variant=cho  src=task
//   gf=<archs,...>  T=<steps>  H=<hidden>  scale=<r>  fb=<0|1>  nl=relu  seed=<n>  clip=<norm>
//   cost=<I>,<H>,<layers>,<steps>,<batch>  ps=<start>  pe=<end>  th=<threshold>
//   iv=<layer>,<quantity>,<unit unit ...>,<a>,<b>,<value>;... (clamps)  ivs=<quantity shown>
//   fpx=<constant input>  fpc=<count>  fps=<seed>  atm=gxi|ig  ats=<nodes>
//   pjfp=1 (the projection draws the fixed points)  pjax=own (compare paths each on their own PCs)
//   uf=<feature>  urx=<regex>  uq=<quantity>  us=input|task|file  uch=<task characters>
//   uc=<an uploaded corpus's id (POST /api/corpora)>
// The lab's values stay the strings its form fields hold.

import { MAIN_STATE, encodeState } from "../state.js";
import { UrlState, hashOf, hashWriter, key, paramsOf } from "../urlstate.js";

export const TABS = [
  "gradients", "saturation", "cost", "equations", "connectivity", "patterns",
  "interventions", "fixedpoints", "projection", "attribution", "units",
];

export const LAB_STATE = new UrlState([
  key("tab", "gradients", { parse: (tab) => (TABS.includes(tab) ? tab : undefined) }),
  key("variant", "torch"),
  key("src", "input"),
  key("gf", "rnn,lstm,gru"),
  key("T", "100"),
  key("H", "64"),
  key("scale", ""),
  key("fb", ""),
  key("nl", "tanh"),
  key("seed", "0"),
  key("clip", ""),
  key("cost", "32,128,1,32,16"),
  key("ps", ""),
  key("pe", ""),
  key("th", "0.3"),
  // issue 11: interventions, fixed points, attribution, units
  key("iv", ""),
  key("ivs", "hidden"),
  key("fpx", ""),
  key("fpc", "32"),
  key("fps", "0"),
  key("pjfp", ""),
  key("pjax", "shared", { parse: (axes) => (["shared", "own"].includes(axes) ? axes : undefined) }),
  key("atm", "ig"),
  key("ats", "16"),
  key("uf", "quotes"),
  key("urx", ""),
  key("uq", "hidden"),
  key("us", "input"),
  key("uch", "10000"),
  key("uc", ""),
]);

/** {main: the main page's state (../state.js), lab: this page's own keys}. */
export function readLabState(hash = window.location.hash) {
  const params = paramsOf(hash);
  return { main: MAIN_STATE.read(params), lab: LAB_STATE.read(params) };
}

/** The hash: the shared keys as the main page writes them, then the lab's non-default keys. */
export function encodeLabState({ main, lab }) {
  return hashOf(LAB_STATE.write(lab, MAIN_STATE.write(main)));
}

/** The main page's URL for this model, input and selection (its other keys at their defaults;
 * presenter mode stays on until the teacher turns it off). */
export function mainPageURL(main, { unit, layer, t } = {}) {
  const state = { ...MAIN_STATE.defaults(), model: main.model, preset: main.preset, text: main.text, csv: main.csv };
  state.teach = main.teach;
  state.unit = unit ?? main.unit;
  state.layer = layer ?? main.layer;
  state.t = t ?? main.t;
  return "/" + encodeState(state);
}

/** Write the state without adding history entries, at most once per frame. */
export const writeLabState = hashWriter(encodeLabState);
