// A model's sizes per layer, from its record (GET /api/models): hidden_sizes and state_sizes. A
// stack's layers may differ in size (a Keras LSTM(24) -> LSTM(16)): its hidden_size is then null
// and each layer has its own row count. Records without the lists (older saved files) have one size.

/** H_l per layer: the rows of layer l's gates and cell. */
export function hiddenSizes(model) {
  return model.hidden_sizes ?? Array.from({ length: model.num_layers }, () => model.hidden_size);
}

/** The width of layer l's h_t (one direction): P with projections, else H_l. */
export function stateSizes(model) {
  return model.state_sizes ?? hiddenSizes(model).map((h) => model.proj_size || h);
}

/** How many units layer ``layer`` has (its H_l); the last layer's for a layer out of range. */
export function unitsIn(model, layer) {
  const sizes = hiddenSizes(model);
  return sizes[Math.min(Math.max(layer, 0), sizes.length - 1)];
}

/** "16", or "24 → 16" for layers of different sizes. */
export function sizeText(model) {
  return model.hidden_size ?? hiddenSizes(model).join(" → ");
}
