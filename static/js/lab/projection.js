// Trajectories in state space (issue 11): the layer's hidden states over the input on their first
// principal components (POST /api/analysis/projection), in 2-D and in 3-D, colored by time, with
// the step cursor as a ringed point; optionally the fixed points of the constant input (the Fixed
// points tab's search, fixedsearch.js) on the same axes, and the lab's compare models' paths on
// the same input. A compare model with as many hidden units joins this model's PCA (axes
// "shared": one set of axes for both paths); any other is drawn on its own PCs in small multiples
// below, aligned by the time colors and the cursor. A cursor move restyles the cursor traces only.

import { SEQUENTIAL } from "../colors.js";
import { $, el } from "../dom.js";
import { tokenLabel } from "../format.js";
import { compatible } from "../models.js";
import { unitsIn } from "../sizes.js";
import { baseFont, plotConfig, plotText, purge, title } from "../plots.js";
import {
  FIXED_POINTS_URL, constantInput, fixedPointSearch, fixedPointTraces, forgetSearches, rememberingPost,
} from "./fixedsearch.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
export const CURSOR = { color: "#d00000", size: 18, symbol: "circle-open", line: { width: 3 } };
/** This model's path, then the compare models': line color, dash and marker symbol (2-D and 3-D). */
const PATH_STYLES = [
  { color: "#8a939c", dash: "solid", symbol: "circle" },
  { color: "#e08214", dash: "dash", symbol: "diamond" },
  { color: "#5e3c99", dash: "dot", symbol: "square" },
];

/** "PC1 (42.1% of variance)". */
export function pcTitle(k, ratios) {
  return `PC${k + 1} (${(100 * ratios[k]).toFixed(1)}% of variance)`;
}

/** Hover text per step: "t = 3 · ‘e’" (tokens escaped for Plotly's text). */
export function stepLabels(steps, tokens) {
  return Array.from({ length: steps }, (_, t) => `t = ${t}${tokens ? ` · ‘${plotText(tokenLabel(tokens[t]))}’` : ""}`);
}

/** The trajectory as a line of points colored by time, with a labelled colorbar. */
export function timeTrace(points, labels, dims, extra = {}) {
  const steps = points.length;
  const trace = {
    type: dims === 3 ? "scatter3d" : "scatter", mode: "lines+markers", name: "trajectory",
    x: points.map((p) => p[0]), y: points.map((p) => p[1]), text: labels,
    line: { color: "#b0b7bf", width: dims === 3 ? 3 : 1.5 },
    marker: {
      color: points.map((_, t) => t), colorscale: SEQUENTIAL, cmin: 0, cmax: Math.max(steps - 1, 1),
      size: dims === 3 ? 4 : 8,
      colorbar: { title: { text: "step t", side: "right" }, thickness: 14, len: 0.8 },
    },
    hovertemplate: "%{text}<extra></extra>", ...extra,
  };
  if (dims === 3) trace.z = points.map((p) => p[2]);
  return trace;
}

export function cursorTrace(point, label, dims) {
  const trace = {
    type: dims === 3 ? "scatter3d" : "scatter", mode: "markers", name: "cursor", x: [point[0]], y: [point[1]],
    text: [label], marker: dims === 3 ? { ...CURSOR, symbol: "circle-open", size: 10 } : CURSOR,
    hovertemplate: "cursor, %{text}<extra></extra>", showlegend: false,
  };
  if (dims === 3) trace.z = [point[2]];
  return trace;
}

/** One model's path in a plot: its points, hover labels, style and meta ("path:<model id>"). */
function pathTrace(path, dims, style, { colorbar = false } = {}) {
  const trace = timeTrace(path.points, path.labels, dims, { name: path.name, meta: `path:${path.model}` });
  trace.line = { ...trace.line, color: style.color, dash: style.dash };
  trace.marker.symbol = style.symbol;
  trace.marker.showscale = colorbar;
  if (!colorbar) delete trace.marker.colorbar;
  return trace;
}

function pathCursor(path, t, dims) {
  const trace = cursorTrace(path.points[t], path.labels[t], dims);
  trace.meta = `cursor:${path.model}`;
  return trace;
}

