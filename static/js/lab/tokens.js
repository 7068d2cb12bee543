// The input as a row of spans, one per step: characters for text models, a small block per row
// of numbers otherwise. Set with textContent only: user text is never parsed as HTML.

export function tokenSpans(box, steps, tokens) {
  const spans = [];
  for (let t = 0; t < steps; t += 1) {
    const span = document.createElement("span");
    span.dataset.t = String(t);
    if (tokens) {
      const ch = tokens[t];
      span.textContent = ch === "\n" ? "↵\n" : ch === " " ? "\u00a0" : ch;
    } else {
      span.textContent = "▮";
      span.className = "numeric";
    }
    span.title = `t = ${t}`;
    spans.push(span);
  }
  box.classList.toggle("numeric-input", !tokens);
  box.replaceChildren(...spans);
  return spans;
}
