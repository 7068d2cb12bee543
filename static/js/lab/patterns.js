// Pattern search (LSTMVis, Strobelt et al. 2018): drag over the input to select a span; the units
// whose hidden state stays above the threshold across it are listed, and other spans where the
// same units are on, ranked by Jaccard overlap; clicking one moves there
// (POST /api/analysis/patterns).

import { $, el } from "../dom.js";
import { fmt, tokenLabel } from "../format.js";
import { stepAt, tokenSpans } from "../tokens.js";
import { LabView } from "./request.js";

export class PatternsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-patterns");
    this.form = $("pat-form");
    this.text = $("pat-text");
    this.unitsBox = $("pat-units");
    this.list = $("pat-matches");
    this.textKey = null;
    this.spans = [];
    this.anchor = null;
    this.timer = null;
    this.form.addEventListener("submit", (event) => event.preventDefault());
    this.form.addEventListener("input", () => {
      clearTimeout(this.timer);
      const f = this.form.elements;
      this.timer = setTimeout(() => intents.change({ ps: f.start.value, pe: f.end.value, th: f.threshold.value }), 300);
    });
    // Drag to select: press on one step, move, release on another.
    this.text.addEventListener("mousedown", (event) => {
      const t = stepAt(event, this.text);
      if (t === null) return;
      event.preventDefault();
      this.anchor = t;
      this.mark(this.anchor, this.anchor + 1);
    });
    this.text.addEventListener("mouseover", (event) => {
      const t = stepAt(event, this.text);
      if (this.anchor === null || t === null) return;
      this.mark(Math.min(t, this.anchor), Math.max(t, this.anchor) + 1);
    });
    window.addEventListener("mouseup", (event) => {
      if (this.anchor === null) return;
      const t = stepAt(event, this.text) ?? this.anchor;
      const start = Math.min(t, this.anchor);
      const end = Math.max(t, this.anchor) + 1;
      this.anchor = null;
      intents.change({ ps: String(start), pe: String(end) });
    });
  }

  /** The span from the URL state, or the first three steps. */
  span() {
    const s = this.lab.knobs;
    const steps = this.lab.input.steps;
    const start = s.ps === "" ? 0 : Number(s.ps);
    const end = s.pe === "" ? Math.min(start + 3, steps) : Number(s.pe);
    return { start, end, threshold: Number(s.th) };
  }

  async refresh() {
    const lab = this.lab;
    if (!lab.model || !lab.input) return;
    const span = this.span();
    const f = this.form.elements;
    for (const [field, value] of [[f.start, String(span.start)], [f.end, String(span.end)], [f.threshold, lab.knobs.th]]) {
      if (field.value !== value) field.value = value;
    }
    f.start.max = String(lab.input.steps - 1);
    f.end.max = String(lab.input.steps);
    if (this.textKey !== lab.inputKey()) {
      this.textKey = lab.inputKey();
      this.spans = tokenSpans(this.text, lab.input.steps, lab.input.tokens);
    }
    this.mark(span.start, span.end);
    const body = lab.body({ layer: lab.layer, ...span, top: 10 });
    await this.fetchAndDraw("/api/analysis/patterns", body, {
      failed: () => {
        this.unitsBox.replaceChildren();
        this.list.replaceChildren();
      },
      suffix: (data) => ` · ${data.units.length} unit${data.units.length === 1 ? "" : "s"} on, ` +
        `${data.matches.length} match${data.matches.length === 1 ? "" : "es"}`,
    });
  }

  mark(start, end) {
    this.spans.forEach((span, t) => {
      span.classList.toggle("sel", t >= start && t < end);
    });
  }

  draw(data) {
    if (!data.units.length) {
      this.unitsBox.textContent = `none: no unit of layer ${data.layer} has h > ${data.threshold} at every step of the span; ` +
        "lower the threshold or select a shorter span";
    } else {
      const chips = data.units.map((u) => {
        const a = el("a", "chip", String(u));
        a.dataset.unit = String(u);
        a.href = this.lab.mainURL({ unit: u, layer: data.layer, t: data.start });
        a.title = `open unit ${u} in the main view`;
        return a;
      });
      this.unitsBox.replaceChildren(...chips);
    }
    for (const span of this.spans) span.classList.remove("match", "match-active");
    const items = data.matches.map((m, k) => {
      const li = el("li");
      li.dataset.start = String(m.start);
      const button = el("button");
      button.type = "button";
      const score = el("span", "score", `Jaccard ${fmt(m.score)}`);
      score.dataset.q = "score";
      button.append(el("span", "where", `t = ${m.start}–${m.end - 1}`), score);
      if (m.text !== null) button.append(el("code", "match-text", [...m.text].map(tokenLabel).join("")));
      button.append(el("span", "shared", `${m.units.length} shared: ${m.units.join(", ")}`));
      button.addEventListener("click", () => this.goto(m, k));
      li.append(button);
      for (let t = m.start; t < m.end; t += 1) this.spans[t]?.classList.add("match");
      return li;
    });
    if (!items.length && data.units.length) {
      items.push(el("li", "muted", "no other span has any of these units on throughout"));
    }
    this.list.replaceChildren(...items);
  }

  /** Move to a match: highlight it in the input and make it the step cursor. */
  goto(match, k) {
    for (const span of this.spans) span.classList.remove("match-active");
    for (let t = match.start; t < match.end; t += 1) this.spans[t]?.classList.add("match-active");
    this.spans[match.start]?.scrollIntoView({ block: "nearest" });
    this.list.querySelectorAll("li").forEach((li, j) => li.classList.toggle("active", j === k));
    this.intents.setStep(match.start);
  }
}
