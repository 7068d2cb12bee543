// Units x time heatmaps, one per gate plus the cell and hidden states of the selected layer.
// Each is drawn once with Plotly.newPlot; streamed steps restyle z; the cursor and the selected
// unit's band are overlays (cursor.js) that move without any Plotly call. The rows are the units
// chosen in units.js, in their order (row k shows unit units[k]); a new order restyles z.

import { rangeFor } from "./colors.js";
import { CursorOverlay, wrapPlot } from "./cursor.js";
import { baseFont, plotConfig, plotRoom, purge, timeAxis, title } from "./plots.js";
import { kindColorbar } from "./quantities.js";

const Plotly = window.Plotly;

/** The plot area's width in a heatmap: its margins (64 + 16 px) and the colorbar (~90 px) off. */
function heatmapRoom(div) {
  return plotRoom(div, 64, 16 + 90);
}

export class HeatmapGrid {
  constructor(container, { onPick }) {
    this.container = container;
    this.onPick = onPick;
    this.divs = [];
    this.cursors = [];
    this.data = null;
    this.layer = 0;
    this.drawnSteps = 0; // the trace's steps when z was last drawn
    this.height = 250;
    this.units = null; // the unit shown on each row; null: all, by index
  }

  /** Rows of ``key`` for the units shown. */
  shownRows(key) {
    const rows = this.data.rows(this.layer, key);
    return this.units ? this.units.map((u) => rows[u]) : rows;
  }

  /** The y axis: with a chosen order or subset, a category axis whose labels are unit ids. */
  yAxis() {
    const n = this.units ? this.units.length : this.data.unitsOf(this.layer);
    return {
      title: { text: this.units ? "unit (as ordered)" : "unit" }, automargin: true, zeroline: false, showgrid: false,
      type: this.units ? "category" : "linear",
      range: [n - 0.5, -0.5], // the first row at the top
      ...(!this.units && n <= 10 ? { tick0: 0, dtick: 1 } : {}), // a few units: whole unit ids
    };
  }

  /** Row labels: the unit ids shown (category axis), or none (rows are units 0 … H−1). */
  yLabels() {
    return this.units ? this.units.map(String) : undefined;
  }

  /** The row showing ``unit``, or -1 when it is not shown. */
  rowOf(unit) {
    return this.units ? this.units.indexOf(unit) : unit;
  }

  /** Draw every heatmap of ``layer`` (once per trace, or when the layer changes). */
  build(data, layer, t, unit, units = null) {
    this.divs.forEach(purge);
    this.units = units;
    this.container.replaceChildren();
    this.data = data;
    this.layer = layer;
    this.shownCapacity = data.capacity;
    this.drawnSteps = data.steps;
    this.cursors = [];
    this.divs = data.quantities.map((q) => {
      const div = wrapPlot(this.container, "heatmap");
      div.parentElement.dataset.quantity = q.key;
      const rows = this.shownRows(q.key);
      const range = rangeFor(q.kind, rows);
      const trace = {
        type: "heatmap",
        z: rows,
        y: this.yLabels(),
        name: q.title,
        colorscale: range.scale,
        zmin: range.zmin,
        zmax: range.zmax,
        colorbar: kindColorbar(q.kind),
        hovertemplate: `${q.label}<sub>t</sub> = %{z:.4f}<br>t = %{x}, unit %{y}<extra></extra>`,
        hoverongaps: false,
      };
      const reverse = data.direction === "reverse"; // a bidirectional model's other direction
      const layerNote = (data.layers.length > 1 ? ` · layer ${layer}` : "") + (reverse ? " · reverse" : "");
      const layout = {
        title: title(`${q.title}${layerNote}`),
        font: baseFont(),
        height: this.height,
        margin: { l: 64, r: 16, t: 44, b: 52 },
        xaxis: timeAxis(data.capacity, data.tokens, heatmapRoom(div)),
        yaxis: this.yAxis(),
      };
      Plotly.newPlot(div, [trace], layout, plotConfig(`gatescope-${data.model.id}-${q.key}-layer${layer}${reverse ? "-reverse" : ""}`));
      this.selectedUnit = unit;
      const cursor = new CursorOverlay(div, { band: true });
      cursor.setT(t);
      cursor.setUnit(this.rowOf(unit));
      this.cursors.push(cursor);
      div.on("plotly_click", (event) => {
        const point = event.points?.[0];
        if (point) this.onPick(Math.round(point.x), this.units ? Number(point.y) : Math.round(point.y));
      });
      return div;
    });
  }

  /** New steps arrived: restyle z (and the color range of unbounded quantities). */
  refresh() {
    if (!this.data) return;
    const data = this.data;
    this.divs.forEach((div, k) => {
      const q = data.quantities[k];
      const rows = this.shownRows(q.key);
      const update = { z: [rows] };
      if (q.kind === "signed" || q.kind === "relu") {
        const range = rangeFor(q.kind, rows);
        update.zmin = [range.zmin];
        update.zmax = [range.zmax];
      }
      Plotly.restyle(div, update, [0]);
      if (data.capacity !== this.shownCapacity) {
        Plotly.relayout(div, { xaxis: timeAxis(data.capacity, data.tokens, heatmapRoom(div)) });
      }
    });
    this.shownCapacity = data.capacity;
    this.drawnSteps = data.steps;
  }

  setCursor(t) {
    this.cursors.forEach((c) => c.setT(t));
  }

  setUnit(unit) {
    this.selectedUnit = unit;
    this.cursors.forEach((c) => c.setUnit(this.rowOf(unit)));
  }

  /** Show other units, or the same in another order: restyle z, no new plot. */
  setUnits(units) {
    if (!this.data) return;
    this.units = units;
    this.divs.forEach((div, k) => {
      const q = this.data.quantities[k];
      Plotly.restyle(div, { z: [this.shownRows(q.key)], y: [this.yLabels() ?? null] }, [0]);
      Plotly.relayout(div, { yaxis: this.yAxis() });
    });
    if (this.selectedUnit !== undefined) this.setUnit(this.selectedUnit);
  }
}
