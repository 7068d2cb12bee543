// Number and token formatting shared by every view. One precision everywhere, so what the
// inspector, the equations and the text view show can be checked against the API's numbers.

export const DIGITS = 3;
const MINUS = "\u2212";

/** A value at display precision, with a true minus sign: fmt(-0.7712) === "−0.771". */
export function fmt(value, digits = DIGITS) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return value.toFixed(digits).replace("-", MINUS);
}

/** A factor inside a product: negative numbers get parentheses, "0.120 × (−0.770)". */
export function factor(value, digits = DIGITS) {
  const text = fmt(value, digits);
  return value < 0 ? `(${text})` : text;
}

/** Gradient magnitudes span decades: 3.1e−5. */
export function sci(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value === 0) return "0";
  return value.toExponential(digits).replace("e-", "e" + MINUS).replace("e+", "e").replace(/^-/, MINUS);
}

/** Losses and metrics span decades: counts as integers ("largest n right 52"), small values in
 * scientific notation, others to 4 decimals. */
export function num(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Number.isInteger(value)) return count(value);
  return value !== 0 && Math.abs(value) < 1e-3 ? sci(value) : fmt(value, 4);
}

/** Parameter counts: 12,345. */
export function count(n) {
  return Number(n).toLocaleString("en-US");
}

/** A character as a visible label: space, newline and tab get symbols. */
export function tokenLabel(ch) {
  if (ch === " ") return "␣";
  if (ch === "\n") return "↵";
  if (ch === "\t") return "⇥";
  return ch;
}

/** What follows "t = 5" for a text model's step: " · ‘e’"; nothing for numbers (no token). */
export function tokenNote(token) {
  return token === undefined || token === null ? "" : ` · ‘${tokenLabel(token)}’`;
}

/** "1.8 ms" for a time per step given in seconds. */
export function msPerStep(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const ms = 1000 * seconds;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/** A metric value: "largest n right" is a count, the rest are numbers. */
export function metricText(value, name) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return /\bn\b/.test(name) && Number.isInteger(value) ? String(value) : num(value);
}
