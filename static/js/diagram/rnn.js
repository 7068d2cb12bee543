// The plain RNN cell for diagram.js (layout format: see lstm.js): h_t = tanh(W_ih x_t + b_ih +
// W_hh h_{t−1} + b_hh), torch.nn.RNN. No gate and no belt: everything passes the one nonlinearity.

export function rnnLayout(model) {
  const act = model.nonlinearity === "relu" ? "relu" : "tanh";
  const kind = act === "relu" ? "relu" : "tanh";
  return {
    title: `RNN cell (${act}): no gates, everything passes W_hh and ${act} at every step`,
    width: 600,
    height: 320,
    boxes: [{ x: 30, y: 22, width: 540, height: 268 }],
    edges: [
      { key: "h_prev", d: "M 0 190 L 264 190", kind, value: (at) => at.prev("hidden"), name: "h_{t−1}", label: [110, 168] },
      { key: "x", d: "M 200 320 L 200 194", kind: "tanh", value: null, name: "x_t", label: [220, 306], arrow: false, anchor: "start" },
      { key: "h", d: "M 336 190 L 600 190", kind, value: (at) => at.v("hidden"), name: "h_t", label: [520, 168] },
    ],
    nodes: [
      { key: "h", shape: "gate", x: 300, y: 190, name: act, w: 72, h: 50, kind, value: (at) => at.v("hidden"),
        eq: `hidden state h_t = ${act}(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)` },
    ],
  };
}
