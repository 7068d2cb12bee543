// The inspection panel at the cursor: every unit's gate values, c_{t−1} -> c_t (LSTM) or
// h_{t−1} -> h_t, and dL/dh_t, in a table built once per trace whose cells are rewritten on each
// cursor move; above it the selected unit's equations with its numbers plugged in.

import { colorOf, rangeFor } from "./colors.js";
import { equationNodes } from "./equations.js";
import { fmt, sci } from "./format.js";

const $ = (id) => document.getElementById(id);

/** Columns: [key in the table, header, how to read the value, color kind]. */
function columnsFor(data) {
  const cols = data.quantities
    .filter((q) => data.gateNames.includes(q.key))
    .map((q) => ({ key: q.key, head: `${q.label}_t`, read: (l, t, u) => data.value(l, q.key, t, u), kind: q.kind }));
  const hiddenKind = data.quantities.find((q) => q.key === "hidden").kind;
  if (data.arch === "lstm") {
    cols.push({ key: "cell_prev", head: "c_{t−1}", read: (l, t, u) => data.previous(l, "cell", t, u), kind: "signed" });
    cols.push({ key: "cell", head: "c_t", read: (l, t, u) => data.value(l, "cell", t, u), kind: "signed" });
  } else {
    cols.push({ key: "hidden_prev", head: "h_{t−1}", read: (l, t, u) => data.previous(l, "hidden", t, u), kind: hiddenKind });
  }
  cols.push({ key: "hidden", head: "h_t", read: (l, t, u) => data.value(l, "hidden", t, u), kind: hiddenKind });
  cols.push({
    key: "grad_hidden", head: "dL/dh_t", read: (l, t, u) => data.layers[l].grad_hidden?.[t]?.[u] ?? null,
    kind: null, format: (v) => sci(v, 1),
  });
  return cols;
}

function header(text) {
  const th = document.createElement("th");
  const match = /^(.*?)_(\{[^}]*\}|t)$/.exec(text);
  if (match) {
    const sub = document.createElement("sub");
    sub.textContent = match[2].replace(/^\{|\}$/g, "");
    th.append(match[1], sub);
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
    this.cells = [];
  }

  build(data, layer) {
    this.data = data;
    this.layer = layer;
    this.columns = columnsFor(data);
    const range = (kind) => (kind === "signed" ? { ...rangeFor("tanh") } : kind === "relu" ? rangeFor("relu", [[1]]) : rangeFor(kind));
    this.ranges = this.columns.map((c) => (c.kind ? range(c.kind) : null));
    const headRow = document.createElement("tr");
    headRow.append(header("unit"), ...this.columns.map((c) => header(c.head)));
    this.table.tHead.replaceChildren(headRow);
    const body = document.createDocumentFragment();
    this.rows = [];
    this.cells = [];
    for (let u = 0; u < data.units; u += 1) {
      const tr = document.createElement("tr");
      tr.dataset.unit = String(u);
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = String(u);
      tr.append(th);
      const cells = this.columns.map((c) => {
        const td = document.createElement("td");
        td.dataset.q = c.key;
        tr.append(td);
        return td;
      });
      tr.addEventListener("click", () => this.onUnit(u));
      body.append(tr);
      this.rows.push(tr);
      this.cells.push(cells);
    }
    this.table.tBodies[0].replaceChildren(body);
  }

  /** Rewrite the numbers for step t and the selected unit's equations. */
  update(t, unit, tokenText) {
    const data = this.data;
    if (!data) return;
    this.title.textContent = `t = ${t}${tokenText}`;
    const l = this.layer;
    const pending = t >= data.steps;
    for (let u = 0; u < data.units; u += 1) {
      const cells = this.cells[u];
      this.columns.forEach((c, k) => {
        const value = pending ? null : c.read(l, t, u);
        const td = cells[k];
        td.textContent = (c.format ?? fmt)(value);
        const range = this.ranges[k];
        if (range && value !== null) {
          const color = colorOf(value, range);
          td.style.backgroundColor = color.css;
          td.style.color = color.light ? "#fff" : "#111";
        } else {
          td.style.backgroundColor = "";
          td.style.color = "";
        }
      });
    }
    this.rows.forEach((tr, u) => tr.classList.toggle("selected", u === unit));
    if (pending) {
      this.equations.replaceChildren(document.createTextNode("waiting for this step…"));
      return;
    }
    const heading = document.createElement("div");
    heading.className = "eq-head";
    heading.textContent = `Unit ${unit}${data.layers.length > 1 ? `, layer ${l}` : ""}, step ${t}:`;
    const v = (key) => data.value(l, key, t, unit);
    const prev = (key) => data.previous(l, key, t, unit);
    this.equations.replaceChildren(heading, ...equationNodes(data.model, l, t, v, prev));
  }

  scrollToUnit(unit) {
    this.rows[unit]?.scrollIntoView({ block: "nearest" });
  }
}