/** "PC1 (42.1%)": the 3-D scene's and the small multiples' shorter axis titles. */
function shortTitle(k, ratios) {
  return `PC${k + 1} (${(100 * ratios[k]).toFixed(1)}%)`;
}

/** The paths a plot holds and where its cursor traces are, so a cursor move restyles only those. */
class PathPlot {
  constructor(div, paths, dims, cursorFrom) {
    this.div = div;
    this.paths = paths;
    this.dims = dims;
    this.cursors = paths.map((_, k) => cursorFrom + k);
  }

  async moveCursor(t) {
    const at = this.paths.map((p) => Math.min(t, p.points.length - 1));
    const update = {
      x: this.paths.map((p, k) => [p.points[at[k]][0]]),
      y: this.paths.map((p, k) => [p.points[at[k]][1]]),
      text: this.paths.map((p, k) => [p.labels[at[k]]]),
    };
    if (this.dims === 3) update.z = this.paths.map((p, k) => [p.points[at[k]][2]]);
    await Plotly.restyle(this.div, update, this.cursors);
  }
}

export class ProjectionView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-projection");
    this.flat = $("pj-2d");
    this.space = $("pj-3d");
    this.others = $("pj-others");
    this.caption = $("pj-caption");
    this.form = $("pj-form");
    this.plots = [];
    const f = this.form.elements;
    f.compare_a.addEventListener("change", () => intents.setCompare([f.compare_a.value, f.compare_b.value]));
    f.compare_b.addEventListener("change", () => intents.setCompare([f.compare_a.value, f.compare_b.value]));
    f.axes.addEventListener("change", () => intents.change({ pjax: f.axes.value }));
    f.fixed.addEventListener("change", () => intents.change({ pjfp: f.fixed.checked ? "1" : "" }));
    f.input.addEventListener("change", () => intents.change({ fpx: f.input.value }));
    this.form.addEventListener("submit", (event) => event.preventDefault());
  }

  forget() {
    super.forget();
    forgetSearches();
  }

  /** The compare models' selects: the models that read this input, the chosen ones selected. */
  showKnobs(compare) {
    const lab = this.lab;
    const f = this.form.elements;
    const options = compatible(lab.models, lab.model);
    [f.compare_a, f.compare_b].forEach((select, k) => {
      select.replaceChildren(new Option("—", ""),
        ...options.map((m) => new Option(`${m.name} (${m.arch.toUpperCase()}, ${m.hidden_size} units)`, m.id)));
      select.value = compare[k]?.id ?? "";
    });
    f.axes.value = lab.knobs.pjax;
    f.fixed.checked = lab.knobs.pjfp === "1";
    f.input.value = lab.knobs.fpx;
    f.input.placeholder = constantInput(lab.model, "").label;
    f.input.disabled = !f.fixed.checked;
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const compare = lab.compare;
    this.showKnobs(compare);
    const components = unitsIn(lab.model, lab.layer) >= 3 ? 3 : 2;
    const { usable, refused } = splitCompare(lab.model, compare);
    const others = usable.map((m) => {
      const layer = Math.min(lab.layer, m.num_layers - 1);
      const shared = lab.knobs.pjax === "shared" && unitsIn(m, layer) === unitsIn(lab.model, lab.layer);
      return { model: m.id, layer, axes: shared ? "shared" : "own",
        ...(shared ? {} : { components: 2 }) };
    });
    const body = lab.body({ layer: lab.layer, components, ...(others.length ? { others } : {}) });
    const requests = [["/api/analysis/projection", body]];
    const search = lab.knobs.pjfp === "1" ? fixedPointSearch(lab) : null;
    if (search) requests.push([FIXED_POINTS_URL, search.body]);
    if (JSON.stringify(requests) === this.lastKey) {
      if (this.data) await this.moveCursor();
      return;
    }
    this.data = null;
    this.context = { usable, refused, search };
    await this.fetchAllAndDraw(requests, {
      busy: search ? "projecting and searching for fixed points…" : "projecting…",
      post: rememberingPost,
      suffix: ([data]) => ` · fitted on ${data.fit_steps} steps of layer ${data.layer}`,
    });
  }

  async draw([data, found]) {
    this.data = data;
    const { usable, refused, search } = this.context;
    const lab = this.lab;
    const name = (id) => lab.models.find((m) => m.id === id)?.name ?? id;
    const labelsOf = (steps, who) => stepLabels(steps, data.tokens).map((l) => (who ? `${plotText(who)}, ${l}` : l));
    const many = data.paths.length > 0;
    const mine = {
      model: data.model, name: name(data.model), points: data.points,
      labels: labelsOf(data.steps, many ? name(data.model) : null),
    };
    const paths = data.paths.map((p) => ({ ...p, name: name(p.model), labels: labelsOf(p.steps, name(p.model)) }));
    const shared = [mine, ...paths.filter((p) => p.axes === "shared")];
    const own = paths.filter((p) => p.axes === "own");
    const styles = new Map([mine, ...paths].map((p, k) => [p.model, PATH_STYLES[k % PATH_STYLES.length]]));
    const t = Math.min(lab.step, data.steps - 1);
    const ratios = data.explained_variance_ratio;
    const font = baseFont();
    this.plots = [];

    // 2-D: every shared path, the fixed points, then one cursor per path (restyled on a move).
    const fixed2 = found ? fixedPointTraces(found, data, 2) : [];
    const traces = [
      ...shared.map((p, k) => pathTrace({ ...p, name: plotText(p.name) }, 2, styles.get(p.model), { colorbar: k === 0 })),
      ...fixed2,
    ];
    this.plots.push(new PathPlot(this.flat, shared, 2, traces.length));
    traces.push(...shared.map((p) => pathCursor(p, t, 2)));
    const legend = shared.length > 1 || found;
    const axis = (k) => ({ title: { text: pcTitle(k, ratios) }, zeroline: false, automargin: true });
    const whose = shared.length > 1 ? `${shared.length} models' hidden states (layer ${data.layer})` : `Layer ${data.layer}'s hidden states`;
    await Plotly.react(this.flat, traces, {
      title: title(`${whose} on 2 principal components`), font, height: legend ? 540 : 480,
      margin: { l: 64, r: 16, t: 52, b: legend ? 40 : 56 }, xaxis: axis(0), yaxis: axis(1),
      // Below the x axis's title (which sits about 0.14 of the plot's height down).
      showlegend: Boolean(legend), legend: { orientation: "h", x: 0, y: -0.2, yanchor: "top" }, hovermode: "closest",
    }, plotConfig("gatescope-lab-projection-2d"));
    this.wireClicks(this.flat);

    if (data.points[0].length < 3) {
      purge(this.space);
      this.space.textContent = "3-D needs at least 3 hidden units.";
    } else {
      // Short titles and few ticks in 3-D: more collide at the corners.
      const axis3 = (k) => ({ title: { text: shortTitle(k, ratios) }, nticks: 5 });
      const traces3 = [
        ...shared.map((p, k) => pathTrace({ ...p, name: plotText(p.name) }, 3, styles.get(p.model), { colorbar: k === 0 })),
        ...(found ? fixedPointTraces(found, data, 3) : []),
      ];
      this.plots.push(new PathPlot(this.space, shared, 3, traces3.length));
      traces3.push(...shared.map((p) => pathCursor(p, t, 3)));
      await Plotly.react(this.space, traces3, {
        title: title(`… and on 3 (% of variance; drag to turn)`), font, height: legend ? 540 : 480,
        margin: { l: 0, r: 0, t: 52, b: 0 },
        // The camera a little farther than Plotly's (1.25, 1.25, 1.25), so the axis titles at the
        // bottom corners stay inside the plot.
        scene: { xaxis: axis3(0), yaxis: axis3(1), zaxis: axis3(2), aspectmode: "cube",
          camera: { eye: { x: 1.5, y: 1.5, z: 1.15 } } },
        showlegend: false, uirevision: "turned", // a redraw keeps the reader's turn
      }, plotConfig("gatescope-lab-projection-3d"));
    }
    await this.drawOwn(own, styles, t, data.steps);
    this.caption.textContent = caption({ data, mine, shared, own, refused, found, search, usable });
  }

  /** The compare models on their own PCs: one small 2-D plot each, the same time colors and cursor. */
  async drawOwn(own, styles, t, steps) {
    const divs = [...this.others.children];
    for (const div of divs.slice(own.length)) {
      purge(div);
      div.remove();
    }
    for (let k = divs.length; k < own.length; k += 1) {
      const div = el("div", "plot");
      div.dataset.testid = `pj-own-${k}`;
      this.others.append(div);
    }
    const divsNow = [...this.others.children];
    for (const [k, path] of own.entries()) {
      const div = divsNow[k];
      div.dataset.model = path.model;
      const trace = pathTrace({ ...path, name: plotText(path.name) }, 2, styles.get(path.model));
      trace.marker.cmax = Math.max(steps - 1, 1); // the main plot's time colors
      const ratios = path.explained_variance_ratio;
      const axis = (i) => ({ title: { text: shortTitle(i, ratios) }, zeroline: false, automargin: true });
      const plot = new PathPlot(div, [path], 2, 1);
      this.plots.push(plot);
      await Plotly.react(div, [trace, pathCursor(path, Math.min(t, path.points.length - 1), 2)], {
        title: title(`${plotText(path.name)} (${path.arch.toUpperCase()}, ${path.hidden_size} units): its own PCs`),
        font: baseFont(), height: 380, margin: { l: 64, r: 16, t: 52, b: 56 }, xaxis: axis(0), yaxis: axis(1),
        showlegend: false, hovermode: "closest",
      }, plotConfig(`gatescope-lab-projection-${path.model}`));
      this.wireClicks(div);
    }
  }

  /** A click on any path's point moves the cursor to that step. */
  wireClicks(div) {
    if (div.dataset.wired) return;
    div.dataset.wired = "1";
    div.on("plotly_click", (event) => {
      const point = event.points.find((p) => String(p.data.meta ?? "").startsWith("path:"));
      if (point) this.intents.setStep(point.pointIndex);
    });
  }

  /** Only the cursor moved: restyle every path's cursor trace, in every plot. */
  async moveCursor() {
    const t = Math.min(this.lab.step, this.data.steps - 1);
    await Promise.all(this.plots.map((plot) => plot.moveCursor(t)));
  }
}

