// One trace run over the WebSocket stream: a TraceData filled step by step, redraws batched to at
// most one every ~100 ms (stretched to 3x the last redraw's cost when redraws are slow, so a long
// sequence never starves the page), and live typing sent as "append" so the prefix is not
// recomputed. A whole run asks for STEPS_PER_MESSAGE steps per message (far fewer frames to
// parse); an append is a few characters, so its steps come as they are computed. A bidirectional
// model streams too, both directions in each step; an append changes its reverse direction at
// every earlier step, so the server sends the whole sequence again ("started" from 0) and the
// trace is refilled from there; so does a model that reads right to left (ONNX direction="reverse",
// Keras go_backwards). The page's views hang off the hooks.

import { openTraceStream } from "./api.js";
import { TraceData } from "./trace.js";

export const STEPS_PER_MESSAGE = 16;

export class TraceRunner {
  /** hooks: start(data), flush(data), done(data, loss), cancelled(data), error(text). */
  constructor(hooks) {
    this.hooks = hooks;
    this.stream = null;
    this.data = null;
    this.streamed = ""; // the text the stream holds, for appends
    this.timer = null;
    this.cost = 0;
  }

  /**
   * Run ``parsed`` ({payload, steps, tokens}, from InputPanel) through ``model``. The trace
   * starts when the server says "started": its gate names (and step count) are the server's.
   */
  start(model, parsed, objective, initial = null) {
    this.stop();
    this.data = null;
    this.streamed = parsed.payload.text ?? null; // only text sequences are extended by appends
    const states = initial ? { h0: initial.h0, ...(initial.c0 && model.arch === "lstm" ? { c0: initial.c0 } : {}) } : {};
    let data = null;
    const begin = { model: model.id, ...parsed.payload, objective, ...states, steps_per_message: STEPS_PER_MESSAGE, format: "f32" };
    const stream = openTraceStream(begin, {
      started: (msg) => {
        if (this.stream !== stream) return;
        if (data) {
          data.grow(msg.steps); // an append restarted the stream: the same trace, longer,
          data.rewind(msg.from); // sent again from msg.from (0 for a bidirectional model)
          return;
        }
        data = new TraceData(model, msg.steps, parsed.tokens, msg.gate_names);
        data.h0 = states.h0 ?? null;
        data.c0 = states.c0 ?? null;
        this.data = data;
        this.hooks.start(data);
      },
      step: (msg) => {
        if (this.stream !== stream || !data) return;
        data.setStep(msg.t, msg.layers, msg.predictions);
        this.arrived(data);
      },
      steps: (msg) => {
        if (this.stream !== stream || !data) return;
        data.setSteps(msg);
        this.arrived(data);
      },
      done: (msg) => {
        if (this.stream !== stream || !data) return;
        data.setGradients(msg.loss, msg.layers);
        this.flush();
        this.hooks.done(data, msg.loss);
      },
      cancelled: () => {
        if (this.stream !== stream || !data) return;
        this.flush();
        this.hooks.cancelled(data);
      },
      error: (text) => {
        if (this.stream === stream) this.hooks.error(text);
      },
    });
    this.stream = stream;
  }

  /**
   * Extend the finished text sequence with what was typed after it. False when that is not
   * possible (the text was edited before its end, or the stream is gone): then run it anew.
   */
  append(text) {
    const data = this.data;
    const possible = this.stream?.isOpen() && data?.complete && data.tokens && this.streamed !== null &&
      text.length > this.streamed.length && text.startsWith(this.streamed);
    if (!possible) return false;
    const suffix = text.slice(this.streamed.length);
    this.streamed = text;
    data.tokens = [...text];
    data.grow(data.tokens.length);
    this.stream.append({ text: suffix });
    return true;
  }

  cancel() {
    this.stream?.cancel();
  }

  stop() {
    this.stream?.close();
    this.stream = null;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Steps arrived: redraw soon, or at once when they were the last (see `flush`'s hook). */
  arrived(data) {
    // The server computes the gradients after the last step: drawing every step now overlaps the
    // page's one big drawing (a real-size trace) with that backward pass, instead of following it.
    if (data.steps === data.capacity) this.flush(false);
    else this.schedule();
  }

  schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(false), Math.max(100, 3 * this.cost));
  }

  /** Redraw the views; ``final`` (done, cancelled) always draws everything. */
  flush(final = true) {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.data) return;
    const start = performance.now();
    this.hooks.flush(this.data, final);
    this.cost = performance.now() - start;
  }
}
