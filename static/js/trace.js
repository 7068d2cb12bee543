// One trace held in the page: every quantity of every layer as units x time rows (what a Plotly
// heatmap takes as z), filled step by step from the stream or at once from POST /api/trace. A
// bidirectional model's reverse direction is held beside the forward one, indexed by input position.
// Rows are Float32Arrays (4 bytes a value: a 2 x 512-unit LSTM over 1,000 steps holds 12 million
// values); steps not yet received are NaN, which plots show blank while the stream fills them in.

import { missing, norm } from "./numbers.js";
import { quantitiesFor } from "./quantities.js";
import { hiddenSizes, stateSizes } from "./sizes.js";

function emptyRows(units, steps) {
  return Array.from({ length: units }, () => new Float32Array(steps).fill(NaN));
}

/** ``row`` copied into a longer Float32Array, the new steps NaN. */
function longer(row, steps) {
  const grown = new Float32Array(steps).fill(NaN);
  grown.set(row);
  return grown;
}

/** (T, H) from the API -> (H, T) rows. */
function transpose(matrix, units) {
  const rows = emptyRows(units, matrix.length);
  matrix.forEach((vector, t) => {
    for (let u = 0; u < units; u += 1) rows[u][t] = vector[u];
  });
  return rows;
}

export class TraceData {
  /**
   * model: the model record; capacity: the number of steps expected (the input's length);
   * tokens: the characters (text models) or null; gateNames: the server's names of the
   * model's gates, in torch's order (the stream's "started" message, or POST /api/trace).
   */
  constructor(model, capacity, tokens, gateNames) {
    this.model = model;
    this.arch = model.arch;
    this.sizes = hiddenSizes(model); // H_l per layer: a stack's layers may differ in size
    this.stateSizes = stateSizes(model); // h_t's width per layer (P_l with projections)
    this.units = Math.max(...this.sizes); // the widest layer's (for budgets; a layer's own: unitsOf)
    this.capacity = capacity;
    this.steps = 0; // steps received so far
    this.tokens = tokens;
    this.loss = null;
    this.complete = false; // gradients received for all steps
    this.gateNames = gateNames;
    this.quantities = quantitiesFor(model.arch, this.gateNames, model.nonlinearity);
    this.layers = Array.from({ length: model.num_layers }, (_, l) => this.emptyLayer(capacity, l));
    this.forward = this.layers; // bidirectional models: reverse holds the other direction, indexed
    // by input position; setDirection() picks which one `layers` (what the views draw) is.
    this.reverse = model.bidirectional
      ? Array.from({ length: model.num_layers }, (_, l) => this.emptyLayer(capacity, l))
      : null;
    this.direction = "forward";
    this.predictions = []; // per step: {ids, probs} (the head's top 5), or undefined
    this.h0 = null; // the initial states the run started from (null: zeros), (layers, H) each
    this.c0 = null;
  }

  /** Whether the direction on screen reads from the end: a bidirectional model's reverse one, or
   * the one direction of a model that reads right to left. Its step t starts from step t + 1. */
  get fromEnd() {
    return this.direction === "reverse" || Boolean(this.model.right_to_left);
  }

  /** Show the forward or the reverse direction (bidirectional traces); views rebuild after. */
  setDirection(direction) {
    this.direction = this.reverse && direction === "reverse" ? "reverse" : "forward";
    this.layers = this.direction === "reverse" ? this.reverse : this.forward;
  }

  /** The top-5 predictions at step t as [{id, token, prob}], or null for a model without a head. */
  topAt(t) {
    const p = this.predictions[t];
    if (!p) return null;
    const names = this.model.output_vocab;
    return Array.from(p.ids, (id, k) => ({ id, token: names?.[id] ?? String(id), prob: p.probs[k] }));
  }

  /** How many units layer ``l`` has: the rows of its gates and cell (H_l). */
  unitsOf(l) {
    return this.sizes[Math.min(Math.max(l, 0), this.sizes.length - 1)];
  }

