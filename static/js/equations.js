// The cell's equations exactly as torch.nn documents them, with the selected unit's numbers from
// the trace plugged in: "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t = 0.930 × 0.410 + 0.120 × (−0.770) = 0.290".
// Built with DOM nodes (sub/sup), never innerHTML.

import { el } from "./dom.js";
import { factor, fmt } from "./format.js";
import { math, note } from "./mathtext.js";

/** The GRU's lines in the equations the model runs (app/engine/textbook.py names them). */
function gruNodes(variant, v, prev, bias) {
  const z = v("z");
  const nodes = [gateLine("r", "sigmoid", v("r"), bias), gateLine("z", "sigmoid", z, bias)];
  if (variant === "torch") {
    nodes.push(gateLine("n", "tanh", v("n"), bias, true));
  } else {
    const b = (w) => (bias ? ` + b_${w}n` : "");
    nodes.push(line("n", `n_t = tanh(W_in x_t${b("i")} + W_hn (r_t ⊙ h_{t−1})${b("h")})`, null, fmt(v("n"))));
  }
  if (variant === "chung") {
    nodes.push(line("h", "h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ n_t",
      `(1 − ${fmt(z)}) × ${factor(prev("hidden"))} + ${factor(z)} × ${factor(v("n"))}`, fmt(v("hidden"))));
  } else {
    nodes.push(line("h", "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}",
      `(1 − ${fmt(z)}) × ${factor(v("n"))} + ${factor(z)} × ${factor(prev("hidden"))}`, fmt(v("hidden"))));
  }
  nodes.push(note({
    torch: "torch.nn.GRU: r_t multiplies (W_hn h_{t−1} + b_hn), after the matrix, and z_t keeps the old state.",
    cho: "Cho et al. (2014), as Keras reset_after=False and ONNX linear_before_reset=0: the reset acts before " +
      "the matrix, and z_t keeps the old state.",
    chung: "Chung et al. (2014) and the seed text: the reset acts before the matrix, and z_t takes the candidate.",
  }[variant] + " The same weights give different numbers under each (the lab's Equations tab shows all three)."));
  return nodes;
}

/** One equation: symbolic form, then (optionally) numbers, then the trace's value. */
function line(key, symbolic, numbers, result) {
  const row = el("div", "eq");
  row.dataset.eq = key;
  const sym = el("span", "eq-sym");
  sym.append(...math(symbolic));
  row.append(sym);
  if (numbers) row.append(el("span", "eq-num", ` = ${numbers}`));
  row.append(el("span", "eq-res", ` = ${result}`));
  return row;
}

/** Pre-activation in torch's notation, with or without biases: W_ii x_t + b_ii + W_hi h_{t−1} + b_hi. */
function affine(gate, bias, resetInside = false) {
  const b = (w) => (bias ? ` + b_${w}${gate}` : "");
  const recurrent = `W_h${gate} h_{t−1}${b("h")}`;
  const rec = resetInside ? `r_t ⊙ (${recurrent})` : recurrent;
  return `W_i${gate} x_t${b("i")} + ${rec}`;
}

const ACT = { sigmoid: "σ", tanh: "tanh" };

function gateLine(gate, fn, value, bias, resetInside) {
  return line(gate, `${gate}_t = ${ACT[fn]}(${affine(gate, bias, resetInside)})`, null, fmt(value));
}

/** The reverse direction reads the input from the end: its step t follows step t + 1, so each
 * "t−1" in the written equations reads "t+1" (text nodes only; the numbers are already its own). */
function fromTheEnd(nodes) {
  for (const node of nodes) {
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) walker.currentNode.nodeValue = walker.currentNode.nodeValue.replaceAll("t−1", "t+1");
  }
  return nodes;
}

/**
 * Equation nodes for ``unit`` of ``layer`` at step ``t``. ``v(key)`` is the trace's value at t,
 * ``prev(key)`` at t − 1 (0 before the first step: the initial state is zero), or at t + 1 for
 * the ``reverse`` direction of a bidirectional model and for a model that reads right to left.
 */
export function equationNodes(model, layer, t, v, prev, reverse = false) {
  const bias = model.bias !== false;
  const nodes = [];
  if (model.arch === "lstm") {
    nodes.push(gateLine("i", "sigmoid", v("i"), bias));
    nodes.push(gateLine("f", "sigmoid", v("f"), bias));
    nodes.push(gateLine("g", "tanh", v("g"), bias));
    nodes.push(gateLine("o", "sigmoid", v("o"), bias));
    nodes.push(line("c", "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t",
      `${factor(v("f"))} × ${factor(prev("cell"))} + ${factor(v("i"))} × ${factor(v("g"))}`, fmt(v("cell"))));
    const tanhC = Math.tanh(v("cell"));
    nodes.push(line("h", "h_t = o_t ⊙ tanh(c_t)",
      `${factor(v("o"))} × tanh(${fmt(v("cell"))}) = ${factor(v("o"))} × ${factor(tanhC)}`, fmt(v("hidden"))));
    nodes.push(note("torch.nn.LSTM, gate order i, f, g, o; σ is the logistic sigmoid, ⊙ elementwise."));
  } else if (model.arch === "gru") {
    nodes.push(...gruNodes(model.gru_variant ?? "torch", v, prev, bias));
  } else {
    const act = model.nonlinearity === "relu" ? "relu" : "tanh";
    const b = bias ? " + b_ih" : "";
    const bh = bias ? " + b_hh" : "";
    nodes.push(line("h", `h_t = ${act}(W_ih x_t${b} + W_hh h_{t−1}${bh})`,
      null, fmt(v("hidden"))));
    nodes.push(note(`torch.nn.RNN (${act}); with no gates, the gradient through time is scaled by the ` +
      "recurrent Jacobian at every step, which is why it vanishes or explodes."));
  }
  if (layer > 0 && model.bidirectional) {
    nodes.push(note(`Layer ${layer}: x_t is layer ${layer - 1}'s hidden states h_t, both directions side by side.`));
  } else if (layer > 0) {
    nodes.push(note(`Layer ${layer}: x_t is the hidden state h_t of layer ${layer - 1}.`));
  }
  if (model.right_to_left) {
    nodes.push(note("This model reads its input right to left (ONNX direction=\"reverse\", Keras " +
      "go_backwards): t counts input positions, and its step t follows step t+1."));
  } else if (reverse) {
    nodes.push(note("The reverse direction reads the input from the end: its step t follows step t+1."));
  }
  if (model.framework && model.framework !== "torch" && model.framework_equations) {
    // The file's own notation (Keras or ONNX), as text: its gate names and order beside torch's.
    nodes.push(note(`In ${model.framework === "keras" ? "Keras" : "ONNX"}'s own terms: ${model.framework_equations}`));
  }
  return reverse || model.right_to_left ? fromTheEnd(nodes) : nodes;
}
