// Upload your own trained module: drop a .safetensors or .pt state_dict of an nn.LSTM, nn.GRU or
// nn.RNN on the drop zone (or click it to choose a file). The server reads it and answers with
// a model record, or with a message saying what it could not read, which is shown as text.

import { postFile } from "./api.js";
import { $ } from "./dom.js";

export function wireUpload({ onModel, onError, onStatus }) {
  const zone = $("dropzone");
  const input = $("upload-input");

  async function send(file) {
    if (!file) return;
    onStatus(`uploading ${file.name}…`);
    try {
      const record = await postFile("/api/models", file);
      onStatus(`loaded ${file.name}`);
      onModel(record);
    } catch (err) {
      onStatus("");
      onError(`${file.name}: ${err.message}`);
    }
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
