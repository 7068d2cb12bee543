// How a model with a vocabulary reads its input. A vocabulary of single characters reads text,
// one character per step ({text}); one with longer tokens ("</s>", "AE", "the") reads tokens
// separated by spaces, one per step ({tokens}). The server checks every token against it.

/** True when some token of the model's vocabulary is not one character: the input is tokens. */
export function readsTokens(model) {
  return Boolean(model?.vocab?.some((token) => [...token].length !== 1));
}

/** "c a t </s>" -> ["c", "a", "t", "</s>"]. */
export function splitTokens(text) {
  return text.split(/\s+/).filter(Boolean);
}

/** The API's input fields for ``text`` typed for ``model``: {payload, steps, tokens}, or null when
 * there is nothing to run. Numbers are parsed by the caller (input.js). */
export function sequenceFor(model, text) {
  if (readsTokens(model)) {
    const tokens = splitTokens(text);
    return tokens.length ? { payload: { tokens }, steps: tokens.length, tokens } : null;
  }
  if (!text.length) return null;
  const chars = [...text];
  return { payload: { text }, steps: chars.length, tokens: chars };
}

/** The vocabulary as the input hint shows it. */
export function vocabHint(model) {
  const vocab = model.vocab;
  if (readsTokens(model)) {
    const shown = vocab.length > 40 ? `${vocab.slice(0, 40).join(" ")} … (${vocab.length} in all)` : vocab.join(" ");
    return `Tokens this model knows: ${shown}. Separate tokens with spaces; typing runs it live.`;
  }
  const shown = vocab.length > 60
    ? `${vocab.length} characters (printable ASCII)`
    : vocab.map((c) => (c === " " ? "␣" : c === "\n" ? "↵" : c)).join("");
  return `Characters this model knows: ${shown}. Typing runs it live.`;
}