/** The compare models the projection can run (unidirectional, no projections, 2 units or more). */
function splitCompare(model, compare) {
  const why = (m) => m.bidirectional ? "is bidirectional" : m.proj_size ? "has LSTM projections"
    : m.hidden_size < 2 ? "has one hidden unit" : null;
  return {
    usable: compare.filter((m) => !why(m)),
    refused: compare.filter((m) => why(m)).map((m) => `${m.name} ${why(m)}: no path drawn.`),
  };
}

/** Which picture is shown, in words: shared axes or each model's own, and the fixed points. */
function caption({ data, mine, shared, own, refused, found, search, usable }) {
  const parts = [];
  if (!usable.length && !refused.length) {
    parts.push("Only this model's path: pick compare models above (those that read the same input).");
  } else if (shared.length > 1) {
    const names = `${shared.slice(0, -1).map((p) => p.name).join(", ")} and ${shared.at(-1).name}`;
    parts.push(`Shared axes: one PCA fitted on the hidden states of ${names} (${data.mean.length} units each, ` +
      `${data.fit_steps} steps in all), so their paths are on the same axes; the same step has the same color.`);
  } else {
    parts.push(`${mine.name}'s own PCs above.`);
  }
  for (const p of own) {
    const reason = p.hidden_size === data.mean.length
      ? "is drawn on its own PCs below, as asked (Axes)"
      : `has ${p.hidden_size} hidden units, not ${data.mean.length}: its units are other axes, so its path is drawn on its own PCs below`;
    parts.push(`${p.name} ${reason}, colored by the same steps and with the same cursor.`);
  }
  parts.push(...refused);
  if (found) {
    const stable = found.points.filter((p) => p.stable).length;
    parts.push(`Fixed points of ${mine.name} under the constant input ${search.label}: ${stable} stable (filled), ` +
      `${found.points.length - stable} unstable (open), from ${search.count} starts, on the same axes; hover one for its time constants.`);
  }
  return parts.join(" ");
}
