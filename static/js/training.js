// The Train panel: pick a task, the architectures, a size and a budget; the server trains them side
// by side on the same batches (WS /ws/train) and streams loss, task metric, time per step and
// parameter counts. Two Plotly charts (loss, metric vs step) are drawn once when training starts
// and grow by extendTraces; a finished model opens in the main view, or beside its own
// initialization ("before vs after") in the compare section.

import { openTrainStream } from "./api.js";
import { ARCH_STYLE } from "./colors.js";
import { $, el, showMessage } from "./dom.js";
import { count, metricText, msPerStep, num } from "./format.js";
import { Panel } from "./panel.js";
import { baseFont, plotConfig, purge, title } from "./plots.js";

const Plotly = window.Plotly;
export class TrainPanel extends Panel {
  /** hooks: onModel(record) a new model to list; onOpen(record); onBeforeAfter(trained, initId); onOpenChange(open). */
  constructor(hooks) {
    super("train-panel", hooks.onOpenChange);
    this.hooks = hooks;
    this.form = $("train-form");
    this.taskSelect = $("train-task");
    this.description = $("train-description");
    this.lengthLabel = $("train-length-label");
    this.shippedHint = $("train-shipped");
    this.startButton = $("train-start");
    this.stopButton = $("train-stop");
    this.progress = $("train-progress");
    this.status = $("train-status");
    this.error = $("train-error");
    this.runsTable = $("train-runs");
    this.lossDiv = $("train-loss");
    this.metricDiv = $("train-metric");
    this.tasks = [];
    this.shipped = [];
    this.stream = null;
    this.runs = [];
    this.pending = null;
    this.taskSelect.addEventListener("change", () => this.showTask());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start();
    });
    this.stopButton.addEventListener("click", () => {
      this.stream?.cancel();
      this.stopButton.disabled = true;
      this.status.textContent = "stopping…";
    });
  }

  toggled() {
    // Charts drawn while the panel was closed have no width: fit them now.
    if (this.details.open) [this.lossDiv, this.metricDiv].forEach((d) => d.data && Plotly.Plots.resize(d));
  }

  /** The tasks (GET /api/tasks) and the shipped models, whose budget is shown as a hint. */
  setTasks(tasks, models) {
    this.tasks = tasks;
    this.shipped = models.filter((m) => m.source === "builtin");
    this.taskSelect.replaceChildren(...tasks.map((t) => new Option(t.title, t.name)));
    const preferred = tasks.find((t) => t.name === "adding") ?? tasks[0];
    if (preferred) this.taskSelect.value = preferred.name;
    this.showTask();
  }

  get task() {
    return this.tasks.find((t) => t.name === this.taskSelect.value) ?? null;
  }

  showTask() {
    const task = this.task;
    if (!task) return;
    this.description.textContent = `${task.description} Metric: ${task.metric_name} (${task.higher_is_better ? "higher" : "lower"} is better).`;
    this.lengthLabel.textContent = task.length_name;
    const length = this.form.elements.seq_length;
    length.min = String(task.min_length);
    length.max = String(task.max_length);
    length.value = String(task.default_length);
    const shipped = this.shipped.find((m) => m.task === task.name && m.arch === "lstm") ??
      this.shipped.find((m) => m.task === task.name);
    this.shippedHint.textContent = shipped?.training
      ? `The shipped ${task.name} models: hidden size ${shipped.hidden_size}, ${count(shipped.training.steps)} steps.`
      : "";
  }

  payload() {
    const f = this.form.elements;
    const archs = ["rnn", "lstm", "gru"].filter((a) => f[`arch-${a}`].checked);
    return {
      task: this.taskSelect.value,
      archs,
      hidden_size: Number(f.hidden_size.value),
      num_layers: Number(f.num_layers.value),
      steps: Number(f.steps.value),
      seed: Number(f.seed.value),
      length: f.seq_length.value === "" ? null : Number(f.seq_length.value),
    };
  }

  showError(text) {
    showMessage(this.error, text);
  }

  start() {
    const payload = this.payload();
    this.showError("");
    if (!payload.archs.length) {
      this.showError("Tick at least one architecture to train.");
      return;
    }
    this.stream?.close();
    this.task0 = this.task;
    this.startButton.disabled = true;
    this.stopButton.disabled = false;
    this.status.textContent = "starting…";
    this.progress.value = 0;
    this.began = performance.now();
    const stream = openTrainStream(payload, (msg) => {
      if (this.stream === stream) this.onMessage(msg);
    });
    this.stream = stream;
  }

  onMessage(msg) {
    if (msg.type === "started") this.onStarted(msg.runs);
    else if (msg.type === "progress") this.onProgress(msg);
    else if (msg.type === "trained") this.onTrained(msg.arch, msg.model);
    else if (msg.type === "done") this.finish(`trained ${this.runs.length} model${this.runs.length > 1 ? "s" : ""} in ${((performance.now() - this.began) / 1000).toFixed(1)} s; open them below`);
    else if (msg.type === "stopped") this.finish("stopped; nothing was saved");
    else if (msg.type === "error") {
      this.showError(msg.detail);
      this.finish("");
    }
  }

  finish(text) {
    this.flush();
    this.status.textContent = text;
    this.startButton.disabled = false;
    this.stopButton.disabled = true;
    this.stream?.close();
    this.stream = null;
  }

  onStarted(runs) {
    const task = this.task0;
    this.runs = runs.map((r) => ({ ...r, step: 0, time: 0, model: null }));
    this.pending = this.runs.map(() => ({ x: [], loss: [], metric: [] }));
    this.progress.max = this.runs.reduce((s, r) => s + r.steps, 0);
    this.progress.value = 0;
    this.status.textContent = `training ${runs.map((r) => ARCH_STYLE[r.arch].label).join(", ")} on ${task.title}…`;
    this.buildTable(task);
    this.buildCharts(task);
  }

  buildTable(task) {
    const head = el("tr");
    for (const text of ["", "parameters", "step", "loss", `${task.metric_name} (batch)`, "time per step", `held-out ${task.metric_name}`, ""]) {
      head.append(el("th", null, text));
    }
    this.runsTable.tHead.replaceChildren(head);
    const rows = this.runs.map((run) => {
      const tr = el("tr");
      tr.dataset.arch = run.arch;
      const name = el("th", "arch-name", ARCH_STYLE[run.arch].label);
      name.style.color = ARCH_STYLE[run.arch].color;
      name.scope = "row";
      tr.append(name);
      run.cells = {};
      for (const key of ["params", "step", "loss", "metric", "time", "heldout", "actions"]) {
        const td = el("td");
        td.dataset.col = key;
        run.cells[key] = td;
        tr.append(td);
      }
      run.cells.params.textContent = count(run.params);
      run.cells.step.textContent = `0 / ${count(run.steps)}`;
      return tr;
    });
    this.runsTable.tBodies[0].replaceChildren(...rows);
    this.runsTable.hidden = false;
  }

  buildCharts(task) {
    const font = baseFont();
    const traces = () => this.runs.map((run) => ({
      type: "scatter", mode: "lines", name: ARCH_STYLE[run.arch].label, x: [], y: [],
      line: { color: ARCH_STYLE[run.arch].color, dash: ARCH_STYLE[run.arch].dash, width: 3 },
    }));
    const layout = (heading, yTitle, log) => ({
      title: title(heading), font, height: 300, margin: { l: 70, r: 16, t: 46, b: 50 },
      xaxis: { title: { text: "training step" }, rangemode: "tozero", zeroline: false },
      // Log axes label 2 and 5 in each decade, not every digit.
      yaxis: { title: { text: yTitle }, type: log ? "log" : "linear", automargin: true, exponentformat: "power", ...(log ? { dtick: "D2" } : {}) },
      legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom", font: { size: font.size } },
      showlegend: true,
    });
    purge(this.lossDiv);
    purge(this.metricDiv);
    $("train-plots").hidden = false;
    Plotly.newPlot(this.lossDiv, traces(), layout("Training loss (log scale)", "loss", true), plotConfig(`gatescope-train-${task.name}-loss`));
    const metricLog = task.metric_name === "MSE";
    Plotly.newPlot(this.metricDiv, traces(),
      layout(`${task.metric_name} on the training batch${metricLog ? " (log scale)" : ""}`, task.metric_name, metricLog),
      plotConfig(`gatescope-train-${task.name}-metric`));
  }

  onProgress(msg) {
    const k = this.runs.findIndex((r) => r.arch === msg.arch);
    if (k < 0) return;
    const run = this.runs[k];
    run.time += msg.seconds_per_step * (msg.step - run.step);
    run.step = msg.step;
    run.loss = msg.loss;
    run.metric = msg.metric;
    run.params = msg.params;
    const p = this.pending[k];
    p.x.push(msg.step);
    p.loss.push(msg.loss);
    p.metric.push(msg.metric);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Draw what arrived since the last frame: one extendTraces per chart, the table's numbers. */
  flush() {
    cancelAnimationFrame(this.frame);
    this.frame = null;
    if (!this.pending || !this.lossDiv.data) return;
    const indices = [];
    const x = [];
    const loss = [];
    const metric = [];
    this.pending.forEach((p, k) => {
      if (!p.x.length) return;
      indices.push(k);
      x.push(p.x);
      loss.push(p.loss);
      metric.push(p.metric);
      this.pending[k] = { x: [], loss: [], metric: [] };
    });
    if (indices.length) {
      Plotly.extendTraces(this.lossDiv, { x, y: loss }, indices);
      Plotly.extendTraces(this.metricDiv, { x: x.map((v) => v.slice()), y: metric }, indices);
    }
    const name = this.task0.metric_name;
    for (const run of this.runs) {
      run.cells.step.textContent = `${count(run.step)} / ${count(run.steps)}`;
      run.cells.loss.textContent = num(run.loss);
      run.cells.metric.textContent = metricText(run.metric, name);
      run.cells.time.textContent = run.step ? msPerStep(run.time / run.step) : "–";
    }
    this.progress.value = this.runs.reduce((s, r) => s + r.step, 0);
  }

  onTrained(arch, record) {
    const run = this.runs.find((r) => r.arch === arch);
    if (!run) return;
    run.model = record;
    this.hooks.onModel(record);
    const metric = record.metric;
    run.cells.heldout.textContent = metric ? metricText(Number(metric.value), metric.name) : "–";
    if (record.training?.seconds_per_step) run.cells.time.textContent = msPerStep(record.training.seconds_per_step);
    const open = el("button", "open-model", "Open");
    open.type = "button";
    open.title = `Explore ${record.name} in the main view`;
    open.addEventListener("click", () => this.hooks.onOpen(record));
    const compare = el("button", "before-after", "Before vs after");
    compare.type = "button";
    compare.title = "The same preset input through the untrained initialization and the trained model";
    compare.addEventListener("click", () => this.hooks.onBeforeAfter(record, run.init_model));
    run.cells.actions.replaceChildren(open, " ", compare);
  }

  /** Teacher mode: the charts' fonts follow the page's. */
  refont() {
    const font = baseFont();
    for (const div of [this.lossDiv, this.metricDiv]) {
      if (div.data) Plotly.relayout(div, { font, "title.font.size": Math.round(font.size * 1.15), "legend.font.size": font.size });
    }
  }
}
