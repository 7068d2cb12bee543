// Upload your own model: a torch state_dict (.safetensors, .pt, .pth, .bin) of a bare nn.LSTM /
// nn.GRU / nn.RNN or of a whole model (embedding, recurrent module, head), or a Keras (.keras, .h5)
// or ONNX (.onnx) file, read as data. Optional fields go with it: the vocabulary (a file, or a JSON
// list or one token per line pasted), the output vocabulary (the head's classes), and the
// embedding and head keys. A file with several recurrent modules gets a 422 listing them; the page
// shows them as a choice and sends the file again with the chosen prefix. File names, tokens and
// the server's messages are set with textContent only.

import { ApiError, postFile } from "./api.js";
import { $, el } from "./dom.js";
import { sizeText } from "./sizes.js";

/** "encoder.  GRU · 4 → 6 · 1 layer" for a module the server listed. */
export function moduleText(m) {
  if (m.error) return `${m.prefix || "(top level)"}  ${m.error}`;
  const extras = [
    m.bidirectional ? "bidirectional" : "", m.right_to_left ? "right to left" : "", m.proj_size ? `proj ${m.proj_size}` : "",
  ].filter(Boolean);
  return [
    m.prefix || "(top level)",
    `${String(m.arch).toUpperCase()} · ${m.input_size} → ${sizeText(m)} · ${m.num_layers} layer${m.num_layers > 1 ? "s" : ""}`,
    ...extras,
  ].join(" · ");
}

export function wireUpload({ onModel, onError, onStatus }) {
  const zone = $("dropzone");
  const input = $("upload-input");
  const choice = $("upload-modules");
  let last = null; // the file last sent, kept for a second try with a prefix

  /** The optional fields as the form holds them (a chosen file wins over pasted text). */
  function fields() {
    const fileOr = (fileId, textId) => $(fileId).files[0] ?? ($(textId).value.trim() || null);
    return {
      vocab: fileOr("upload-vocab-file", "upload-vocab"),
      output_vocab: fileOr("upload-output-vocab-file", "upload-output-vocab"),
      embedding: $("upload-embedding").value.trim() || null,
      head: $("upload-head").value.trim() || null,
    };
  }

  async function send(file, prefix = null) {
    if (!file) return;
    last = file;
    choice.hidden = true;
    onError(""); // the last upload's error is about a file no longer in play
    onStatus(`uploading ${file.name}…`);
    try {
      const record = await postFile("/api/models", file, { ...fields(), prefix });
      onStatus(`loaded ${file.name}${prefix ? ` (${prefix})` : ""}`);
      onModel(record);
    } catch (err) {
      onStatus("");
      if (err instanceof ApiError && Array.isArray(err.body?.modules)) {
        showChoice(file, err.body.modules);
        return;
      }
      onError(`${file.name}: ${err.message}`);
    }
  }

  function showChoice(file, modules) {
    $("upload-modules-file").textContent = file.name;
    const buttons = modules.map((m) => {
      const button = el("button", "module-choice", moduleText(m));
      button.type = "button";
      button.dataset.prefix = m.prefix;
      button.disabled = Boolean(m.error);
      button.addEventListener("click", () => send(last, m.prefix));
      const item = el("li");
      item.append(button);
      return item;
    });
    $("upload-modules-list").replaceChildren(...buttons);
    choice.hidden = false;
  }

  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    send(input.files[0]);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    send(event.dataTransfer.files[0]);
  });
  // A file dropped anywhere else would make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}
