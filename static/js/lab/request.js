// What every lab view shares: one request in flight (../latest.js drops stale answers), a status
// line, and the key of the last request. Each view also times itself, request to drawn plot, and
// shows it (data-render-ms) for a person and for the browser benchmark. LabView.fetchAndDraw()
// is that whole round.

import { postJSON } from "../api.js";
import { $ } from "../dom.js";
import { Latest } from "../latest.js";

/** Wait until the browser has painted what was just drawn. */
export function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

/** A view's status line: "computed and drawn in 123 ms", or the server's error as text. */
export class ViewStatus {
  constructor(section) {
    this.section = section;
    this.line = section.querySelector(".view-status");
  }

  /** The answer arrived: what follows is drawing. */
  fetched() {
    this.fetchedAt = performance.now();
  }

  busy(text = "computing…") {
    this.fetchedAt = null;
    this.section.classList.add("busy");
    this.line.classList.remove("error");
    this.line.textContent = text;
  }

  done(started, extra = "") {
    const ms = performance.now() - started;
    this.section.classList.remove("busy");
    this.section.dataset.renderMs = ms.toFixed(0);
    let split = "";
    if (this.fetchedAt) {
      const server = this.fetchedAt - started;
      this.section.dataset.fetchMs = server.toFixed(0);
      split = ` (answer ${server.toFixed(0)} ms, drawing ${(ms - server).toFixed(0)} ms)`;
    }
    this.line.classList.remove("error");
    this.line.textContent = `computed and drawn in ${ms.toFixed(0)} ms${split}${extra}`;
  }

  /** A plain remark (not an error): the view stopped where the user asked. */
  note(text) {
    this.section.classList.remove("busy");
    this.line.classList.remove("error");
    this.line.textContent = text;
  }

  error(text) {
    this.section.classList.remove("busy");
    this.line.classList.add("error");
    this.line.textContent = text;
  }
}

/**
 * What every lab view has: its section (#view-…), its status line, one request in flight, and
 * the key of the body it last asked for (forget() clears it to force a recompute). A view
 * defines draw(data) and calls fetchAndDraw() from its refresh(). It reads the page's state
 * through ``lab`` and never writes it: a user's change goes to ``intents`` (main.js), which
 * updates the state and the URL and calls refresh() again.
 */
export class LabView {
  constructor(lab, intents, sectionId) {
    this.lab = lab;
    this.intents = intents;
    this.section = $(sectionId);
    this.status = new ViewStatus(this.section);
    this.latest = new Latest();
    this.lastKey = null;
  }

  /** Recompute on the next refresh(), even if the request is the same. */
  forget() {
    this.lastKey = null;
  }

  /**
   * One round trip: nothing if ``body`` is what this view last asked for; otherwise the status
   * says "computing…" (or ``busy``), the POST goes out, draw(data) draws the answer, and once
   * painted the status says how long it all took, plus ``suffix(data)``. A stale answer is
   * dropped; a failed request shows the server's error (after ``failed()``) and forgets the
   * body, so asking again retries. ``alongside()`` starts with the request; the paint waits for it.
   */
  async fetchAndDraw(url, body, options = {}) {
    await this.fetchAllAndDraw([[url, body]], { ...options, one: true });
  }

  /**
   * The same round for several requests ([[url, body], ...]) answered together: draw() gets the
   * answers as an array, in order (or the one answer, with ``one``). ``post(url, body)`` sends
   * each (default postJSON; fixedsearch.js's remembers fixed-point answers).
   */
  async fetchAllAndDraw(requests, { busy, suffix, failed, alongside, one = false, post = postJSON } = {}) {
    const key = JSON.stringify(requests);
    if (key === this.lastKey) return;
    this.lastKey = key;
    const started = performance.now();
    this.status.busy(busy);
    const besides = alongside?.();
    let data;
    try {
      const answers = await this.latest.settle(Promise.all(requests.map(([url, body]) => post(url, body))));
      data = answers && one ? answers[0] : answers;
    } catch (err) {
      this.lastKey = null;
      failed?.();
      this.status.error(err.message);
      return;
    }
    if (!data) return;
    this.status.fetched();
    await this.draw(data);
    await besides;
    await painted();
    this.status.done(started, suffix?.(data));
  }
}
