// What each recorded quantity is, in torch.nn's names: its label, a title that says what a plot
// of it shows, and its kind (which fixes its color range, see colors.js).

const GATES = {
  lstm: {
    i: ["i", "input gate i_t", "sigmoid"],
    f: ["f", "forget gate f_t", "sigmoid"],
    g: ["g", "cell candidate g_t (tanh)", "tanh"],
    o: ["o", "output gate o_t", "sigmoid"],
  },
  gru: {
    r: ["r", "reset gate r_t", "sigmoid"],
    z: ["z", "update gate z_t (1 keeps the old state)", "sigmoid"],
    n: ["n", "candidate state n_t (tanh)", "tanh"],
  },
  rnn: {},
};

/** The plotted quantities of a model, in display order: gates, then the cell (LSTM), then h. */
export function quantitiesFor(arch, gateNames, nonlinearity) {
  const list = gateNames.map((key) => {
    const [label, title, kind] = GATES[arch]?.[key] ?? [key, `gate ${key}`, "sigmoid"];
    return { key, label, title, kind };
  });
  if (arch === "lstm") list.push({ key: "cell", label: "c", title: "cell state c_t", kind: "signed" });
  const hiddenKind = arch === "rnn" && nonlinearity === "relu" ? "relu" : "tanh";
  list.push({ key: "hidden", label: "h", title: "hidden state h_t", kind: hiddenKind });
  return list;
}

/** A heatmap's colorbar for a kind: a short title above it and, for gates, what 0 and 1 mean on
 * the ticks themselves (a long rotated title was clipped on short plots, in presenter mode). */
export function kindColorbar(kind) {
  const title = { sigmoid: "σ", tanh: "tanh", signed: "signed", relu: "relu" }[kind];
  const colorbar = { title: { text: title, side: "top" }, thickness: 14 };
  if (kind === "sigmoid") Object.assign(colorbar, { tickvals: [0, 0.5, 1], ticktext: ["0 closed", "0.5", "1 open"] });
  return colorbar;
}
