// Math as DOM nodes: "c_{t−1}" and "h_t" become subscripts, everything else is text (never
// innerHTML), for the main page's equations (equations.js) and the lab's (lab/equations.js).
// equationRow is the lab's two-line row; the inspector's one-line row is line() in equations.js.

/** Text to nodes with subscripts for x_t, C_{t−1}, W_f, h̃_t, ñ_t ... */
export function math(text) {
  const nodes = [];
  const pattern = /([A-Za-zσñ\u0303])_(\{[^}]*\}|[A-Za-z0-9]+)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(document.createTextNode(match[1]));
    const sub = document.createElement("sub");
    sub.textContent = match[2].replace(/^\{|\}$/g, "");
    nodes.push(sub);
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** A row: symbolic (math), then " = numbers" (muted), then " = result" (bold). */
export function equationRow(key, symbolic, numbers, result) {
  const row = document.createElement("div");
  row.className = "eq";
  row.dataset.eq = key;
  const sym = document.createElement("div");
  sym.className = "eq-sym";
  sym.append(...math(symbolic));
  row.append(sym);
  const calc = document.createElement("div");
  calc.className = "eq-calc";
  if (numbers) {
    const num = document.createElement("span");
    num.className = "eq-num";
    num.textContent = `= ${numbers} `;
    calc.append(num);
  }
  const res = document.createElement("span");
  res.className = "eq-res";
  res.textContent = `= ${result}`;
  calc.append(res);
  row.append(calc);
  return row;
}

export function note(text, className = "eq-note") {
  const p = document.createElement("p");
  p.className = className;
  p.append(...math(text));
  return p;
}
