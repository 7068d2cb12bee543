// The lab's view state in the URL hash. Keys shared with the main page (model, preset | text | csv,
// t, unit, layer) are read and written by ../state.js, so a link carries over either way; the
// lab adds its own:
//   tab=<view>  variant=cho  src=task
//   gf=<archs,...>  T=<steps>  H=<hidden>  scale=<r>  fb=<0|1>  nl=relu  seed=<n>  clip=<norm>
//   cost=<I>,<H>,<layers>,<steps>,<batch>  ps=<start>  pe=<end>  th=<threshold>

import { encodeState, readState } from "../state.js";

export const TABS = ["gradients", "saturation", "cost", "equations", "connectivity", "patterns"];

const LAB_DEFAULTS = {
  tab: "gradients",
  variant: "torch",
  src: "input",
  gf: "rnn,lstm,gru",
  T: "100",
  H: "64",
  scale: "",
  fb: "",
  nl: "tanh",
  seed: "0",
  clip: "",
  cost: "32,128,1,32,16",
  ps: "",
  pe: "",
  th: "0.3",
};

/** {main: the main page's state (../state.js), lab: this page's own keys as strings}. */
export function readLabState(hash = window.location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const lab = { ...LAB_DEFAULTS };
  for (const key of Object.keys(LAB_DEFAULTS)) {
    if (params.has(key)) lab[key] = params.get(key);
  }
  if (!TABS.includes(lab.tab)) lab.tab = LAB_DEFAULTS.tab;
  return { main: readState(hash), lab };
}

/** The hash: the shared keys as the main page writes them, then the lab's non-default keys. */
export function encodeLabState({ main, lab }) {
  const params = new URLSearchParams(encodeState(main).replace(/^#/, ""));
  for (const [key, value] of Object.entries(lab)) {
    if (value !== LAB_DEFAULTS[key] && value !== null && value !== undefined) params.set(key, String(value));
  }
  return "#" + params.toString();
}

/** The main page's URL for this model, input and selection (its other keys at their defaults). */
export function mainPageURL(main, { unit, layer, t } = {}) {
  const state = { ...readState(""), model: main.model, preset: main.preset, text: main.text, csv: main.csv };
  state.unit = unit ?? main.unit;
  state.layer = layer ?? main.layer;
  state.t = t ?? main.t;
  return "/" + encodeState(state);
}

let pending = null;

/** Write the state without adding history entries, at most once per frame. */
export function writeLabState(state) {
  pending = state;
  if (writeLabState.scheduled) return;
  writeLabState.scheduled = true;
  requestAnimationFrame(() => {
    writeLabState.scheduled = false;
    const hash = encodeLabState(pending);
    if (hash !== window.location.hash) history.replaceState(null, "", hash === "#" ? "/lab" : hash);
  });
}
