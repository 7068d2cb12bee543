// Colors that mean something: a sequential scale for gates in [0, 1], a diverging one centred on 0
// for signed values. The same scales color the heatmaps (Plotly) and the text view (CSS).

// Plotly's Viridis stops: gates are sigmoids, 0 = closed (dark), 1 = open (bright).
export const SEQUENTIAL = [
  [0, "#440154"], [0.125, "#472d7b"], [0.25, "#3b528b"], [0.375, "#2c728e"], [0.5, "#21918c"],
  [0.625, "#28ae80"], [0.75, "#5ec962"], [0.875, "#addc30"], [1, "#fde725"],
];

// ColorBrewer RdBu, blue for negative, white at 0, red for positive.
export const DIVERGING = [
  [0, "#053061"], [0.1, "#2166ac"], [0.2, "#4393c3"], [0.3, "#92c5de"], [0.4, "#d1e5f0"],
  [0.5, "#f7f7f7"], [0.6, "#fddbc7"], [0.7, "#f4a582"], [0.8, "#d6604d"], [0.9, "#b2182b"],
  [1, "#67001f"],
];

/**
 * Color range for a quantity kind. sigmoid: [0, 1]; tanh: [−1, 1]; signed (the LSTM cell,
 * unbounded): symmetric around 0 at the largest |value|; relu: [0, max].
 */
export function rangeFor(kind, rows) {
  if (kind === "sigmoid") return { scale: SEQUENTIAL, zmin: 0, zmax: 1 };
  if (kind === "tanh") return { scale: DIVERGING, zmin: -1, zmax: 1 };
  const top = Math.max(maxAbs(rows), 1e-6);
  if (kind === "relu") return { scale: SEQUENTIAL, zmin: 0, zmax: top };
  return { scale: DIVERGING, zmin: -top, zmax: top };
}

export function maxAbs(rows) {
  let top = 0;
  for (const row of rows) {
    for (const v of row) {
      if (v !== null && Math.abs(v) > top) top = Math.abs(v);
    }
  }
  return top;
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** The CSS color of ``value`` on ``range`` (from rangeFor), and whether text on it should be light. */
export function colorOf(value, range) {
  const span = range.zmax - range.zmin;
  const x = Math.min(1, Math.max(0, (value - range.zmin) / span));
  const stops = range.scale;
  let k = 1;
  while (k < stops.length - 1 && stops[k][0] < x) k += 1;
  const [x0, c0] = stops[k - 1];
  const [x1, c1] = stops[k];
  const w = x1 === x0 ? 0 : (x - x0) / (x1 - x0);
  const a = hexToRgb(c0);
  const b = hexToRgb(c1);
  const rgb = a.map((v, i) => Math.round(v + (b[i] - v) * w));
  const luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255;
  return { css: `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`, light: luminance < 0.55 };
}

/** One color and dash per architecture wherever they are plotted side by side (Okabe-Ito colors,
 * safe for color-blind readers; the dash tells them apart in grayscale too). */
export const ARCH_STYLE = {
  rnn: { color: "#D55E00", dash: "dot", label: "RNN" },
  lstm: { color: "#0072B2", dash: "solid", label: "LSTM" },
  gru: { color: "#009E73", dash: "dash", label: "GRU" },
};
