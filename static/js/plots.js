// What every Plotly figure on the page shares: fonts (larger in teacher mode), the modebar with
// its PNG export, the time axis (characters for text) and titles. The cursor is in cursor.js.

import { tokenLabel } from "./format.js";

const Plotly = window.Plotly;

let fontSize = 14;

export function setFontSize(size) {
  fontSize = size;
}

export function baseFont() {
  return { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: fontSize, color: "#1b1f24" };
}

/** Plotly's config: no logo, and a PNG export named after the plot. */
export function plotConfig(filename) {
  return {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
    toImageButtonOptions: { format: "png", filename, scale: 2 },
  };
}

/** "token" for a vocabulary with multi-character tokens, else "character" (axis titles). */
export function tokenNoun(tokens) {
  return tokens?.some((token) => [...token].length > 1) ? "token" : "character";
}

/** Pixels one tick label of ``chars`` characters needs at the base font, a gap included. */
export function labelPixels(chars) {
  return Math.ceil(fontSize * (0.65 * Math.max(1, chars) + 0.35));
}

/**
 * The time axis: "timestep t", or for text the characters themselves as tick labels (when there
 * are few enough to read; otherwise numbers, since the text view shows the characters). ``room``
 * is the plot area's width in px: every k-th character is labelled, k chosen so that labels of
 * the longest token (about 14 px a character at the base font) never collide.
 */
export function timeAxis(steps, tokens, room = 1120) {
  const noun = tokens ? tokenNoun(tokens.slice(0, steps)) : null;
  const axis = {
    title: { text: noun ? `${noun} (timestep t)` : "timestep t" },
    range: [-0.5, Math.max(steps, 1) - 0.5],
    automargin: true,
    zeroline: false,
    showgrid: false,
  };
  if (tokens && steps <= 80) {
    axis.tickmode = "array";
    const labels = tokens.slice(0, steps).map((token) => tokenLabel(token));
    const widest = Math.max(1, ...labels.map((label) => [...label].length));
    const fits = Math.max(1, Math.floor(Math.max(0, room) / labelPixels(widest)));
    const stride = Math.max(1, Math.ceil(steps / fits));
    const shown = labels.map((_, t) => t).filter((t) => t % stride === 0);
    axis.tickvals = shown;
    axis.ticktext = shown.map((t) => plotText(labels[t]));
    axis.tickangle = 0;
    axis.title.text = `${noun} (one per timestep)`;
  } else if (steps <= 10) {
    Object.assign(axis, { tick0: 0, dtick: 1 }); // a few steps: whole timesteps, never t = 0.5
  }
  return axis;
}

/** The plot area's width in px inside ``div`` with these left and right margins (a colorbar's
 * width included in ``right``): what timeAxis needs before the plot exists. */
export function plotRoom(div, left, right) {
  return Math.max(0, (div.clientWidth || 0) - left - right);
}

/** User text (a token, a model's name) for Plotly's text, which reads its own HTML subset ("<s>"
 * would strike through): escaped, so it shows as typed. */
export function plotText(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** "gate i_t" -> "gate i<sub>t</sub>" for Plotly's text (our own strings only, never user text). */
export function subscripts(text) {
  return text.replace(/_(\{[^}]*\}|[A-Za-z0-9]+)/g, (_, sub) => `<sub>${sub.replace(/^\{|\}$/g, "")}</sub>`);
}

/** "hidden state h_t" -> "hidden state hₜ" for plain text (option labels). */
export function plainSubscripts(text) {
  return text.replaceAll("_{t−1}", "ₜ₋₁").replaceAll("_t", "ₜ");
}

/** Title at the top left, large enough to read from the back of a room. */
export function title(text) {
  return { text: subscripts(text), x: 0, xanchor: "left", font: { size: Math.round(fontSize * 1.15) } };
}

export function purge(div) {
  if (div && div.data) Plotly.purge(div);
}