  emptyLayer(steps, l) {
    const layer = { q: {}, grad_hidden: null, grad_cell: null, gradNorm: { hidden: null, cell: null } };
    // An LSTM with projections (proj_size P) has P-wide hidden states and H-wide gates and cells;
    // a stack's layers may each have their own H_l.
    const width = (key) => (key === "hidden" ? this.stateSizes[l] : this.sizes[l]);
    for (const q of this.quantities) layer.q[q.key] = emptyRows(width(q.key), steps);
    return layer;
  }

  /** Both directions' layers (the forward ones only, for a unidirectional model). */
  allLayers() {
    return this.reverse ? [...this.forward, ...this.reverse] : this.forward;
  }

  /** Make room for more steps (text appended while typing). */
  grow(capacity) {
    if (capacity <= this.capacity) return;
    for (const layer of this.allLayers()) {
      for (const rows of Object.values(layer.q)) rows.forEach((row, u) => (rows[u] = longer(row, capacity)));
    }
    this.capacity = capacity;
    this.complete = false;
  }

  /** The stream sends again from step ``t`` (an append to a bidirectional model changes its
   * reverse direction everywhere): the steps from t on are no longer this sequence's, so blank. */
  rewind(t) {
    if (t >= this.steps) return;
    for (const layer of this.allLayers()) {
      for (const rows of Object.values(layer.q)) rows.forEach((row) => row.fill(NaN, t));
    }
    this.predictions.length = Math.min(this.predictions.length, t);
    this.steps = t;
    this.complete = false;
  }

  /** One stream "step" message: {t, layers: [{gates, hidden, cell, reverse}], predictions}. */
  setStep(t, layers, predictions = null) {
    if (t >= this.capacity) this.grow(t + 1);
    layers.forEach((msg, l) => {
      setAt(this.forward[l].q, t, msg);
      if (msg.reverse && this.reverse) setAt(this.reverse[l].q, t, msg.reverse);
    });
    if (predictions) this.predictions[t] = predictions;
    this.steps = Math.max(this.steps, t + 1);
  }

  /** One stream "steps" message (steps_per_message > 1): count steps from t, each field n rows. */
  setSteps(msg) {
    const { t, count } = msg;
    if (t + count > this.capacity) this.grow(t + count);
    msg.layers.forEach((layer, l) => {
      for (let k = 0; k < count; k += 1) {
        setAt(this.forward[l].q, t + k, layer, k);
        if (layer.reverse && this.reverse) setAt(this.reverse[l].q, t + k, layer.reverse, k);
      }
    });
    if (msg.predictions) {
      for (let k = 0; k < count; k += 1) this.predictions[t + k] = { ids: msg.predictions.ids[k], probs: msg.predictions.probs[k] };
    }
    this.steps = Math.max(this.steps, t + count);
  }

  /** The last state of the run, as h0 (and c0) for another model: torch's (layers x directions, H)
   * order; the reverse direction, and a model that reads right to left, end at t = 0. */
  finalStates() {
    const last = this.model.right_to_left ? 0 : this.steps - 1;
    const column = (rows, t) => rows.map((row) => row[t]);
    const h0 = [];
    const c0 = [];
    this.forward.forEach((layer, l) => {
      h0.push(column(layer.q.hidden, last));
      if (layer.q.cell) c0.push(column(layer.q.cell, last));
      const rev = this.reverse?.[l];
      if (rev) {
        h0.push(column(rev.q.hidden, 0));
        if (rev.q.cell) c0.push(column(rev.q.cell, 0));
      }
    });
    return { h0, c0: c0.length ? c0 : null };
  }

  /** The stream's "done" message (or a full trace): gradients over the whole sequence, each
   * layer's ``reverse`` the reverse direction's (bidirectional models). */
  setGradients(loss, layers) {
    this.loss = loss;
    const put = (layer, msg) => {
      layer.grad_hidden = msg.grad_hidden;
      layer.grad_cell = msg.grad_cell ?? null;
      layer.gradNorm.hidden = msg.grad_hidden.map(norm);
      layer.gradNorm.cell = msg.grad_cell ? msg.grad_cell.map(norm) : null;
    };
    layers.forEach((msg, l) => {
      put(this.forward[l], msg);
      if (msg.reverse && this.reverse) put(this.reverse[l], msg.reverse);
    });
    this.complete = true;
  }

