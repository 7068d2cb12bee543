// Units that mean something (issue 11; Karpathy, Johnson & Fei-Fei 2015; LSTMVis): every unit's
// Pearson correlation with a per-character feature, over this input, the task's held-out text or
// an uploaded text file, read on WS /ws/analysis/units with progress and a Cancel button. The
// strongest units are signed bars (a click opens one in the main view); below them, each top
// unit's most telling snippets: the corpus text, each character's background the unit's value,
// the feature's spans underlined, and a link that opens the snippet in the main view. Corpus text
// and file names only ever enter the page as text nodes.

import { getJSON, openUnitsStream, postFile } from "../api.js";
import { $, el } from "../dom.js";
import { DIVERGING, SEQUENTIAL, colorOf } from "../colors.js";
import { count, fmt, tokenLabel } from "../format.js";
import { baseFont, plotConfig, title } from "../plots.js";
import { quantitiesFor } from "../quantities.js";
import { MAIN_STATE, encodeState } from "../state.js";
import { quantities } from "./interventions.js";
import { LabView, painted } from "./request.js";

const Plotly = window.Plotly;
const FEATURES = {
  quotes: "inside quotes", brackets: "inside brackets", line_position: "position in the line",
  indentation: "indentation depth", nesting: "nesting depth",
};
const PHASES = { scores: "every unit's r", snippets: "the top units' values, for the snippets" };

/** The color range of a unit's snippets: sigmoid gates on [0, 1]; others diverging around 0 at
 * the largest |value| the snippets show (relu: sequential from 0), so the few extremes of a long
 * corpus (a cell state can reach ±13) do not wash out what the snippets show. */
function unitRange(kind, unit) {
  if (kind === "sigmoid") return { scale: SEQUENTIAL, zmin: 0, zmax: 1 };
  const top = Math.max(1e-6, ...unit.windows.flatMap((w) => w.values.map(Math.abs)));
  if (kind === "relu") return { scale: SEQUENTIAL, zmin: 0, zmax: top };
  return { scale: DIVERGING, zmin: -top, zmax: top };
}

/** A legend: the scale as a gradient bar with its ends (and 0) written under it. */
function legend(range, label) {
  const bar = el("span", "un-scale");
  bar.style.background = `linear-gradient(to right, ${range.scale.map(([x, c]) => `${c} ${100 * x}%`).join(", ")})`;
  const ticks = el("span", "un-ticks");
  const mid = range.zmin < 0 ? "0" : fmt((range.zmin + range.zmax) / 2, 2);
  ticks.append(el("span", "", fmt(range.zmin, 2)), el("span", "", mid), el("span", "", fmt(range.zmax, 2)));
  const box = el("span", "un-legend");
  const scale = el("span", "un-scale-box");
  scale.append(bar, ticks);
  box.append(el("span", "un-legend-label", label), scale);
  return box;
}

export class UnitsView extends LabView {
  constructor(lab, intents) {
    super(lab, intents, "view-units");
    this.form = $("un-form");
    this.plot = $("un-plot");
    this.snippetBox = $("un-snippets");
    this.runBox = $("un-run");
    this.progress = $("un-progress");
    this.progressText = $("un-progress-text");
    this.stream = null;
    this.corpus = null; // {id, name, chars} of the uploaded file the URL names
    this.form.addEventListener("change", (event) => {
      if (event.target.name === "file") {
        const file = event.target.files[0];
        if (file) this.upload(file);
        return;
      }
      const f = this.form.elements;
      intents.change({
        uf: f.feature.value, urx: f.regex.value, uq: f.quantity.value, us: f.source.value, uch: f.chars.value,
      });
    });
    this.form.addEventListener("submit", (event) => event.preventDefault());
    $("un-cancel").addEventListener("click", () => this.stream?.cancel());
  }

  /** Send the file to POST /api/corpora (checked against this model's vocabulary); read it next. */
  async upload(file) {
    this.stopRun();
    this.status.busy(`uploading ${file.name}…`);
    try {
      this.corpus = await postFile("/api/corpora", file, { model: this.lab.model.id });
    } catch (err) {
      this.forget();
      this.status.error(`${file.name}: ${err.message}`);
      return;
    } finally {
      this.form.elements.file.value = "";
    }
    this.intents.change({ us: "file", uc: this.corpus.id });
  }

