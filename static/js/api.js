// Talking to the server: JSON over HTTP and the trace stream over a WebSocket. Every failure
// becomes an ApiError whose message is the server's own "detail", shown to the user as text.

import { unpack } from "./wire.js";

export class ApiError extends Error {
  /** ``body``: the server's whole answer (an upload's 422 lists the file's ``modules``, say). */
  constructor(message, body = null) {
    super(message);
    this.body = body;
  }
}

/** FastAPI's detail is a string, or for validation errors a list of {loc, msg}. */
export function detailText(detail, status) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body").join(".");
        return where ? `${where}: ${d.msg}` : d.msg;
      })
      .join("; ");
  }
  return `request failed (HTTP ${status})`;
}

async function request(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new ApiError(`cannot reach the server: ${err.message}`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(detailText(body?.detail, response.status), body);
  return body;
}

export function getJSON(url) {
  return request(url, { headers: { Accept: "application/json" } });
}

export function postJSON(url, payload) {
  return request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(payload),
  });
}

export function postFile(url, file, fields = {}) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [name, value] of Object.entries(fields)) {
    if (value instanceof File) form.append(name, value, value.name);
    else if (value !== null && value !== undefined && value !== "") form.append(name, value);
  }
  return request(url, { method: "POST", body: form });
}

/**
 * A WebSocket to ``path`` on this server that sends {type: "start", ...start} once open.
 * send(msg) sends only on an open socket; close() on one still connecting waits for it to open
 * (closing a socket that is still connecting makes the browser log a warning).
 */
function openSocket(path, start) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${window.location.host}${path}`);
  socket.binaryType = "arraybuffer"; // frames in the compact wire format (wire.js) come as bytes
  let closeWhenOpen = false;
  socket.addEventListener("open", () => {
    if (closeWhenOpen) socket.close();
    else socket.send(JSON.stringify({ type: "start", ...start }));
  });
  return {
    socket,
    send: (msg) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
    },
    close: () => {
      if (socket.readyState === WebSocket.CONNECTING) closeWhenOpen = true;
      else socket.close();
    },
  };
}

/**
 * Open the trace stream and send ``start``. Handlers: started(msg) ({model, steps, arch,
 * gate_names}), step(msg), steps(msg) (n steps at once, with steps_per_message), done(msg), cancelled(msg), error(text), closed(). Returns
 * {append(payload), cancel(), close(), isOpen()}.
 */
export function openTraceStream(start, handlers) {
  const { socket, send, close } = openSocket("/ws/trace", start);
  let finished = false;
  socket.addEventListener("message", (event) => {
    if (finished) return;
    const msg = typeof event.data === "string" ? JSON.parse(event.data) : unpack(event.data);
    if (msg.type === "started") handlers.started(msg);
    else if (msg.type === "step") handlers.step(msg);
    else if (msg.type === "steps") handlers.steps(msg);
    else if (msg.type === "done") handlers.done(msg);
    else if (msg.type === "cancelled") handlers.cancelled(msg);
    else if (msg.type === "error") handlers.error(detailText(msg.detail));
  });
  socket.addEventListener("error", () => {
    if (!finished) handlers.error("the trace stream failed: is the server running?");
  });
  socket.addEventListener("close", () => {
    finished = true;
    handlers.closed?.();
  });
  return {
    append: (payload) => send({ type: "append", ...payload }),
    cancel: () => send({ type: "cancel" }),
    close: () => {
      finished = true;
      close();
    },
    isOpen: () => socket.readyState === WebSocket.OPEN,
  };
}

/**
 * A job stream: open ``path``, send ``start``, and hand every server message to onMessage(msg)
 * (an "error"'s detail as text) until one of ``finals`` ends it; a dropped connection is an "error"
 * saying ``lostText``. Returns {cancel(), close()}: close() drops the job (the server stops it)
 * and silences its messages.
 */
function openJobStream(path, start, onMessage, finals, lostText) {
  const { socket, send, close } = openSocket(path, start);
  let finished = false;
  socket.addEventListener("message", (event) => {
    if (finished) return;
    const msg = JSON.parse(event.data);
    if (msg.type === "error") msg.detail = detailText(msg.detail);
    if (finals.includes(msg.type)) finished = true;
    onMessage(msg);
  });
  const lost = () => {
    if (finished) return;
    finished = true;
    onMessage({ type: "error", detail: lostText });
  };
  socket.addEventListener("error", lost);
  socket.addEventListener("close", lost);
  return {
    cancel: () => send({ type: "cancel" }),
    close: () => {
      finished = true;
      close();
    },
  };
}

/**
 * Open the training stream (WS /ws/train) and send ``start``. Messages: "started", "progress",
 * "trained", then "done", "stopped" or "error".
 */
export function openTrainStream(start, onMessage) {
  return openJobStream("/ws/train", start, onMessage, ["done", "stopped", "error"],
    "the training stream closed: is the server running?");
}

/**
 * Open the units stream (WS /ws/analysis/units) and send ``start`` (the body of POST
 * /api/analysis/units). Messages: "started" ({steps, total}), "progress" ({done, total, phase}),
 * then "done" (the POST's answer), "cancelled" ({done}) or "error".
 */
export function openUnitsStream(start, onMessage) {
  return openJobStream("/ws/analysis/units", start, onMessage, ["done", "cancelled", "error"],
    "the units stream closed: is the server running?");
}
