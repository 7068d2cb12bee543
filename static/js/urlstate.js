// A view state kept in the URL hash (as tensorflow/playground's state.ts keeps its own), described
// by one table of keys: each key's name, its default, how to read its text and how to write it.
// The same table drives reading and writing, so a key is added, renamed or given a new default in
// one place. Keys are written in table order, and only where they differ from their default.

/**
 * One key of the hash. ``parse(text)`` gives the value, or undefined for text it cannot read (then
 * the default stands); ``serialize(value)`` gives the text. A key is left out of the hash when
 * ``isDefault(value)`` (by default: the value is the default) or when ``omit(state)`` (another key
 * stands for it).
 */
export function key(name, fallback, { parse = (text) => text, serialize = String, isDefault, omit } = {}) {
  return { name, fallback, parse, serialize, isDefault: isDefault ?? ((value) => value === fallback), omit };
}

/** A key whose value is a count: a whole number ≥ 0 (≥ 1 with ``positive``). */
export function countKey(name, fallback, { positive = false, ...options } = {}) {
  const parse = (text) => {
    const n = Number.parseInt(text, 10);
    return Number.isFinite(n) && n >= (positive ? 1 : 0) ? n : undefined;
  };
  return key(name, fallback, { parse, ...options });
}

/** A key whose value is a list, written comma-separated and left out when empty. */
export function listKey(name, { keep = () => true, max = Infinity } = {}) {
  return key(name, [], {
    parse: (text) => text.split(",").filter((item) => item && keep(item)).slice(0, max),
    serialize: (items) => items.join(","),
    isDefault: (items) => !items.length,
  });
}

const copy = (value) => (Array.isArray(value) ? [...value] : value);

export class UrlState {
  constructor(keys) {
    this.keys = keys;
  }

  /** Every key at its default. */
  defaults() {
    return Object.fromEntries(this.keys.map((k) => [k.name, copy(k.fallback)]));
  }

  /** The state the URLSearchParams ``params`` describe; absent or unreadable keys take their default. */
  read(params) {
    const state = {};
    for (const k of this.keys) {
      const text = params.get(k.name);
      const value = text === null ? undefined : k.parse(text);
      state[k.name] = value === undefined ? copy(k.fallback) : value;
    }
    return state;
  }

  /** Set the keys of ``state`` that differ from their defaults on ``params``, in table order. */
  write(state, params = new URLSearchParams()) {
    for (const k of this.keys) {
      const value = state[k.name];
      if (value === null || value === undefined || k.isDefault(value) || k.omit?.(state)) continue;
      params.set(k.name, k.serialize(value));
    }
    return params;
  }
}

/** "#a=1&b=2" -> URLSearchParams. */
export function paramsOf(hash) {
  return new URLSearchParams(hash.replace(/^#/, ""));
}

export function hashOf(params) {
  return "#" + params.toString();
}

/**
 * A function that writes ``encode(state)`` to the URL's hash without adding history entries, at
 * most once per frame (the last state of the frame wins). An empty hash leaves the bare path.
 */
export function hashWriter(encode) {
  let pending = null;
  let scheduled = false;
  return (state) => {
    pending = state;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      const hash = encode(pending);
      if (hash === window.location.hash) return;
      history.replaceState(null, "", hash === "#" ? window.location.pathname + window.location.search : hash);
    });
  };
}

/** A link pasted into this tab (a new hash) is a new view: load it as a reload would. */
export function reloadOnNewHash() {
  window.addEventListener("hashchange", () => window.location.reload());
}
