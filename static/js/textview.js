// For text models: the input's characters, each colored by the selected unit's value of a chosen
// quantity at that step (which characters does this unit fire on?). Clicking a character moves
// the cursor there. Characters are set with textContent: user text is never parsed as HTML.

import { colorOf, rangeFor } from "./colors.js";
import { $ } from "./dom.js";
import { fmt, tokenLabel } from "./format.js";
import { missing } from "./numbers.js";
import { plainSubscripts } from "./plots.js";
import { stepAt, tokenSpan } from "./tokens.js";


export class TextView {
  constructor({ onPick, onQuantity }) {
    this.section = $("textview-section");
    this.box = $("textview");
    this.select = $("text-quantity");
    this.unitRef = this.section.querySelector(".unit-ref");
    this.spans = [];
    this.cursor = -1;
    this.data = null;
    this.box.addEventListener("click", (event) => {
      const t = stepAt(event, this.box);
      if (t !== null) onPick(t);
    });
    this.select.addEventListener("change", () => {
      onQuantity(this.select.value);
    });
  }

  /** Show (text models) or hide (numeric inputs); one span per character. */
  build(data, quantity) {
    this.data = data;
    if (!data.tokens) {
      this.section.hidden = true;
      this.spans = [];
      return;
    }
    this.section.hidden = false;
    this.select.replaceChildren(...data.quantities.map((q) => new Option(plainSubscripts(q.title), q.key)));
    this.select.value = data.quantities.some((q) => q.key === quantity) ? quantity : "hidden";
    this.spans = data.tokens.map((ch, t) => tokenSpan(t, ch));
    this.box.replaceChildren(...this.spans);
    this.cursor = -1;
  }

  /** Grow with appended text (live typing). */
  extend(tokens) {
    if (!this.data?.tokens) return;
    for (let t = this.spans.length; t < tokens.length; t += 1) {
      const span = tokenSpan(t, tokens[t]);
      this.spans.push(span);
      this.box.append(span);
    }
  }

  /** Recolor every character by unit ``unit`` of ``quantity`` in ``layer``. */
  paint(layer, unit, quantity) {
    const data = this.data;
    if (!data?.tokens) return;
    const q = data.quantities.find((x) => x.key === quantity) ?? data.quantities.at(-1);
    const rows = data.rows(layer, q.key);
    const range = rangeFor(q.kind, [rows[unit] ?? []]);
    this.unitRef.textContent = `${unit}${data.layers.length > 1 ? ` (layer ${layer})` : ""}`;
    this.spans.forEach((span, t) => {
      const value = rows[unit]?.[t];
      if (missing(value)) {
        span.style.backgroundColor = "";
        span.style.color = "";
        span.title = `t = ${t} ‘${tokenLabel(data.tokens[t])}’: not yet run`;
        return;
      }
      const color = colorOf(value, range);
      span.style.backgroundColor = color.css;
      span.style.color = color.light ? "#fff" : "#111";
      span.title = `t = ${t} ‘${tokenLabel(data.tokens[t])}’: ${q.label} = ${fmt(value)}`;
    });
  }

  setCursor(t) {
    if (this.cursor >= 0) this.spans[this.cursor]?.classList.remove("cursor");
    this.spans[t]?.classList.add("cursor");
    this.cursor = t;
  }
}
