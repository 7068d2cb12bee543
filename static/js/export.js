// Download the trace as JSON (the API's own shape) or CSV. The CSV is wide: one row per
// (layer, t, quantity) with columns layer, t, token, quantity, unit_0 … unit_{H−1}; quantities are
// the gates, cell, hidden, grad_hidden and grad_cell. PNGs come from each plot's own modebar.

import { el } from "./dom.js";
import { missing } from "./numbers.js";

/** Save ``text`` (a string or a Blob) as ``filename``. */
export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csvField(text) {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function traceCSV(data) {
  const json = data.toJSON();
  const units = data.units; // the widest layer's: a narrower layer leaves its last columns empty
  const lines = [["layer", "t", "token", "quantity", ...Array.from({ length: units }, (_, u) => `unit_${u}`)].join(",")];
  json.layers.forEach((layer, l) => {
    const quantities = [
      ...Object.entries(layer.gates),
      ["cell", layer.cell],
      ["hidden", layer.hidden],
      ["grad_hidden", layer.grad_hidden],
      ["grad_cell", layer.grad_cell],
    ].filter(([, matrix]) => matrix);
    for (let t = 0; t < json.steps; t += 1) {
      const token = json.tokens ? csvField(json.tokens[t]) : "";
      for (const [name, matrix] of quantities) {
        const row = matrix[t];
        if (row) lines.push([l, t, token, name, ...row.map((v) => (missing(v) ? "" : String(v)))].join(","));
      }
    }
  });
  return lines.join("\n") + "\n";
}

export function exportJSON(data) {
  download(`gatescope-${data.model.id}-trace.json`, "application/json", JSON.stringify(data.toJSON()));
}

export function exportCSV(data) {
  download(`gatescope-${data.model.id}-trace.csv`, "text/csv", traceCSV(data));
}
