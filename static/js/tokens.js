// The input as a row of spans, one per step (data-t = the step): characters for text models, a
// small block per row of numbers otherwise. Set with textContent only: user text is never parsed
// as HTML. The main page's text view and the lab's connectivity and pattern views use them, and
// stepAt() to tell which step a click or a drag is on.

import { el } from "./dom.js";

/** The span for character ``ch`` at step ``t``: a newline shows as ↵ (then breaks), a space stays visible. */
export function tokenSpan(t, ch) {
  const span = el("span", null, ch === "\n" ? "↵\n" : ch === " " ? "\u00a0" : ch);
  span.dataset.t = String(t);
  return span;
}

/** The step of the token span ``event`` happened on, inside ``box``; null elsewhere. */
export function stepAt(event, box) {
  const span = event.target.closest?.("span[data-t]");
  return span && box.contains(span) ? Number(span.dataset.t) : null;
}

/** Fill ``box`` with one titled span per step; returns the spans. */
export function tokenSpans(box, steps, tokens) {
  const spans = [];
  for (let t = 0; t < steps; t += 1) {
    let span;
    if (tokens) {
      span = tokenSpan(t, tokens[t]);
    } else {
      span = el("span", "numeric", "▮");
      span.dataset.t = String(t);
    }
    span.title = `t = ${t}`;
    spans.push(span);
  }
  box.classList.toggle("numeric-input", !tokens);
  box.replaceChildren(...spans);
  return spans;
}
