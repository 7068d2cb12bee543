// What every Plotly figure on the page shares: fonts (larger in teacher mode), the modebar with
// its PNG export, the time axis (characters for text), and the timestep cursor drawn as a layout
// shape that moves with one small Plotly.relayout, never a redraw of the data.

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

/**
 * The time axis: "timestep t", or for text the characters themselves as tick labels (when there
 * are few enough to read; otherwise numbers, since the text view shows the characters).
 */
export function timeAxis(steps, tokens) {
  const axis = {
    title: { text: tokens ? "character (timestep t)" : "timestep t" },
    range: [-0.5, Math.max(steps, 1) - 0.5],
    zeroline: false,
    showgrid: false,
  };
  if (tokens && steps <= 80) {
    axis.tickmode = "array";
    axis.tickvals = tokens.slice(0, steps).map((_, t) => t);
    axis.ticktext = tokens.slice(0, steps).map(tokenLabel);
    axis.tickangle = 0;
    axis.title.text = "character (one per timestep)";
  }
  return axis;
}

/** Cursor shapes: a white halo under a dark line, so it shows on every colorscale. */
export function cursorShapes(t) {
  const line = (color, width) => ({
    type: "line", xref: "x", yref: "paper", x0: t, x1: t, y0: 0, y1: 1, layer: "above",
    line: { color, width },
  });
  return [line("rgba(255,255,255,0.9)", 5), line("#111", 2)];
}

/** Move the cursor: touches the two shapes only (editType "arraydraw": no data redraw). */
export function moveCursor(div, t) {
  if (!div || !div.layout) return;
  Plotly.relayout(div, {
    "shapes[0].x0": t, "shapes[0].x1": t,
    "shapes[1].x0": t, "shapes[1].x1": t,
  });
}

/** "gate i_t" -> "gate i<sub>t</sub>" for Plotly's text (our own strings only, never user text). */
export function subscripts(text) {
  return text.replace(/_(\{[^}]*\}|[A-Za-z0-9]+)/g, (_, sub) => `<sub>${sub.replace(/^\{|\}$/g, "")}</sub>`);
}

/** Title at the top left, large enough to read from the back of a room. */
export function title(text) {
  return { text: subscripts(text), x: 0, xanchor: "left", font: { size: Math.round(fontSize * 1.15) } };
}

export function purge(div) {
  if (div && div.data) Plotly.purge(div);
}
