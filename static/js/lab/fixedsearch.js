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

/** Below this q(s) = ½‖F(s) − s‖² a point counts as fixed; above, it is a slow point (Sussillo &
 * Barak): the search's minimum, where the state still drifts. The search's default tolerance
 * (FixedPointsRequest.tolerance), which the lab uses. */
export const FIXED_BELOW = 1e-3;

/** "fixed point" or "slow point", by the point's q(s). */
export function pointKind(point) {
  return point.speed < FIXED_BELOW ? "fixed point" : "slow point";
}

/** "fixed point", "slow point" or "fixed or slow point" for a set of points (a legend name). */
function kindOfAll(points) {
  const kinds = new Set(points.map(pointKind));
  return kinds.size === 1 ? [...kinds][0] : "fixed or slow point";
}

/** −1/log|λ| of the largest |λ| for the table: its decay time, or for |λ| > 1 (a negative value)
 * the time its mode takes to grow e-fold. */
export function timeConstantText(tc) {
  if (tc === null) return "∞";
  return tc < 0 ? `grows ×e in ${fmt(-tc, 1)}` : fmt(tc, 2);
}

/** "time constants: 12.30, 4.10, … steps" of the decaying modes (|λ| < 1), and for the growing
 * ones (|λ| > 1, where −1/log|λ| is negative) how fast the fastest grows: "grows ×e in 6.8 steps". */
export function timeConstants(point) {
  const finite = point.time_constants.filter((tc) => tc !== null);
  const growing = finite.filter((tc) => tc < 0);
  const decaying = finite.filter((tc) => tc >= 0);
  const parts = [];
  if (growing.length) {
    const more = growing.length > 1 ? ` (${growing.length} growing modes)` : "";
    parts.push(`grows ×e in ${fmt(-growing[0], 1)} steps${more}`);
  }
  if (decaying.length) {
    const list = decaying.slice(0, 4).map((tc) => fmt(tc, 2)).join(", ") + (decaying.length > 4 ? ", …" : "");
    parts.push(`time constants: ${list} steps`);
  }
  return parts.join("<br>") || "time constants: none finite";
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
      name: `${stable ? "stable" : "unstable"} ${kindOfAll(idx.map((k) => found.points[k]))}`,
      x: idx.map((k) => coords[k][0]), y: idx.map((k) => coords[k][1]), customdata: idx,
      text: idx.map((k) => {
        const p = found.points[k];
        const top = Math.hypot(...p.eigenvalues[0]);
        return `${pointKind(p)} ${k}, ${stable ? "stable" : "unstable"}<br>q(s) = ${sci(p.speed)}<br>max |λ| = ${fmt(top)}` +
          `<br>${timeConstants(p)}`;
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
