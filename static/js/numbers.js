// Small numeric helpers shared by the views.

/** ``value`` kept within [lo, hi]. */
export const clamp = (value, lo, hi) => Math.max(lo, Math.min(hi, value));

/** The Euclidean norm of a vector (nulls count as 0). */
export function norm(vector) {
  let sum = 0;
  for (const v of vector) sum += v * v;
  return Math.sqrt(sum);
}
