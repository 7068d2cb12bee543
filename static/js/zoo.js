// The model zoo: every shipped model, grouped by task (RNN, LSTM and GRU trained with the same
// budget and seed), with its parameter count, held-out metric, time per training step and the
// command that reproduces it. Beside each group, the seed's claims about LSTM and GRU, checked
// against that group's own numbers: everything here is computed from GET /api/models's records.

import { ARCH_STYLE } from "./colors.js";
import { $, el } from "./dom.js";
import { count, metricText, msPerStep } from "./format.js";
import { Panel } from "./panel.js";

const ARCHS = ["rnn", "lstm", "gru"];

/**
 * The verdict of ``a`` against ``b`` over seeds (cards' "seeds": {runs: [{seed, metric,
 * ms_per_step}]}): "better" only where every run of one beats every run of the other (Mann-Whitney
 * U = 0; for 5 seeds against 5, p = 2 / C(10, 5) ≈ 0.008 two-sided), else "none" (no difference at
 * this budget). ``lowerIsBetter`` for losses and times. Null when either has fewer than 2 runs.
 */
export function seedVerdict(a, b, read, lowerIsBetter) {
  const xs = (a?.seeds?.runs ?? []).map(read).filter(Number.isFinite);
  const ys = (b?.seeds?.runs ?? []).map(read).filter(Number.isFinite);
  if (xs.length < 2 || ys.length < 2) return null;
  const aBetter = lowerIsBetter ? Math.max(...xs) < Math.min(...ys) : Math.min(...xs) > Math.max(...ys);
  const bBetter = lowerIsBetter ? Math.max(...ys) < Math.min(...xs) : Math.min(...ys) > Math.max(...xs);
  const n = xs.length;
  const m = ys.length;
  let choose = 1;
  for (let k = 1; k <= n; k += 1) choose = (choose * (m + k)) / k; // C(n + m, n)
  return { winner: aBetter ? "a" : bBetter ? "b" : null, p: Math.min(1, 2 / choose), n, m };
}

/** "2.15 ± 0.01 (5 seeds)" from a card's seed summary {n, mean, std}. */
export function spreadText(summary, name) {
  if (!summary || !summary.n) return null;
  return `${metricText(summary.mean, name)} ± ${metricText(summary.std, name)} (${summary.n} seeds)`;
}

/** Time per step over seeds: "15.7 ms [14.9, 17.2]" (median [min, max]). */
export function timeRange(summary) {
  if (!summary || !summary.n) return null;
  return `${msPerStep(summary.median / 1000)} [${msPerStep(summary.min / 1000)}, ${msPerStep(summary.max / 1000)}]`;
}

/**
 * The seed's three claims for one task's models: [{key, claim, holds (true, false or null for a
 * tie), evidence}]. Claims that need a model the group lacks are left out.
 */
export function claimsFor(models) {
  const lstm = models.find((m) => m.arch === "lstm");
  const gru = models.find((m) => m.arch === "gru");
  if (!lstm || !gru) return [];
  const claims = [{
    key: "params",
    claim: "GRU has fewer parameters than LSTM",
    holds: gru.params < lstm.params,
    evidence: `${count(gru.params)} vs ${count(lstm.params)}`,
  }];
  const gs = gru.training?.seconds_per_step;
  const ls = lstm.training?.seconds_per_step;
  const speed = seedVerdict(gru, lstm, (r) => r.ms_per_step, true);
  if (speed) {
    claims.push({
      key: "speed",
      claim: "GRU trains faster than LSTM",
      holds: speed.winner === null ? "none" : speed.winner === "a",
      evidence: `${timeRange(gru.seeds.ms_per_step)} vs ${timeRange(lstm.seeds.ms_per_step)} per step, median [min, max] over seeds`,
      p: speed.winner ? speed.p : null,
    });
  } else if (gs && ls) {
    claims.push({
      key: "speed",
      claim: "GRU trains faster than LSTM",
      holds: gs < ls,
      evidence: `${msPerStep(gs)} vs ${msPerStep(ls)} per step`,
    });
  }
  const metric = lstm.metric && seedVerdict(lstm, gru, (r) => r.metric, !lstm.metric.higher_is_better);
  if (metric) {
    const name = lstm.metric.name;
    claims.push({
      key: "metric",
      claim: "LSTM may do better (on long sequences)",
      holds: metric.winner === null ? "none" : metric.winner === "a",
      evidence: `${name}: LSTM ${spreadText(lstm.seeds.metric, name)} vs GRU ${spreadText(gru.seeds.metric, name)}` +
        ` (${lstm.metric.higher_is_better ? "higher" : "lower"} is better)`,
      p: metric.winner ? metric.p : null,
    });
  } else if (lstm.metric && gru.metric) {
    const l = Number(lstm.metric.value);
    const g = Number(gru.metric.value);
    const better = lstm.metric.higher_is_better ? l > g : l < g;
    claims.push({
      key: "metric",
      claim: "LSTM may do better (on long sequences)",
      holds: l === g ? null : better,
      evidence: `${lstm.metric.name}: LSTM ${metricText(l, lstm.metric.name)} vs GRU ${metricText(g, gru.metric.name)}` +
        ` (${lstm.metric.higher_is_better ? "higher" : "lower"} is better)`,
    });
  }
  return claims;
}

function verdict(holds, p) {
  if (holds === "none") return { mark: "≈", text: "no difference at this budget", className: "tie" };
  if (p) {
    const where = `every seed, p = ${p.toFixed(3)}`;
    return holds ? { mark: "✓", text: `holds here: ${where}`, className: "holds" } : { mark: "✗", text: `not here: ${where}`, className: "fails" };
  }
  if (holds === null) return { mark: "=", text: "tie", className: "tie" };
  return holds ? { mark: "✓", text: "holds here", className: "holds" } : { mark: "✗", text: "not here", className: "fails" };
}

