// Norms that span hundreds of decades (a vanishing RNN gradient reaches 1e−400, below what a
// double can hold) are plotted as their log10 on a linear axis, labelled in powers of ten: the
// same picture as a log axis, without underflow.

const MINUS = "\u2212";
const NICE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** "10<sup>−5</sup>" (Plotly tick text; our own strings only). */
export function powerOfTen(k) {
  if (k === 0) return "1";
  if (k === 1) return "10";
  return `10<sup>${String(k).replace("-", MINUS)}</sup>`;
}

/** Axis settings with a tick every few decades across [lo, hi] (log10 values). */
export function decadeAxis(lo, hi, titleText) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = -1;
    hi = 1;
  }
  if (hi - lo < 1) {
    lo = Math.floor(lo);
    hi = Math.ceil(hi + 1e-9);
    if (hi === lo) hi = lo + 1;
  }
  const step = NICE.find((s) => (hi - lo) / s <= 7) ?? Math.ceil((hi - lo) / 7);
  const tickvals = [];
  for (let k = Math.ceil(lo / step) * step; k <= hi; k += step) tickvals.push(k);
  const pad = (hi - lo) * 0.04;
  return {
    title: { text: titleText },
    tickmode: "array",
    tickvals,
    ticktext: tickvals.map(powerOfTen),
    range: [lo - pad, hi + pad],
    automargin: true,
    zeroline: false,
  };
}

/** Smallest and largest finite value across arrays (nulls skipped). */
export function extent(arrays) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of arrays) {
    for (const v of values ?? []) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return [lo, hi];
}

const MANTISSAS_FEW_DECADES = [1, 2, 5];

/** m·10^k as tick text: "2", "50" and "0.2" written out near 1, "2·10<sup>−5</sup>" further away. */
export function mantissaText(m, k) {
  if (m === 1) return powerOfTen(k);
  if (k >= -1 && k <= 1) return String(Number((m * 10 ** k).toPrecision(1)));
  return `${m}·${powerOfTen(k)}`;
}

/**
 * Settings for a Plotly log axis over positive ``values``: a few labelled ticks, never every digit
 * of a decade (Plotly's own choice on a short range crowds the axis). Up to 2 decades: 1, 2 and 5
 * times powers of ten; more: powers of ten, every one, two, five … decades. Empty when there is
 * nothing positive to show (Plotly's own ticks then).
 */
export function logTicks(values) {
  const [lo, hi] = extent([values.filter((v) => v > 0)]);
  if (!(lo > 0) || !Number.isFinite(hi)) return {};
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mantissas = b - a <= 2 ? MANTISSAS_FEW_DECADES : [1];
  const step = NICE.find((s) => (b - a) / s <= 6) ?? Math.ceil((b - a) / 6);
  const tickvals = [];
  const ticktext = [];
  for (let k = Math.floor(a / step) * step; k <= b; k += step) {
    for (const m of mantissas) {
      const v = m * 10 ** k;
      if (v < lo / 1.05 || v > hi * 1.05) continue;
      tickvals.push(v);
      ticktext.push(mantissaText(m, k));
    }
  }
  // A range inside one 1-2-5 gap would show no tick: let Plotly choose then.
  return tickvals.length >= 2 ? { tickmode: "array", tickvals, ticktext } : { tickmode: "auto" };
}