  /** A whole POST /api/trace response at once. */
  static fromResponse(model, response) {
    const data = new TraceData(model, response.steps, response.tokens, response.gate_names);
    const fillLayer = (layer, msg, l) => {
      const q = layer.q;
      for (const [name, matrix] of Object.entries(msg.gates)) q[name] = transpose(matrix, data.sizes[l]);
      q.hidden = transpose(msg.hidden, data.stateSizes[l]);
      if (msg.cell) q.cell = transpose(msg.cell, data.sizes[l]);
    };
    if (!data.reverse && response.layers.some((msg) => msg.reverse)) {
      data.reverse = response.layers.map((_, l) => data.emptyLayer(response.steps, l)); // a record without the flag
    }
    response.layers.forEach((msg, l) => {
      fillLayer(data.forward[l], msg, l);
      if (msg.reverse && data.reverse) fillLayer(data.reverse[l], msg.reverse, l);
    });
    const p = response.predictions;
    if (p) data.predictions = p.ids.map((ids, t) => ({ ids, probs: p.probs[t] }));
    data.steps = response.steps;
    data.setGradients(response.loss, response.layers);
    return data;
  }

  rows(layer, key) {
    return this.layers[layer].q[key];
  }

  value(layer, key, t, unit) {
    const rows = this.layers[layer]?.q[key];
    if (!rows || t < 0) return null;
    const v = rows[unit]?.[t];
    return missing(v) ? null : v;
  }

  /** The state a step started from: before the first step, h0 / c0 (zeros unless given). The
   * reverse direction, and a model that reads right to left, run from the end: their step t
   * starts from step t + 1. */
  previous(layer, key, t, unit) {
    const reverse = this.fromEnd;
    const first = reverse ? t === this.steps - 1 : t === 0;
    if (first) {
      const start = this.direction === "reverse" ? null : key === "cell" ? this.c0 : this.h0;
      return start?.[layer * (this.model.bidirectional ? 2 : 1)]?.[unit] ?? 0;
    }
    return this.value(layer, key, reverse ? t + 1 : t - 1, unit);
  }

  /** The API's JSON shape, for export. */
  toJSON() {
    const steps = this.steps;
    const cols = (rows) => Array.from({ length: steps }, (_, t) => rows.map((row) => (missing(row[t]) ? null : row[t])));
    const plain = (matrix) => matrix?.map((row) => Array.from(row)) ?? null;
    return {
      model: this.model.id,
      arch: this.arch,
      steps,
      loss: this.loss,
      tokens: this.tokens ? this.tokens.slice(0, steps) : null,
      gate_names: this.gateNames,
      layers: this.layers.map((layer) => ({
        gates: Object.fromEntries(this.gateNames.map((g) => [g, cols(layer.q[g])])),
        hidden: cols(layer.q.hidden),
        cell: layer.q.cell ? cols(layer.q.cell) : null,
        grad_hidden: plain(layer.grad_hidden),
        grad_cell: plain(layer.grad_cell),
      })),
    };
  }
}

function fill(rows, t, vector) {
  for (let u = 0; u < vector.length; u += 1) rows[u][t] = vector[u];
}

/** One direction of one layer at step t, from a "step" record ({gates, hidden, cell}) or, with
 * ``k``, row k of a "steps" record (each field n rows). */
function setAt(q, t, msg, k = null) {
  const at = (value) => (k === null ? value : value[k]);
  for (const [name, value] of Object.entries(msg.gates)) fill(q[name], t, at(value));
  fill(q.hidden, t, at(msg.hidden));
  if (msg.cell) fill(q.cell, t, at(msg.cell));
}
