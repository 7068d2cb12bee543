// One trace held in the page: every quantity of every layer as units x time rows (what a Plotly
// heatmap takes as z), filled step by step from the stream or at once from POST /api/trace.
// Steps not yet received are null, so plots show them blank while the stream fills them in.

import { norm } from "./numbers.js";
import { quantitiesFor } from "./quantities.js";

function emptyRows(units, steps) {
  return Array.from({ length: units }, () => new Array(steps).fill(null));
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
    this.units = model.hidden_size;
    this.capacity = capacity;
    this.steps = 0; // steps received so far
    this.tokens = tokens;
    this.loss = null;
    this.complete = false; // gradients received for all steps
    this.gateNames = gateNames;
    this.quantities = quantitiesFor(model.arch, this.gateNames, model.nonlinearity);
    this.layers = Array.from({ length: model.num_layers }, () => this.emptyLayer(capacity));
  }

  emptyLayer(steps) {
    const layer = { q: {}, grad_hidden: null, grad_cell: null, gradNorm: { hidden: null, cell: null } };
    for (const q of this.quantities) layer.q[q.key] = emptyRows(this.units, steps);
    return layer;
  }

  /** Make room for more steps (text appended while typing). */
  grow(capacity) {
    if (capacity <= this.capacity) return;
    const extra = capacity - this.capacity;
    for (const layer of this.layers) {
      for (const rows of Object.values(layer.q)) rows.forEach((row) => row.push(...new Array(extra).fill(null)));
    }
    this.capacity = capacity;
    this.complete = false;
  }

  /** One stream "step" message: {t, layers: [{gates, hidden, cell}]}. */
  setStep(t, layers) {
    if (t >= this.capacity) this.grow(t + 1);
    layers.forEach((msg, l) => {
      const q = this.layers[l].q;
      for (const [name, vector] of Object.entries(msg.gates)) fill(q[name], t, vector);
      fill(q.hidden, t, msg.hidden);
      if (msg.cell) fill(q.cell, t, msg.cell);
    });
    this.steps = Math.max(this.steps, t + 1);
  }

  /** The stream's "done" message (or a full trace): gradients over the whole sequence. */
  setGradients(loss, layers) {
    this.loss = loss;
    layers.forEach((msg, l) => {
      const layer = this.layers[l];
      layer.grad_hidden = msg.grad_hidden;
      layer.grad_cell = msg.grad_cell ?? null;
      layer.gradNorm.hidden = msg.grad_hidden.map(norm);
      layer.gradNorm.cell = msg.grad_cell ? msg.grad_cell.map(norm) : null;
    });
    this.complete = true;
  }

  /** A whole POST /api/trace response at once. */
  static fromResponse(model, response) {
    const data = new TraceData(model, response.steps, response.tokens, response.gate_names);
    response.layers.forEach((msg, l) => {
      const q = data.layers[l].q;
      for (const [name, matrix] of Object.entries(msg.gates)) q[name] = transpose(matrix, data.units);
      q.hidden = transpose(msg.hidden, data.units);
      if (msg.cell) q.cell = transpose(msg.cell, data.units);
    });
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
    return rows[unit]?.[t] ?? null;
  }

  /** The state a step started from: x_{-1} states are the zero initial state. */
  previous(layer, key, t, unit) {
    if (t === 0) return 0;
    return this.value(layer, key, t - 1, unit);
  }

  /** The API's JSON shape, for export. */
  toJSON() {
    const steps = this.steps;
    const cols = (rows) => Array.from({ length: steps }, (_, t) => rows.map((row) => row[t]));
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
        grad_hidden: layer.grad_hidden,
        grad_cell: layer.grad_cell,
      })),
    };
  }
}

function fill(rows, t, vector) {
  for (let u = 0; u < vector.length; u += 1) rows[u][t] = vector[u];
}
