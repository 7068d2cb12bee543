// Math as DOM nodes: "c_{t−1}" and "h_t" become subscripts, everything else is text (never
// innerHTML), for the main page's equations (equations.js) and the lab's (lab/equations.js).
// equationRow is the lab's two-line row; the inspector's one-line row is line() in equations.js.

import { el } from "./dom.js";

/** Text to nodes with subscripts for x_t, C_{t−1}, W_f, h̃_t, ñ_t ... A symbol is one letter not
 * preceded by another (h̃: the letter and its combining tilde), so names such as go_backwards,
 * reset_after or proj_size stay as they are. */
export function math(text) {
  const nodes = [];
  const pattern = /(?<![A-Za-z\u0303])([A-Za-zσñ]\u0303?)_(\{[^}]*\}|[A-Za-z0-9]+)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(document.createTextNode(match[1]));
    nodes.push(el("sub", null, match[2].replace(/^\{|\}$/g, "")));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** A row: symbolic (math), then " = numbers" (muted), then " = result" (bold). */
export function equationRow(key, symbolic, numbers, result) {
  const row = el("div", "eq");
  row.dataset.eq = key;
  const sym = el("div", "eq-sym");
  sym.append(...math(symbolic));
  const calc = el("div", "eq-calc");
  if (numbers) calc.append(el("span", "eq-num", `= ${numbers} `));
  calc.append(el("span", "eq-res", `= ${result}`));
  row.append(sym, calc);
  return row;
}

export function note(text, className = "eq-note") {
  const p = el("p", className);
  p.append(...math(text));
  return p;
}
