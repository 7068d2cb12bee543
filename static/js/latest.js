// Only the newest answer counts: a newer request makes the older one's answer stale, and a stale
// answer is dropped (null), so a quick run of changes ends on the last one's numbers. Used by the
// lab's views and by the main page's compare section.

import { postJSON } from "./api.js";

export class Latest {
  constructor() {
    this.serial = 0;
  }

  /** POST, or null when a newer post() started meanwhile. Errors of stale requests are dropped too. */
  post(url, payload) {
    return this.settle(postJSON(url, payload));
  }

  /** ``promise``'s value, or null when another settle() started (or drop() was called) meanwhile. */
  async settle(promise) {
    const serial = ++this.serial;
    try {
      const body = await promise;
      return serial === this.serial ? body : null;
    } catch (err) {
      if (serial !== this.serial) return null;
      throw err;
    }
  }

  /** Make whatever is in flight stale. */
  drop() {
    this.serial += 1;
  }
}