  /** The uploaded file the URL names, from the server (a reload knows only its id); null if gone. */
  async corpusInfo(id) {
    if (this.corpus?.id === id) return this.corpus;
    try {
      this.corpus = await getJSON(`/api/corpora/${encodeURIComponent(id)}`);
    } catch (err) {
      this.status.error(err.message);
      return null;
    }
    return this.corpus;
  }

  async refresh() {
    const lab = this.lab;
    const model = lab.model;
    if (!model || !lab.input) return;
    const f = this.form.elements;
    if (this.arch !== model.arch) {
      this.arch = model.arch;
      f.quantity.replaceChildren(...quantities(model.arch).map((q) => new Option(q, q)));
    }
    const knobs = lab.knobs;
    f.feature.value = knobs.uf in FEATURES || knobs.uf === "regex" ? knobs.uf : "quotes";
    f.regex.value = knobs.urx;
    f.regex.closest("label").hidden = f.feature.value !== "regex";
    f.quantity.value = quantities(model.arch).includes(knobs.uq) ? knobs.uq : "hidden";
    f.source.querySelector("option[value=task]").disabled = !model.task;
    f.source.value = ["task", "file"].includes(knobs.us) && (knobs.us !== "task" || model.task) ? knobs.us : "input";
    f.chars.value = knobs.uch;
    f.chars.closest("label").hidden = f.source.value !== "task";
    f.file.closest("label").hidden = f.source.value !== "file";
    $("un-file").hidden = f.source.value !== "file";
    if (!model.vocab) {
      this.stopRun();
      this.forget();
      Plotly.purge(this.plot);
      this.snippetBox.replaceChildren();
      this.status.error("This model reads numbers: the units view reads text (a model with a vocabulary).");
      return;
    }
    const feature = f.feature.value === "regex" ? { regex: knobs.urx || "\\w+" } : f.feature.value;
    const body = { model: model.id, gru_variant: lab.variant, feature, quantity: f.quantity.value, top: 20 };
    if (f.source.value === "task") Object.assign(body, { source: "task", chars: Number(knobs.uch) || 10000 });
    else if (f.source.value === "file") {
      if (!knobs.uc) {
        $("un-file").textContent = "";
        this.status.error("Choose a UTF-8 text file to read.");
        this.forget();
        return;
      }
      const corpus = await this.corpusInfo(knobs.uc);
      $("un-file").textContent = corpus ? `“${corpus.name}”, ${count(corpus.chars)} characters` : "";
      if (!corpus) {
        this.forget();
        return;
      }
      Object.assign(body, { source: "file", corpus: corpus.id });
    } else body.text = lab.input.payload.text ?? (lab.input.tokens ?? []).join("");
    this.feature = typeof feature === "string" ? FEATURES[feature] : `inside /${feature.regex}/`;
    const key = JSON.stringify(body);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.run(body);
  }

  stopRun() {
    this.stream?.close();
    this.stream = null;
    this.runBox.hidden = true;
  }

  /** One run on the stream: progress as it reads, the bars and snippets when done. */
  run(body) {
    this.stopRun();
    const started = performance.now();
    this.status.busy("reading the corpus…");
    this.progress.value = 0;
    this.progress.removeAttribute("max");
    this.progressText.textContent = "";
    this.runBox.hidden = false;
    const stream = openUnitsStream(body, async (msg) => {
      if (stream !== this.stream) return;
      if (msg.type === "started") {
        this.progress.max = msg.total;
      } else if (msg.type === "progress") {
        this.progress.max = msg.total;
        this.progress.value = msg.done;
        const chars = msg.phase === "snippets" ? msg.done - msg.total / 2 : msg.done;
        const of = msg.phase === "snippets" ? msg.total / 2 : msg.total / (body.snippet_units === 0 ? 1 : 2);
        this.progressText.textContent = `${count(chars)} of ${count(of)} characters: ${PHASES[msg.phase]}`;
      } else {
        this.stopRun();
        if (msg.type === "cancelled") {
          this.forget();
          this.status.note(`Cancelled after ${count(msg.done)} of ${count(this.progress.max)} steps; Run reads it again.`);
        } else if (msg.type === "error") {
          this.forget();
          this.status.error(msg.detail);
        } else {
          this.status.fetched();
          await this.draw(msg);
          await painted();
          this.status.done(
            started,
            ` · over ${count(msg.steps)} characters; the feature's mean is ${msg.feature_mean.toFixed(3)}`,
          );
        }
      }
    });
    this.stream = stream;
  }

