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

/** Colorbar caption for a kind. */
export function kindCaption(kind) {
  return {
    sigmoid: "σ: 0 closed, 1 open",
    tanh: "tanh: −1 … 1",
    signed: "signed, 0 = white",
    relu: "relu ≥ 0",
  }[kind];
}
