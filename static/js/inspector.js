// The inspection panel at the cursor: every unit's gate values, c_{t−1} -> c_t (LSTM) or
// h_{t−1} -> h_t, and dL/dh_t, in a table built once per trace; above it the selected unit's
// equations with its numbers plugged in.
//
// A cursor move must stay cheap at H=128 (about 1,150 cells): rows are persistent elements, only
// the rows on screen are rewritten (an IntersectionObserver says which, without forcing a
// layout), a row scrolled into view catches up, and a cell is written only when its text or
// color changed.

import { colorOf, rangeFor } from "./colors.js";
import { $, el } from "./dom.js";
import { equationNodes } from "./equations.js";
import { fmt, sci } from "./format.js";


/** Columns: [key in the table, header, how to read the value, color kind]. */
function columnsFor(data) {
  const cols = data.quantities
    .filter((q) => data.gateNames.includes(q.key))
    .map((q) => ({ key: q.key, head: `${q.label}_t`, read: (l, t, u) => data.value(l, q.key, t, u), kind: q.kind }));
  const hiddenKind = data.quantities.find((q) => q.key === "hidden").kind;
  // The reverse direction, and a model that reads right to left, start each step from the state
  // at t + 1 (they read from the end).
  const before = data.fromEnd ? "t+1" : "t−1";
  if (data.arch === "lstm") {
    cols.push({ key: "cell_prev", head: `c_{${before}}`, read: (l, t, u) => data.previous(l, "cell", t, u), kind: "signed" });
    cols.push({ key: "cell", head: "c_t", read: (l, t, u) => data.value(l, "cell", t, u), kind: "signed" });
  } else {
    cols.push({ key: "hidden_prev", head: `h_{${before}}`, read: (l, t, u) => data.previous(l, "hidden", t, u), kind: hiddenKind });
  }
  cols.push({ key: "hidden", head: "h_t", read: (l, t, u) => data.value(l, "hidden", t, u), kind: hiddenKind });
  cols.push({
    key: "grad_hidden", head: "dL/dh_t", read: (l, t, u) => data.layers[l].grad_hidden?.[t]?.[u] ?? null,
    kind: null, format: (v) => sci(v, 1),
  });
  return cols;
}

function header(text) {
  const th = el("th");
  const match = /^(.*?)_(\{[^}]*\}|t)$/.exec(text);
  if (match) {
    th.append(match[1], el("sub", null, match[2].replace(/^\{|\}$/g, "")));
  } else {
    th.textContent = text;
  }
  return th;
}

export class Inspector {
  constructor({ onUnit }) {
    this.onUnit = onUnit;
    this.table = $("insp-table");
    this.equations = $("equations");
    this.title = $("insp-t");
    this.data = null;
    this.rows = [];
    this.cells = [];
    this.visible = new Set(); // units whose row is on screen
    this.shown = []; // per unit: the "layer:t" its cells show now
    this.at = null; // what the table should show: {t, key}
    this.selected = -1;
    this.observer = new IntersectionObserver((entries) => this.onVisibility(entries), { rootMargin: "120px 0px" });
    this.table.tBodies[0].addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-unit]");
      if (row) this.onUnit(Number(row.dataset.unit));
    });
  }

  /** One row per unit of ``units`` (the order and subset on screen; default all, by index). */
  build(data, layer, units = null) {
    this.data = data;
    this.layer = layer;
    this.columns = columnsFor(data);
    const range = (kind) => (kind === "signed" ? { ...rangeFor("tanh") } : kind === "relu" ? rangeFor("relu", [[1]]) : rangeFor(kind));
    this.ranges = this.columns.map((c) => (c.kind ? range(c.kind) : null));
    const headRow = el("tr");
    headRow.append(header("unit"), ...this.columns.map((c) => header(c.head)));
    this.table.tHead.replaceChildren(headRow);
    this.observer.disconnect();
    this.visible.clear();
    const body = document.createDocumentFragment();
    const count = data.unitsOf(layer); // this layer's units (a stack's layers may differ in size)
    this.rows = new Array(count);
    this.cells = new Array(count);
    for (const u of units ?? Array.from({ length: count }, (_, k) => k)) {
      const tr = el("tr");
      tr.dataset.unit = String(u);
      const th = el("th", null, String(u));
      th.scope = "row";
      tr.append(th);
      this.cells[u] = this.columns.map((c) => {
        const td = el("td");
        td.dataset.q = c.key;
        tr.append(td);
        return td;
      });
      body.append(tr);
      this.rows[u] = tr;
      this.observer.observe(tr);
    }
    this.table.tBodies[0].replaceChildren(body);
    // What each cell shows, so an unchanged one is never written again.
    this.texts = Array.from(this.cells, (row) => row?.map(() => ""));
    this.colors = Array.from(this.cells, (row) => row?.map(() => ""));
    this.shown = new Array(count).fill(null);
    this.selected = -1;
    this.at = null;
  }

  /** Rewrite the numbers for step t (the rows on screen) and the selected unit's equations. */
  update(t, unit, tokenText) {
    const data = this.data;
    if (!data) return;
    this.title.textContent = `t = ${t}${tokenText}`;
    const l = this.layer;
    const pending = t >= data.steps;
    // "pending" and the step count are in the key: rows refill as the stream brings steps in.
    this.at = { t, key: `${l}:${t}:${pending ? "p" : data.steps}:${data.complete}` };
    for (const u of this.visible) this.fill(u);
    if (unit !== this.selected) {
      this.rows[this.selected]?.classList.remove("selected");
      this.rows[unit]?.classList.add("selected");
      this.selected = unit;
    }
    if (pending) {
      this.equations.replaceChildren(document.createTextNode("waiting for this step…"));
      return;
    }
    const heading = el("div", "eq-head", `Unit ${unit}${data.layers.length > 1 ? `, layer ${l}` : ""}, step ${t}:`);
    const v = (key) => data.value(l, key, t, unit);
    const prev = (key) => data.previous(l, key, t, unit);
    this.equations.replaceChildren(heading, ...equationNodes(data.model, l, t, v, prev, data.direction === "reverse"));
  }

  /** Bring row ``u`` up to the current step, touching only the cells that change. */
  fill(u) {
    const at = this.at;
    if (!at || !this.cells[u] || this.shown[u] === at.key) return;
    this.shown[u] = at.key;
    const pending = at.t >= this.data.steps;
    const cells = this.cells[u];
    const texts = this.texts[u];
    const colors = this.colors[u];
    for (let k = 0; k < this.columns.length; k += 1) {
      const c = this.columns[k];
      const value = pending ? null : c.read(this.layer, at.t, u);
      const td = cells[k];
      const text = (c.format ?? fmt)(value);
      if (texts[k] !== text) {
        texts[k] = text;
        td.textContent = text;
      }
      const range = this.ranges[k];
      const color = range && value !== null ? colorOf(value, range) : null;
      const css = color ? color.css : "";
      if (colors[k] !== css) {
        colors[k] = css;
        td.style.backgroundColor = css;
        td.style.color = color ? (color.light ? "#fff" : "#111") : "";
      }
    }
  }

  onVisibility(entries) {
    for (const entry of entries) {
      const u = Number(entry.target.dataset.unit);
      if (entry.isIntersecting) {
        this.visible.add(u);
        this.fill(u);
      } else {
        this.visible.delete(u);
      }
    }
  }

  scrollToUnit(unit) {
    this.rows[unit]?.scrollIntoView({ block: "nearest" });
  }
}