  async draw(data) {
    const many = (this.lab.model?.num_layers ?? 1) > 1;
    const labels = data.units.map((u) => (many ? `L${u.layer}·u${u.unit}` : `unit ${u.unit}`));
    const scores = data.units.map((u) => u.score);
    await Plotly.react(this.plot, [{
      type: "bar", x: labels, y: scores, customdata: data.units.map((u) => [u.layer, u.unit]),
      marker: { color: scores.map((s) => (s >= 0 ? "#b2182b" : "#2166ac")) },
      hovertemplate: "layer %{customdata[0]}, unit %{customdata[1]}<br>Pearson r = %{y:.3f}<br>click to open in the main view<extra></extra>",
    }], {
      title: title(`Units whose ${data.quantity} tracks “${this.feature}” (Pearson r; red rises with it, blue falls)`),
      font: baseFont(), height: 330, margin: { l: 72, r: 16, t: 52, b: 72 },
      xaxis: { title: { text: "unit, strongest |r| first" }, type: "category", automargin: true, tickangle: -45 },
      yaxis: { title: { text: "Pearson r with the feature" }, range: [-1, 1], zeroline: true, automargin: true },
    }, plotConfig("gatescope-lab-units"));
    if (!this.plot.dataset.wired) {
      this.plot.dataset.wired = "1";
      this.plot.on("plotly_click", (event) => {
        const [layer, unit] = event.points[0].customdata;
        this.intents.openMain({ unit, layer });
      });
    }
    this.drawSnippets(data);
  }

  /** Each top unit's snippets as text nodes, colored by its value, the feature underlined. */
  drawSnippets(data) {
    const model = this.lab.model;
    const gates = quantities(model.arch).filter((q) => q !== "hidden" && q !== "cell");
    const kinds = quantitiesFor(model.arch, gates, model.nonlinearity);
    const kind = kinds.find((q) => q.key === data.quantity)?.kind ?? "signed";
    const many = (model.num_layers ?? 1) > 1;
    const featureTop = Math.max(1e-9, ...data.snippets.flatMap((u) => u.windows.flatMap((w) => w.feature)));
    const cards = data.snippets.map((unit) => {
      const range = unitRange(kind, unit);
      const card = el("section", "un-unit");
      card.dataset.unit = String(unit.unit);
      card.dataset.layer = String(unit.layer);
      const name = `${many ? `layer ${unit.layer} · ` : ""}unit ${unit.unit}`;
      const head = el("h4", "", `${name} · r = ${fmt(unit.score, 3)}`);
      card.append(head, legend(range, `${data.quantity}:`));
      if (!unit.windows.length) card.append(el("p", "hint", "No window agrees with the feature: this unit has no telling snippet."));
      for (const w of unit.windows) card.append(this.snippet(data, unit, w, range, featureTop));
      return card;
    });
    this.snippetBox.replaceChildren(...cards);
    $("un-snippets-note").hidden = !cards.length;
  }

  snippet(data, unit, w, range, featureTop) {
    const row = el("div", "un-snippet");
    const text = el("div", "lab-text un-text");
    text.dataset.start = String(w.start);
    [...w.text].forEach((ch, k) => {
      const span = el("span", "", ch === "\n" ? "↵\n" : ch);
      const c = colorOf(w.values[k], range);
      span.style.background = c.css;
      span.style.color = c.light ? "#fff" : "#111";
      span.dataset.value = w.values[k].toFixed(4);
      if (w.feature[k] > 0) {
        span.classList.add("in-feature");
        span.style.setProperty("--feature", String(Math.max(0.35, w.feature[k] / featureTop)));
      }
      span.title = `t = ${w.start + k} ‘${tokenLabel(ch)}’: ${data.quantity} ${fmt(w.values[k], 3)}, feature ${fmt(w.feature[k], 2)}`;
      text.append(span);
    });
    const meta = el("p", "un-meta");
    meta.append(`characters ${count(w.start)}–${count(w.end - 1)} · r here ${fmt(w.local_r, 2)}, agreement ${fmt(w.agreement, 2)} · `);
    const state = {
      ...MAIN_STATE.defaults(), model: data.model, text: w.text, unit: unit.unit, layer: unit.layer, color: data.quantity,
    };
    const link = el("a", "un-open", "open in the main view");
    link.href = "/" + encodeState(state);
    link.title = "The main view reads the snippet from a zero state, so its first characters may differ from the corpus run.";
    meta.append(link);
    row.append(text, meta);
    return row;
  }
}
