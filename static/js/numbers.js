// Small numeric helpers shared by the views.

/** ``value`` kept within [lo, hi]. */
export const clamp = (value, lo, hi) => Math.max(lo, Math.min(hi, value));

/** A value not yet received: the trace keeps them as NaN in its Float32Array rows. */
export const missing = (v) => v === null || v === undefined || Number.isNaN(v);

/** The Euclidean norm of a vector (missing values count as 0). */
export function norm(vector) {
  let sum = 0;
  for (const v of vector) if (!missing(v)) sum += v * v;
  return Math.sqrt(sum);
}
