// Which units the heatmaps and the inspector show, in which order. At 512 units a heatmap is a
// blur: order them by index, by variance over the input (busiest first), or by similarity (a
// greedy chain: start from the busiest unit, then always the unit most correlated with the last
// one, so units that move together sit together); and show all of them, the top k by variance,
// units picked by hand, or the units active on a span of steps. Computed from the hidden state
// of the layer (and direction) on screen. The URL keeps order=… and show=… (state.js).

import { missing } from "./numbers.js";

export const ORDERS = {
  index: "unit index",
  variance: "variance over the input (high first)",
  cluster: "similarity (greedy correlation chain)",
};

/** "all" | "top:16" | "units:3,17" | "span:10-20" -> {kind, ...}; unreadable text is "all". */
export function parseShow(text) {
  const top = /^top:(\d+)$/.exec(text ?? "");
  if (top && Number(top[1]) > 0) return { kind: "top", k: Number(top[1]) };
  const units = /^units:([\d,]+)$/.exec(text ?? "");
  if (units) {
    const list = [...new Set(units[1].split(",").filter(Boolean).map(Number))];
    if (list.length) return { kind: "units", units: list };
  }
  const span = /^span:(\d+)-(\d+)$/.exec(text ?? "");
  if (span) return { kind: "span", t0: Math.min(+span[1], +span[2]), t1: Math.max(+span[1], +span[2]) };
  return { kind: "all" };
}

export function showText(show) {
  if (show.kind === "top") return `top:${show.k}`;
  if (show.kind === "units") return `units:${show.units.join(",")}`;
  if (show.kind === "span") return `span:${show.t0}-${show.t1}`;
  return "all";
}

/** Each unit's variance over the steps received (nulls skipped). */
export function variances(rows) {
  return rows.map((row) => {
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (const v of row) {
      if (missing(v)) continue;
      n += 1;
      sum += v;
      sq += v * v;
    }
    return n ? Math.max(0, sq / n - (sum / n) ** 2) : 0;
  });
}

/** Rows standardized (mean 0, norm 1) over at most ``maxSteps`` evenly spaced steps. */
function standardized(rows, maxSteps = 256) {
  const steps = rows[0]?.length ?? 0;
  const stride = Math.max(1, Math.ceil(steps / maxSteps));
  return rows.map((row) => {
    const picked = [];
    for (let t = 0; t < steps; t += stride) picked.push(row[t] ?? 0);
    const out = Float32Array.from(picked);
    const mean = out.reduce((a, b) => a + b, 0) / (out.length || 1);
    let norm = 0;
    for (let k = 0; k < out.length; k += 1) {
      out[k] -= mean;
      norm += out[k] * out[k];
    }
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < out.length; k += 1) out[k] /= norm;
    return out;
  });
}

/** Unit ids in ``order``: "index", "variance" or "cluster". */
export function orderUnits(rows, order) {
  const ids = rows.map((_, u) => u);
  if (order === "index" || rows.length < 2) return ids;
  const vars = variances(rows);
  const byVariance = ids.sort((a, b) => vars[b] - vars[a] || a - b);
  if (order === "variance") return byVariance;
  const z = standardized(rows);
  const chain = [byVariance[0]];
  const left = new Set(byVariance.slice(1));
  while (left.size) {
    const last = z[chain.at(-1)];
    let best = -1;
    let bestCorr = -Infinity;
    for (const u of left) {
      const other = z[u];
      let c = 0;
      for (let k = 0; k < last.length; k += 1) c += last[k] * other[k];
      if (c > bestCorr) {
        bestCorr = c;
        best = u;
      }
    }
    chain.push(best);
    left.delete(best);
  }
  return chain;
}

/** Units whose |value| averages at least ``threshold`` over steps t0..t1 (clipped to the data). */
export function activeOn(rows, t0, t1, threshold = 0.5) {
  return rows.map((row, u) => {
    let n = 0;
    let sum = 0;
    for (let t = t0; t <= Math.min(t1, row.length - 1); t += 1) {
      if (missing(row[t])) continue;
      n += 1;
      sum += Math.abs(row[t]);
    }
    return n && sum / n >= threshold ? u : -1;
  }).filter((u) => u >= 0);
}

/** The units to show, in display order. */
export function selectUnits(rows, order, show) {
  const ordered = orderUnits(rows, order);
  const units = rows.length;
  if (show.kind === "top") {
    const vars = variances(rows);
    const keep = new Set([...ordered].sort((a, b) => vars[b] - vars[a] || a - b).slice(0, show.k));
    return ordered.filter((u) => keep.has(u));
  }
  if (show.kind === "units") {
    const keep = new Set(show.units.filter((u) => u < units));
    return ordered.filter((u) => keep.has(u));
  }
  if (show.kind === "span") {
    const keep = new Set(activeOn(rows, show.t0, show.t1));
    return ordered.filter((u) => keep.has(u));
  }
  return ordered;
}
