// The cell diagram: an SVG picture of one LSTM, GRU or RNN cell in the spirit of colah's
// "Understanding LSTM Networks", live at the cursor for the selected unit. Each gate is a node
// showing its value, each arrow carries its value (color by value, width by magnitude: a diverging
// scale for signed values, a sequential one for gates in [0, 1]), the LSTM's cell state runs
// along the top as a conveyor belt, and each node's equation is its tooltip (<title>).
//
// The picture is built once per trace (build) from a per-architecture layout (diagram/*.js);
// a cursor move only rewrites texts, colors and widths (update), it never rebuilds the SVG.

import { colorOf, rangeFor } from "./colors.js";
import { fmt } from "./format.js";
import { plainSubscripts } from "./plots.js";
import { gruLayout } from "./diagram/gru.js";
import { lstmLayout } from "./diagram/lstm.js";
import { rnnLayout } from "./diagram/rnn.js";

const SVG = "http://www.w3.org/2000/svg";
const LAYOUTS = { lstm: lstmLayout, gru: gruLayout, rnn: rnnLayout };

function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.append(node);
  return node;
}

/** "f_t" -> text with a subscript tspan. */
function label(parent, text, attrs) {
  const node = svg("text", attrs, parent);
  const [base, sub] = text.split("_");
  node.append(base);
  if (sub !== undefined) {
    const s = svg("tspan", { "baseline-shift": "sub", "font-size": "70%" }, node);
    s.textContent = sub.replace(/^\{|\}$/g, "");
  }
  return node;
}

/** The layout for the reverse direction of a bidirectional model, which reads the input from the
 * end: its step t follows step t + 1, so every "t−1" in its names and equations reads "t+1". */
function fromTheEnd(layout) {
  const swap = (value) => (typeof value === "string" ? value.replaceAll("t−1", "t+1") : value);
  const each = (part) => Object.fromEntries(Object.entries(part).map(([k, v]) => [k, swap(v)]));
  return { ...layout, title: swap(layout.title), edges: layout.edges.map(each), nodes: layout.nodes.map(each) };
}

export class CellDiagram {
  /** ``container``: an element the SVG goes in; ``caption`` names whose cell it is. */
  constructor(container) {
    this.container = container;
    this.root = null;
    this.data = null;
    this.parts = [];
  }

