// The few DOM helpers every module uses: find by id, make an element, number a select's options,
// show or hide a message. Text is always set with textContent: nothing here parses HTML.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new ``tag`` element with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Options "0" … "count − 1" for a select (the layers of a model, say). */
export function countOptions(count) {
  return Array.from({ length: count }, (_, k) => new Option(String(k), String(k)));
}

/** Show ``text`` in ``box``, or hide the box when there is none (an error line, say). */
export function showMessage(box, text) {
  box.textContent = text ?? "";
  box.hidden = !text;
}
