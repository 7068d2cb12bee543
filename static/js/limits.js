// The server's limits (GET /api/limits: max_steps, max_hidden_size, max_train_steps, ...), fetched
// once per page. An input names the limit it is bound by (data-limit="max_steps") and gets it as
// its max, so no limit is written in a template or a script, and a server configured with other
// limits is followed. The server still checks every request itself.

import { getJSON } from "./api.js";

let limits = null;

/** The limits, from one request however often asked. */
export function getLimits() {
  limits ??= getJSON("/api/limits");
  return limits;
}

/** Set ``max`` on every input under ``root`` that names a limit. */
export async function applyLimits(root = document) {
  let values;
  try {
    values = await getLimits();
  } catch (err) {
    console.warn(`the server's limits are not available (${err.message}); its answers still enforce them`);
    return;
  }
  for (const input of root.querySelectorAll("[data-limit]")) {
    const value = values[input.dataset.limit];
    if (Number.isFinite(value)) input.max = String(value);
  }
}
