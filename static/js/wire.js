// The compact wire format (gatescope/web/wire.py): "GSF1", a uint32 header length, a JSON header in
// which every array is {"$array": {dtype, shape, offset}}, then the arrays' little-endian bytes.
// Arrays come back as typed-array views on the one buffer (no copy, no parse): a 1-D array as a
// Float32Array/Int32Array, a 2-D one as an array of row views, so code written for nested JSON
// arrays reads it unchanged.

const MAGIC = "GSF1";
const TYPES = { float32: Float32Array, int32: Int32Array };

/** Decode an ArrayBuffer in the wire format. */
export function unpack(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== MAGIC) throw new Error("not gatescope's wire format (it starts with GSF1)");
  const length = new DataView(buffer).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const start = 8 + length;
  const revive = (value) => {
    if (Array.isArray(value)) return value.map(revive);
    if (value === null || typeof value !== "object") return value;
    const ref = value.$array;
    if (ref && Object.keys(value).length === 1) return view(buffer, start, ref);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  };
  return revive(header);
}

function view(buffer, start, { dtype, shape, offset }) {
  const Type = TYPES[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  const flat = new Type(buffer, start + offset, count);
  if (shape.length <= 1) return flat;
  const [rows, cols] = [shape[0], count / shape[0]];
  return Array.from({ length: rows }, (_, r) => flat.subarray(r * cols, (r + 1) * cols));
}
