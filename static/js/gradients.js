// ||dL/dh_t|| (and ||dL/dc_t|| for the LSTM) per step on a log axis: an exponential decay
// toward early steps, the vanishing gradient, shows as a straight slope.

import { CursorOverlay } from "./cursor.js";
import { logTicks } from "./lab/logaxis.js";
import { baseFont, plotConfig, plotRoom, purge, subscripts, timeAxis, title } from "./plots.js";

const Plotly = window.Plotly;
/** Width the legend takes right of the plot area (its longest name, ‖dL/dc_t‖ · layer 1). */
const LEGEND_ROOM = 16 + 170;
const COLORS = ["#1f4e9c", "#d1495b", "#2a9d8f", "#8d5fd3"];

/** Log axes cannot show 0: a gradient that is exactly zero is drawn as a gap. */
function positive(values) {
  return values ? values.map((v) => (v > 0 ? v : null)) : [];
}

export class GradientPlot {
  constructor(div) {
    this.div = div;
    this.data = null;
    this.height = 300;
  }

  build(data, t, objectiveLabel) {
    purge(this.div);
    this.data = data;
    const traces = [];
    data.layers.forEach((layer, l) => {
      const which = [data.layers.length > 1 ? `layer ${l}` : "", data.direction === "reverse" ? "reverse" : ""].filter(Boolean);
      const suffix = which.length ? ` (${which.join(", ")})` : "";
      traces.push({
        type: "scatter", mode: "lines", name: subscripts(`‖dL/dh_t‖${suffix}`),
        y: positive(layer.gradNorm.hidden), line: { color: COLORS[l % 4], width: 2.5 },
        hovertemplate: `‖dL/dh<sub>t</sub>‖${suffix} = %{y:.3e}<br>t = %{x}<extra></extra>`,
      });
      if (data.arch === "lstm") {
        traces.push({
          type: "scatter", mode: "lines", name: subscripts(`‖dL/dc_t‖${suffix}`),
          y: positive(layer.gradNorm.cell), line: { color: COLORS[l % 4], width: 2, dash: "dash" },
          hovertemplate: `‖dL/dc<sub>t</sub>‖${suffix} = %{y:.3e}<br>t = %{x}<extra></extra>`,
        });
      }
    });
    const layout = {
      title: title(`Gradient norms per step, log scale (L = ${objectiveLabel}); vanishing shows as a slope`),
      font: baseFont(),
      height: this.height,
      margin: { l: 76, r: 16, t: 48, b: 48 },
      xaxis: timeAxis(data.capacity, data.tokens, plotRoom(this.div, 76, LEGEND_ROOM)),
      yaxis: { type: "log", automargin: true, title: { text: "gradient norm (log)" }, exponentformat: "power" },
      // Right of the plot area: below it the legend sat on the x axis title.
      legend: { x: 1.02, xanchor: "left", y: 1, yanchor: "top" },
      showlegend: true, // a GRU's or an RNN's one curve is named too
      annotations: data.complete ? [] : [waiting()],
    };
    Plotly.newPlot(this.div, traces, layout, plotConfig(`gatescope-${data.model.id}-gradients`));
    this.cursor?.remove(); // purge dropped its listeners
    this.cursor = new CursorOverlay(this.div);
    this.cursor.setT(t);
  }

  /** Gradients arrived (the stream's "done"): restyle y, re-fit the axes. */
  refresh() {
    const data = this.data;
    if (!data || !this.div.data) return;
    const ys = [];
    data.layers.forEach((layer) => {
      ys.push(positive(layer.gradNorm.hidden));
      if (data.arch === "lstm") ys.push(positive(layer.gradNorm.cell));
    });
    Plotly.restyle(this.div, { y: ys });
    const ticks = logTicks(ys.flat().filter((v) => v !== null));
    Plotly.relayout(this.div, {
      xaxis: timeAxis(data.capacity, data.tokens, plotRoom(this.div, 76, LEGEND_ROOM)),
      "yaxis.autorange": true,
      "yaxis.tickmode": ticks.tickmode ?? "auto",
      "yaxis.tickvals": ticks.tickvals ?? null,
      "yaxis.ticktext": ticks.ticktext ?? null,
      annotations: data.complete ? [] : [waiting()],
    });
  }

  setCursor(t) {
    this.cursor?.setT(t);
  }
}

function waiting() {
  return {
    text: "gradients arrive when the whole sequence has run", xref: "paper", yref: "paper",
    x: 0.5, y: 0.5, showarrow: false, font: { size: 16, color: "#57606a" },
  };
}
