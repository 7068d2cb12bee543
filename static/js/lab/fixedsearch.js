// The fixed-point search's one home (issue 11): the request POST /api/analysis/fixed-points gets
// from the lab's state (the constant input fpx=, starts fpc=, seed fps=, seeded from this input's
// trajectory), its remembered answer, and the answer drawn on a projection's axes (stable points
// filled, unstable ones open, time constants on hover). The Fixed points tab and the Projection
// tab both use it, so both draw the same points from one search.

import { postJSON } from "../api.js";
import { fmt, sci, tokenLabel } from "../format.js";

export const FIXED_POINTS_URL = "/api/analysis/fixed-points";

function readsText(model) {
  return model.vocab && model.vocab.every((token) => [...token].length === 1);
}

/** What the constant input field takes, for its hint. */
export function constantHint(model) {
  return readsText(model) || model.vocab
    ? "one character or token; empty: a space (or the first token)"
    : `${model.input_size} numbers; empty: zeros`;
}

/** The constant input as the API takes it: one character, one token, or one row (zeros by default). */
export function constantInput(model, text) {
  if (readsText(model)) {
    const ch = text ? [...text][0] : model.vocab.includes(" ") ? " " : model.vocab[0];
    return { text: ch, label: `‘${tokenLabel(ch)}’` };
  }
  if (model.vocab) {
    const token = text || model.vocab[0];
    return { tokens: [token], label: `‘${token}’` };
  }
  const row = text ? text.split(/[\s,]+/).filter(Boolean).map(Number) : new Array(model.input_size).fill(0);
  return { inputs: [row], label: text ? `[${row.join(", ")}]` : "zeros" };
}

/** The search the lab's state asks for: {body, label (the constant input, for a title), count}. */
export function fixedPointSearch(lab) {
  const knobs = lab.knobs;
  const { label, ...constant } = constantInput(lab.model, knobs.fpx);
  const count = Number(knobs.fpc) || 32;
  const body = {
    model: lab.model.id, gru_variant: lab.variant, ...constant, layer: lab.layer,
    count, seed: Number(knobs.fps) || 0, trajectory: lab.input.payload,
  };
  return { body, label, count };
}

// The last few searches' answers by request, so switching between the two tabs searches once.
const remembered = new Map();
const REMEMBER = 4;

/** postJSON, but a fixed-point search asked for before is answered from memory. */
export function rememberingPost(url, body) {
  if (url !== FIXED_POINTS_URL) return postJSON(url, body);
  const key = JSON.stringify(body);
  if (!remembered.has(key)) {
    const answer = postJSON(url, body);
    answer.catch(() => remembered.delete(key));
    remembered.set(key, answer);
    if (remembered.size > REMEMBER) remembered.delete(remembered.keys().next().value);
  }
  return remembered.get(key);
}

/** Forget the remembered answers (a forced recompute). */
export function forgetSearches() {
  remembered.clear();
}

/** A state's coordinates on a projection's components: (h − mean) · component_k. */
export function projectState(hidden, projection) {
  return projection.components.map((row) => row.reduce((sum, w, j) => sum + w * (hidden[j] - projection.mean[j]), 0));
}

/** The first four finite time constants, "12.30, 4.10, …". */
export function timeConstants(point) {
  const finite = point.time_constants.filter((tc) => tc !== null);
  return finite.slice(0, 4).map((tc) => fmt(tc, 2)).join(", ") + (finite.length > 4 ? ", …" : "");
}

/**
 * The found points on ``projection``'s axes as two traces, stable (filled) and unstable (open),
 * in 2-D or 3-D; each point's index in the answer is its customdata, and its hover gives q(s),
 * max |λ| and the time constants in steps.
 */
export function fixedPointTraces(found, projection, dims) {
  const coords = found.points.map((p) => projectState(p.hidden, projection));
  return [true, false].map((stable) => {
    const idx = found.points.map((_, k) => k).filter((k) => found.points[k].stable === stable);
    const trace = {
      type: dims === 3 ? "scatter3d" : "scatter", mode: "markers",
      name: stable ? "stable fixed point" : "unstable fixed point",
      x: idx.map((k) => coords[k][0]), y: idx.map((k) => coords[k][1]), customdata: idx,
      text: idx.map((k) => {
        const p = found.points[k];
        const top = Math.hypot(...p.eigenvalues[0]);
        return `point ${k}, ${stable ? "stable" : "unstable"}<br>q(s) = ${sci(p.speed)}<br>max |λ| = ${fmt(top)}` +
          `<br>time constants: ${timeConstants(p)} steps`;
      }),
      marker: {
        // An open symbol is drawn in marker.color: both black, filled or open.
        size: dims === 3 ? 7 : 15, color: "#111", symbol: stable ? "circle" : "circle-open",
        line: { color: "#111", width: dims === 3 ? 2 : 2.5 },
      },
      hovertemplate: "%{text}<extra></extra>",
    };
    if (dims === 3) trace.z = idx.map((k) => coords[k][2]);
    return trace;
  });
}