  /** Draw the cell of ``data``'s architecture (once per trace or layer). */
  build(data, layer) {
    this.data = data;
    this.layer = layer;
    const make = LAYOUTS[data.arch];
    if (!make) {
      this.container.replaceChildren();
      return;
    }
    const layout = data.direction === "reverse" ? fromTheEnd(make(data.model)) : make(data.model);
    const rows = (key) => data.rows(layer, key) ?? [];
    // Color ranges: gates on [0, 1]; tanh values on [−1, 1]; the unbounded cell state symmetric
    // at its largest |value| in this trace, so its colors compare along the whole sequence.
    this.ranges = {
      sigmoid: rangeFor("sigmoid"),
      tanh: rangeFor("tanh"),
      relu: rangeFor("relu", rows("hidden")),
      cell: data.arch === "lstm" ? rangeFor("signed", rows("cell")) : rangeFor("tanh"),
    };
    const root = svg("svg", {
      viewBox: `0 0 ${layout.width} ${layout.height}`, class: `cell-diagram arch-${data.arch}`,
      role: "img", "aria-label": layout.title,
    });
    const title = svg("title", {}, root);
    title.textContent = layout.title;
    const defs = svg("defs", {}, root);
    const marker = svg("marker", {
      id: `arrow-${data.arch}-${Math.random().toString(36).slice(2, 8)}`, viewBox: "0 0 10 10", refX: 7, refY: 5,
      markerWidth: 11, markerHeight: 11, orient: "auto-start-reverse", markerUnits: "userSpaceOnUse",
    }, defs);
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#444" }, marker);
    for (const box of layout.boxes ?? []) {
      svg("rect", { ...box, class: box.class ?? "cell-box", rx: 14 }, root);
    }
    this.parts = [];
    for (const edge of layout.edges) {
      const g = svg("g", { class: `edge ${edge.class ?? ""}`.trim(), "data-edge": edge.key }, root);
      const tip = svg("title", {}, g);
      const path = svg("path", { d: edge.d, fill: "none", "marker-end": edge.arrow === false ? "" : `url(#${marker.id})` }, g);
      let text = null;
      if (!edge.value) path.setAttribute("class", "static");
      if (edge.label) {
        const [x, y] = edge.label;
        // The name sits 4 px up so its subscript (t−1) clears the value below it.
        const name = edge.name ? label(g, edge.name, { x, y: y - 4, class: "edge-name", "text-anchor": edge.anchor ?? "middle" }) : null;
        if (edge.value) text = svg("text", { x, y: y + (name ? 15 : 0), class: "edge-value", "text-anchor": edge.anchor ?? "middle" }, g);
      }
      this.parts.push({ kind: "edge", spec: edge, path, tip, text, shown: "" });
    }
    for (const node of layout.nodes) {
      const g = svg("g", { class: `node node-${node.shape}`, "data-node": node.key, tabindex: 0 }, root);
      const tip = svg("title", {}, g);
      let shape;
      let text = null;
      if (node.shape === "op") {
        // Filled with its value's color like the boxes; the sign turns white on a dark fill.
        shape = svg("circle", { cx: node.x, cy: node.y, r: 13, fill: "#fff" }, g);
        svg("text", { x: node.x, y: node.y + 5, class: "op-sign", "text-anchor": "middle" }, g).textContent = node.sign;
        if (node.valueAt) {
          const [dx, dy] = node.valueAt;
          text = svg("text", { x: node.x + dx, y: node.y + dy, class: "node-value small",
            "text-anchor": dx < 0 ? "end" : dx > 0 ? "start" : "middle" }, g);
        }
      } else {
        const w = node.w ?? 64;
        const h = node.h ?? 44;
        shape = svg("rect", { x: node.x - w / 2, y: node.y - h / 2, width: w, height: h, rx: 7 }, g);
        label(g, node.name, { x: node.x, y: node.y - 5, class: "node-name", "text-anchor": "middle" });
        text = svg("text", { x: node.x, y: node.y + 14, class: "node-value", "text-anchor": "middle" }, g);
      }
      this.parts.push({ kind: "node", spec: node, shape, tip, text, shown: "" });
    }
    this.root = root;
    this.container.replaceChildren(root);
  }

  /** The selected unit's numbers at step t: texts, colors and widths only. */
  update(t, unit) {
    const data = this.data;
    if (!this.root || !data) return;
    const ready = t < data.steps;
    const at = {
      v: (key) => data.value(this.layer, key, t, unit),
      prev: (key) => data.previous(this.layer, key, t, unit),
    };
    for (const part of this.parts) {
      const spec = part.spec;
      if (!spec.value) continue; // a vector (x_t, the gates' inputs): drawn once, gray
      const value = ready ? spec.value(at) : null;
      const text = value === null || value === undefined ? "–" : fmt(value);
      if (text === part.shown) continue;
      part.shown = text;
      const range = this.ranges[spec.kind] ?? this.ranges.tanh;
      const color = value === null || value === undefined ? null : colorOf(value, range);
      if (part.text) part.text.textContent = text;
      if (part.kind === "edge") {
        // Width by magnitude relative to the scale's end; the color says the sign (or how open).
        const top = Math.max(Math.abs(range.zmin), Math.abs(range.zmax));
        const mag = value === null ? 0 : Math.min(1, Math.abs(value) / top);
        part.path.setAttribute("stroke", color ? color.css : "#bbb");
        part.path.setAttribute("stroke-width", (2 + 7 * mag).toFixed(2));
        part.tip.textContent = `${plainSubscripts(spec.tip ?? spec.name ?? spec.key)} = ${text}`;
      } else {
        part.shape.setAttribute("fill", color ? color.css : "#eee");
        part.shape.parentNode.classList.toggle("light", Boolean(color?.light));
        part.tip.textContent = `${plainSubscripts(spec.eq)} = ${text}`;
      }
    }
  }
}
