// Under the text: the model's top-5 predictions at the cursor with their probabilities as bars
// (as Karpathy et al. 2015 show a character model's guesses), for models with a head. Clicking one
// asks "why did it output this here?": the objective becomes that class's logit at that step.
// Tokens are set with textContent only.

import { $, el } from "./dom.js";
import { tokenLabel } from "./format.js";

export class PredictionList {
  constructor({ onPick }) {
    this.section = $("predictions-section");
    this.list = $("predictions");
    this.title = $("predictions-t");
    this.data = null;
    this.shownKey = null;
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest("button[data-token]");
      if (item) onPick(item.dataset.token, Number(item.dataset.t));
    });
  }

  /** A new trace: shown once its predictions arrive (a head whose outputs are classes). */
  build(data) {
    this.data = data;
    this.shownKey = null;
    this.section.hidden = true;
  }

  /** The predictions after step t; ``chosen`` is the logit objective ({logit, step}) if any. */
  update(t, chosen) {
    const data = this.data;
    if (!data) return;
    this.section.hidden = !data.predictions.length;
    if (this.section.hidden) return;
    const top = data.topAt(t);
    const pick = chosen && typeof chosen === "object" && "logit" in chosen ? `${chosen.logit}\u0000${chosen.step}` : "";
    const key = `${t}:${Boolean(top)}:${pick}`;
    if (key === this.shownKey) return;
    this.shownKey = key;
    const read = data.tokens?.[t];
    this.title.textContent = `t = ${t}${read === undefined ? "" : `, after reading ‘${tokenLabel(read)}’`}`;
    if (!top) {
      this.list.replaceChildren(el("li", "hint", "waiting for this step…"));
      return;
    }
    this.list.replaceChildren(...top.map(({ token, prob }, k) => {
      const item = el("li");
      const button = el("button", "prediction");
      button.type = "button";
      button.dataset.token = token;
      button.dataset.t = String(t);
      button.title = `L = the logit of ‘${tokenLabel(token)}’ at t = ${t}: why did it output this here?`;
      if (pick === `${token}\u0000${t}`) button.classList.add("chosen");
      const rank = el("span", "rank", `${k + 1}.`);
      const label = el("span", "token", tokenLabel(token));
      const bar = el("span", "bar");
      const fillBar = el("span", "bar-fill");
      fillBar.style.width = `${(100 * prob).toFixed(1)}%`;
      bar.append(fillBar);
      const value = el("span", "prob", `${(100 * prob).toFixed(1)}%`);
      button.append(rank, label, bar, value);
      item.append(button);
      return item;
    }));
  }
}
