// Trajectories in state space (issue 11): the layer's hidden states over the input on their first
// principal components (POST /api/analysis/projection), in 2-D and in 3-D, colored by time, with
// the step cursor as a ringed point. A cursor move restyles the cursor trace only.

import { SEQUENTIAL } from "../colors.js";
import { $ } from "../dom.js";
import { tokenLabel } from "../format.js";
import { unitsIn } from "../sizes.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { LabView } from "./request.js";

const Plotly = window.Plotly;
export const CURSOR = { color: "#d00000", size: 18, symbol: "circle-open", line: { width: 3 } };

/** "PC1 (42.1% of variance)". */
export function pcTitle(k, ratios) {
  return `PC${k + 1} (${(100 * ratios[k]).toFixed(1)}% of variance)`;
}

/** Hover text per step: "t = 3 · ‘e’". */
export function stepLabels(steps, tokens) {
  return Array.from({ length: steps }, (_, t) => `t = ${t}${tokens ? ` · ‘${tokenLabel(tokens[t])}’` : ""}`);
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

export class ProjectionView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-projection");
    this.flat = $("pj-2d");
    this.space = $("pj-3d");
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const components = unitsIn(lab.model, lab.layer) >= 3 ? 3 : 2;
    const body = lab.body({ layer: lab.layer, components });
    if (JSON.stringify([["/api/analysis/projection", body]]) === this.lastKey) {
      if (this.data) await this.moveCursor();
      return;
    }
    this.data = null;
    await this.fetchAndDraw("/api/analysis/projection", body, {
      suffix: (data) => ` · fitted on ${data.fit_steps} steps of layer ${data.layer}`,
    });
  }

  async draw(data) {
    this.data = data;
    const ratios = data.explained_variance_ratio;
    const labels = stepLabels(data.steps, data.tokens);
    this.labels = labels;
    const t = Math.min(this.lab.step, data.steps - 1);
    const axis = (k) => ({ title: { text: pcTitle(k, ratios) }, zeroline: false, automargin: true });
    const font = baseFont();
    await Plotly.react(this.flat, [timeTrace(data.points, labels, 2), cursorTrace(data.points[t], labels[t], 2)], {
      title: title(`Layer ${data.layer}'s hidden states on 2 principal components`), font, height: 480,
      margin: { l: 64, r: 16, t: 52, b: 56 }, xaxis: axis(0), yaxis: axis(1), showlegend: false, hovermode: "closest",
    }, plotConfig("gatescope-lab-projection-2d"));
    if (!this.flat.dataset.wired) {
      this.flat.dataset.wired = "1";
      this.flat.on("plotly_click", (event) => {
        const point = event.points.find((p) => p.curveNumber === 0);
        if (point) this.intents.setStep(point.pointIndex);
      });
    }
    if (data.points[0].length < 3) {
      Plotly.purge(this.space);
      this.space.textContent = "3-D needs at least 3 hidden units.";
      return;
    }
    // Short titles in 3-D: the long ones collide with the tick labels at the corners.
    const axis3 = (k) => ({ title: { text: `PC${k + 1} (${(100 * ratios[k]).toFixed(1)}%)` } });
    await Plotly.react(this.space, [timeTrace(data.points, labels, 3), cursorTrace(data.points[t], labels[t], 3)], {
      title: title(`… and on 3 (% of variance; drag to turn)`), font, height: 480, margin: { l: 0, r: 0, t: 52, b: 0 },
      scene: { xaxis: axis3(0), yaxis: axis3(1), zaxis: axis3(2), aspectmode: "cube" }, showlegend: false,
    }, plotConfig("gatescope-lab-projection-3d"));
  }

  /** Only the cursor moved: restyle its trace in both plots. */
  async moveCursor() {
    const t = Math.min(this.lab.step, this.data.steps - 1);
    const p = this.data.points[t];
    await Plotly.restyle(this.flat, { x: [[p[0]]], y: [[p[1]]], text: [[this.labels[t]]] }, [1]);
    if (p.length > 2 && this.space.data) {
      await Plotly.restyle(this.space, { x: [[p[0]]], y: [[p[1]]], z: [[p[2]]], text: [[this.labels[t]]] }, [1]);
    }
  }
}
