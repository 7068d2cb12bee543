// The LSTM cell for diagram.js, in torch.nn.LSTM's names (i, f, g, o): the cell state c runs along
// the top (the conveyor belt: forgotten at ×f, written at +), h_{t−1} and x_t along the bottom
// into the four gates, and h_t = o ⊙ tanh(c_t) leaves at the bottom right.
//
// A layout is data: nodes {key, shape: "gate" | "op", x, y, name or sign, kind, value(at), eq},
// edges {key, d (an SVG path), kind, value(at), label: [x, y], name}. ``at.v(key)`` is the trace's
// value at the cursor, ``at.prev(key)`` at t − 1; kind picks the color scale (sigmoid, tanh, cell).

const W = (g) => `σ(W_i${g} x_t + b_i${g} + W_h${g} h_{t−1} + b_h${g})`;

export function lstmLayout() {
  const v = (key) => (at) => at.v(key);
  const fc = (at) => at.v("f") * at.prev("cell");
  const ig = (at) => at.v("i") * at.v("g");
  const tanhC = (at) => Math.tanh(at.v("cell"));
  return {
    title: "LSTM cell: the cell state runs along the top; the gates read h_{t−1} and x_t",
    width: 600,
    height: 320,
    boxes: [{ x: 30, y: 22, width: 540, height: 268 }],
    edges: [
      { key: "c_prev", d: "M 0 60 L 145 60", kind: "cell", value: (at) => at.prev("cell"), name: "c_{t−1}", label: [62, 84], class: "belt" },
      { key: "fc", d: "M 175 60 L 295 60", kind: "cell", value: fc, name: "f ⊙ c_{t−1}", tip: "f_t ⊙ c_{t−1}", label: [236, 84], class: "belt" },
      { key: "c", d: "M 325 60 L 600 60", kind: "cell", value: v("cell"), name: "c_t", label: [560, 84], class: "belt" },
      { key: "c_to_tanh", d: "M 480 60 L 480 98", kind: "cell", value: v("cell"), tip: "c_t" },
      { key: "h_prev", d: "M 0 270 L 420 270", kind: "tanh", value: (at) => at.prev("hidden"), name: "h_{t−1}", label: [40, 246], arrow: false },
      { key: "x", d: "M 100 320 L 100 272", kind: "tanh", value: null, name: "x_t", label: [122, 306], arrow: false, anchor: "start" },
      { key: "to_f", d: "M 160 270 L 160 214", kind: "tanh", value: null },
      { key: "to_i", d: "M 240 270 L 240 214", kind: "tanh", value: null },
      { key: "to_g", d: "M 310 270 L 310 214", kind: "tanh", value: null },
      { key: "to_o", d: "M 420 270 L 420 214", kind: "tanh", value: null },
      { key: "f", d: "M 160 168 L 160 75", kind: "sigmoid", value: v("f"), tip: "f_t" },
      { key: "i", d: "M 240 168 L 240 120 L 295 120", kind: "sigmoid", value: v("i"), tip: "i_t" },
      { key: "g", d: "M 310 168 L 310 135", kind: "tanh", value: v("g"), tip: "g_t" },
      { key: "ig", d: "M 310 107 L 310 75", kind: "cell", value: ig, tip: "i_t ⊙ g_t", name: "i ⊙ g", label: [348, 96] },
      { key: "o", d: "M 452 190 L 465 190", kind: "sigmoid", value: v("o"), tip: "o_t" },
      { key: "tanh_c", d: "M 480 142 L 480 175", kind: "tanh", value: tanhC, tip: "tanh(c_t)" },
      { key: "h", d: "M 480 205 L 480 270 L 600 270", kind: "tanh", value: v("hidden"), name: "h_t", label: [560, 246] },
    ],
    nodes: [
      { key: "f", shape: "gate", x: 160, y: 190, name: "σ  f_t", kind: "sigmoid", value: v("f"), eq: `forget gate f_t = ${W("f")}` },
      { key: "i", shape: "gate", x: 240, y: 190, name: "σ  i_t", kind: "sigmoid", value: v("i"), eq: `input gate i_t = ${W("i")}` },
      { key: "g", shape: "gate", x: 310, y: 190, name: "tanh g_t", w: 70, kind: "tanh", value: v("g"),
        eq: "candidate g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)" },
      { key: "o", shape: "gate", x: 420, y: 190, name: "σ  o_t", kind: "sigmoid", value: v("o"), eq: `output gate o_t = ${W("o")}` },
      { key: "forget", shape: "op", sign: "×", x: 160, y: 60, kind: "cell", value: fc, valueAt: [0, -20],
        eq: "f_t ⊙ c_{t−1}: what the cell keeps" },
      { key: "write", shape: "op", sign: "×", x: 310, y: 120, kind: "cell", value: ig, eq: "i_t ⊙ g_t: what the cell writes" },
      { key: "c", shape: "op", sign: "+", x: 310, y: 60, kind: "cell", value: v("cell"), valueAt: [0, -20],
        eq: "cell state c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t" },
      { key: "tanh_c", shape: "gate", x: 480, y: 120, name: "tanh", w: 68, h: 40, kind: "tanh", value: tanhC, eq: "tanh(c_t)" },
      { key: "h", shape: "op", sign: "×", x: 480, y: 190, kind: "tanh", value: v("hidden"), valueAt: [18, 24],
        eq: "hidden state h_t = o_t ⊙ tanh(c_t)" },
    ],
  };
}