export class ModelZoo extends Panel {
  /** onOpen(record): explore a shipped model in the main view; onOpenChange(open). */
  constructor({ onOpen, onOpenChange }) {
    super("zoo-panel", onOpenChange);
    this.onOpen = onOpen;
    this.table = $("zoo-table");
    this.summary = $("zoo-summary");
  }

  render(models, tasks) {
    const shipped = models.filter((m) => m.source === "builtin" && m.task);
    const order = tasks.map((t) => t.name);
    const names = [...new Set(shipped.map((m) => m.task))]
      .sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    const head = el("tr");
    for (const text of ["model", "parameters", "held-out metric", "time per training step", "reproduce with", ""]) {
      head.append(el("th", null, text));
    }
    this.table.tHead.replaceChildren(head);
    const bodies = [];
    const tally = {};
    for (const name of names) {
      const task = tasks.find((t) => t.name === name);
      const group = shipped.filter((m) => m.task === name)
        .sort((a, b) => ARCHS.indexOf(a.arch) - ARCHS.indexOf(b.arch));
      const body = el("tbody");
      body.dataset.task = name;
      const titleRow = el("tr", "zoo-task");
      const cell = el("th", null);
      cell.colSpan = 6;
      cell.scope = "rowgroup";
      cell.append(el("span", "zoo-task-title", task?.title ?? name));
      const first = group[0];
      const notes = [];
      if (first?.training) notes.push(`hidden size ${first.hidden_size}, ${count(first.training.steps)} steps, seed ${first.training.seed}`);
      if (first?.metric) notes.push(`metric: ${first.metric.name}, ${first.metric.higher_is_better ? "higher" : "lower"} is better`);
      if (notes.length) cell.append(el("span", "zoo-budget", ` · ${notes.join(" · ")}`));
      titleRow.append(cell);
      body.append(titleRow);
      for (const model of group) body.append(this.row(model));
      const claims = claimsFor(group);
      if (claims.length) {
        const claimRow = el("tr", "zoo-claims");
        const td = el("td");
        td.colSpan = 6;
        const list = el("ul", "claims");
        for (const c of claims) {
          const v = verdict(c.holds, c.p);
          const item = el("li", `claim ${v.className}`);
          item.dataset.claim = c.key;
          item.append(el("span", "mark", v.mark), el("span", "claim-text", ` ${c.claim}: `), el("span", "evidence", c.evidence),
            el("span", "verdict", ` (${v.text})`));
          list.append(item);
          const t = (tally[c.key] ??= { claim: c.claim, holds: 0, ties: 0, of: 0 });
          t.of += 1;
          if (c.holds === true) t.holds += 1;
          if (c.holds === null || c.holds === "none") t.ties += 1;
        }
        td.append(el("span", "claims-head", "The seed's claims, on these three:"), list);
        claimRow.append(td);
        body.append(claimRow);
      }
      bodies.push(body);
    }
    this.table.replaceChildren(this.table.tHead, ...bodies);
    this.summary.replaceChildren(el("span", "claims-head", "Over all tasks:"), ...Object.values(tally).map((t) =>
      el("li", null, `“${t.claim}” holds for ${t.holds} of ${t.of} task${t.of > 1 ? "s" : ""}${t.ties ? ` (${t.ties} tied or no difference)` : ""}`)));
  }

  row(model) {
    const tr = el("tr");
    tr.dataset.model = model.id;
    const name = el("th", "zoo-arch");
    name.scope = "row";
    name.title = model.name;
    const arch = el("span", "arch-name", ARCH_STYLE[model.arch]?.label ?? model.arch.toUpperCase());
    arch.style.color = ARCH_STYLE[model.arch]?.color ?? "";
    name.append(arch);
    if (model.arch === "rnn") name.append(el("span", "zoo-name", ` (${model.nonlinearity})`));
    const params = el("td", "num", count(model.params));
    params.dataset.col = "params";
    const seeds = spreadText(model.seeds?.metric, model.metric?.name);
    const metric = el("td", "num", seeds ?? (model.metric ? metricText(Number(model.metric.value), model.metric.name) : "–"));
    metric.dataset.col = "metric";
    if (model.metric) metric.title = `${model.metric.split ?? ""} ${model.metric.name}`.trim();
    const speed = el("td", "num", timeRange(model.seeds?.ms_per_step) ?? msPerStep(model.training?.seconds_per_step));
    speed.dataset.col = "speed";
    const command = el("td", "command");
    const code = el("code", null, model.command ?? "");
    code.dataset.col = "command";
    const copy = el("button", "copy", "Copy");
    copy.type = "button";
    copy.title = "Copy the command";
    copy.addEventListener("click", () => copyText(code, copy));
    command.append(code, copy);
    const actions = el("td");
    const open = el("button", "open-model", "Open");
    open.type = "button";
    open.title = `Explore ${model.name} in the main view`;
    open.addEventListener("click", () => this.onOpen(model));
    actions.append(open);
    tr.append(name, params, metric, speed, command, actions);
    return tr;
  }
}

/** Copy a cell's text; where the clipboard API is refused (plain http), select it for Ctrl+C. */
async function copyText(node, button) {
  const select = () => {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  };
  try {
    await navigator.clipboard.writeText(node.textContent);
    button.textContent = "Copied";
  } catch {
    select();
    button.textContent = "Selected: Ctrl+C";
  }
  setTimeout(() => {
    button.textContent = "Copy";
  }, 2000);
}
