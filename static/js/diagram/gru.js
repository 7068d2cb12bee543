// The GRU cell for diagram.js (layout format: see lstm.js), in torch.nn.GRU's names (r, z, n).
// h_{t−1} runs along the top; the update gate z mixes it with the candidate n at +. In torch's
// and Cho et al.'s GRU z keeps the old state, h_t = z ⊙ h_{t−1} + (1 − z) ⊙ n; in the seed's
// (Chung et al. 2014) z takes the candidate, h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n. The reset gate r
// acts inside n: after W_hn in torch's, before it in the other two.

const GATE = (g) => `σ(W_i${g} x_t + b_i${g} + W_h${g} h_{t−1} + b_h${g})`;

export function gruLayout(model) {
  const variant = model.gru_variant ?? "torch";
  const takes = variant === "chung"; // z weights the candidate
  const v = (key) => (at) => at.v(key);
  const oneMinusZ = (at) => 1 - at.v("z");
  const keep = takes ? oneMinusZ : v("z");
  const write = takes ? v("z") : oneMinusZ;
  const keepName = takes ? "(1 − z_t)" : "z_t";
  const writeName = takes ? "z_t" : "(1 − z_t)";
  const nEq = variant === "torch"
    ? "candidate n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))  [torch: reset after the matrix]"
    : "candidate n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t−1}) + b_hn)  [reset before the matrix]";
  const name = { torch: "torch.nn.GRU", cho: "Cho et al. 2014", chung: "the seed's (Chung et al. 2014)" }[variant];
  const edges = [
    { key: "h_prev", d: "M 0 60 L 185 60", kind: "tanh", value: (at) => at.prev("hidden"), name: "h_{t−1}", label: [110, 84], class: "belt" },
    { key: "h_down", d: "M 60 60 L 60 270 L 430 270", kind: "tanh", value: (at) => at.prev("hidden"), arrow: false },
    { key: "x", d: "M 110 320 L 110 272", kind: "tanh", value: null, name: "x_t", label: [130, 306], arrow: false, anchor: "start" },
    { key: "to_z", d: "M 200 270 L 200 214", kind: "tanh", value: null },
    { key: "to_n", d: "M 330 270 L 330 214", kind: "tanh", value: null },
    { key: "to_r", d: "M 430 270 L 430 214", kind: "tanh", value: null },
    { key: "kept", d: "M 215 60 L 315 60", kind: "tanh", value: (at) => keep(at) * at.prev("hidden"),
      tip: `${keepName} ⊙ h_{t−1}`, name: "kept", label: [262, 84], class: "belt" },
    { key: "h", d: "M 345 60 L 600 60", kind: "tanh", value: v("hidden"), name: "h_t", label: [560, 84], class: "belt" },
    { key: "r", d: "M 398 190 L 366 190", kind: "sigmoid", value: v("r"), tip: "r_t" },
    { key: "n", d: "M 330 168 L 330 135", kind: "tanh", value: v("n"), tip: "n_t" },
    { key: "written", d: "M 330 107 L 330 75", kind: "tanh", value: (at) => write(at) * at.v("n"),
      tip: `${writeName} ⊙ n_t`, name: "written", label: [372, 96] },
  ];
  const nodes = [
    { key: "z", shape: "gate", x: 200, y: 190, name: "σ  z_t", kind: "sigmoid", value: v("z"), eq: `update gate z_t = ${GATE("z")}` },
    { key: "n", shape: "gate", x: 330, y: 190, name: "tanh n_t", w: 70, kind: "tanh", value: v("n"), eq: nEq },
    { key: "r", shape: "gate", x: 430, y: 190, name: "σ  r_t", kind: "sigmoid", value: v("r"), eq: `reset gate r_t = ${GATE("r")}` },
    { key: "keep", shape: "op", sign: "×", x: 200, y: 60, kind: "tanh", value: (at) => keep(at) * at.prev("hidden"), valueAt: [0, -20],
      eq: `${keepName} ⊙ h_{t−1}: what the cell keeps` },
    { key: "write", shape: "op", sign: "×", x: 330, y: 120, kind: "tanh", value: (at) => write(at) * at.v("n"),
      eq: `${writeName} ⊙ n_t: what the cell writes` },
    { key: "h", shape: "op", sign: "+", x: 330, y: 60, kind: "tanh", value: v("hidden"), valueAt: [0, -20],
      eq: `hidden state h_t = ${keepName} ⊙ h_{t−1} + ${writeName} ⊙ n_t  (${name})` },
  ];
  if (takes) {
    // z → 1 − z → the belt's ×; z itself → the candidate's ×.
    edges.push(
      { key: "z", d: "M 200 168 L 200 135", kind: "sigmoid", value: v("z"), tip: "z_t" },
      { key: "one_minus_z", d: "M 200 107 L 200 75", kind: "sigmoid", value: oneMinusZ, tip: "1 − z_t" },
      { key: "z_write", d: "M 200 150 L 280 150 L 280 120 L 315 120", kind: "sigmoid", value: v("z"), tip: "z_t" },
    );
    nodes.push({ key: "one_minus_z", shape: "op", sign: "1−", x: 200, y: 120, kind: "sigmoid", value: oneMinusZ,
      valueAt: [-18, 5], eq: "1 − z_t" });
  } else {
    edges.push(
      { key: "z", d: "M 200 168 L 200 75", kind: "sigmoid", value: v("z"), tip: "z_t" },
      { key: "z_branch", d: "M 200 120 L 250 120", kind: "sigmoid", value: v("z"), tip: "z_t" },
      { key: "one_minus_z", d: "M 278 120 L 315 120", kind: "sigmoid", value: oneMinusZ, tip: "1 − z_t" },
    );
    nodes.push({ key: "one_minus_z", shape: "op", sign: "1−", x: 264, y: 120, kind: "sigmoid", value: oneMinusZ,
      valueAt: [0, 30], eq: "1 − z_t" });
  }
  return {
    title: `GRU cell, ${name}: h_{t−1} runs along the top, z mixes it with the candidate n`,
    width: 600,
    height: 320,
    boxes: [{ x: 30, y: 22, width: 540, height: 268 }],
    edges,
    nodes,
  };
}
