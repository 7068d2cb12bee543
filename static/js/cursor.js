// The timestep cursor (and the selected unit's band) drawn over a Plotly figure as two DOM
// elements, moved with a CSS transform. Plotly redraws a whole heatmap on any relayout, even of
// one shape (about 90 ms for 128 units x 2000 steps on this machine), so the cursor lives beside
// the figure instead: moving it costs no Plotly call at all. Its geometry comes from the plot
// area (Plotly's drag rectangle) and the axis ranges, re-read after every Plotly draw (zoom, pan,
// resize, restyle).

import { el } from "./dom.js";

export class CursorOverlay {
  /** ``plotDiv`` must sit alone inside a ``position: relative`` wrapper (see wrapPlot). */
  constructor(plotDiv, { band = false } = {}) {
    this.div = plotDiv;
    this.t = 0;
    this.unit = null;
    this.geometry = null;
    this.line = el("div", "cursor-line");
    plotDiv.parentElement.append(this.line);
    if (band) {
      this.band = el("div", "unit-band");
      plotDiv.parentElement.append(this.band);
    }
    plotDiv.on("plotly_afterplot", () => this.measure());
    plotDiv.on("plotly_relayout", () => this.measure());
    this.measure();
  }

  /** Read the plot area and ranges once per Plotly draw; moves only use the cached numbers. */
  measure() {
    const area = this.div.querySelector(".nsewdrag");
    const layout = this.div._fullLayout ?? this.div.layout;
    if (!area || !layout?.xaxis?.range) return;
    const box = area.getBoundingClientRect();
    const origin = this.div.parentElement.getBoundingClientRect();
    this.geometry = {
      left: box.left - origin.left,
      top: box.top - origin.top,
      width: box.width,
      height: box.height,
      x: layout.xaxis.range.map(Number),
      y: layout.yaxis?.range?.map(Number) ?? null,
    };
    this.line.style.top = `${this.geometry.top}px`;
    this.line.style.height = `${this.geometry.height}px`;
    this.setT(this.t);
    if (this.unit !== null) this.setUnit(this.unit);
  }

  remove() {
    this.line.remove();
    this.band?.remove();
  }

  setT(t) {
    this.t = t;
    const g = this.geometry;
    if (!g) return;
    const [x0, x1] = g.x;
    const px = g.left + ((t - x0) / (x1 - x0)) * g.width;
    const inside = px >= g.left - 1 && px <= g.left + g.width + 1;
    this.line.style.transform = `translateX(${px}px)`;
    this.line.hidden = !inside;
  }

  setUnit(unit) {
    this.unit = unit;
    const g = this.geometry;
    if (!this.band || !g?.y) return;
    // Plotly puts range[0] at the bottom of the plot area, range[1] at the top.
    const [y0, y1] = g.y;
    const py = (v) => g.top + (1 - (v - y0) / (y1 - y0)) * g.height;
    const a = py(unit - 0.5);
    const b = py(unit + 0.5);
    const top = Math.max(g.top, Math.min(a, b));
    const bottom = Math.min(g.top + g.height, Math.max(a, b));
    this.band.hidden = bottom <= top;
    this.band.style.left = `${g.left}px`;
    this.band.style.width = `${g.width}px`;
    this.band.style.top = `${top}px`;
    this.band.style.height = `${bottom - top}px`;
  }
}

/** A plot div inside a positioned wrapper, appended to ``parent``. */
export function wrapPlot(parent, className) {
  const wrap = el("div", `plot-wrap ${className ?? ""}`.trim());
  const div = el("div", "plot");
  wrap.append(div);
  parent.append(wrap);
  return div;
}
