// The one timestep cursor every plot shares: slider, step buttons, play/pause with a speed, and
// the keyboard (←/→, Shift for 10, Home/End, space; ↑/↓ change the selected unit). Moves are
// coalesced to one per animation frame, so holding a key never queues up redraws.

import { $ } from "./dom.js";
import { clamp } from "./numbers.js";

export class Timeline {
  /** onChange(t) after the cursor moves; onUnit(delta) for ↑/↓; label(t) -> text after "t = ". */
  constructor({ onChange, onUnit, label, onSpeed }) {
    this.onChange = onChange;
    this.onUnit = onUnit;
    this.label = label;
    this.onSpeed = onSpeed;
    this.t = 0;
    this.length = 0;
    this.timer = null;
    this.frame = null;
    this.slider = $("cursor-slider");
    this.output = $("cursor-label");
    this.playButton = $("play");
    this.speedSelect = $("speed");

    this.slider.addEventListener("input", () => {
      this.pause();
      this.set(Number(this.slider.value));
    });
    $("step-first").addEventListener("click", () => this.userMove(0));
    $("step-back").addEventListener("click", () => this.userMove(this.t - 1));
    $("step-forward").addEventListener("click", () => this.userMove(this.t + 1));
    $("step-last").addEventListener("click", () => this.userMove(this.length - 1));
    this.playButton.addEventListener("click", () => this.toggle());
    this.speedSelect.addEventListener("change", () => {
      this.onSpeed?.(this.speed);
      if (this.timer) this.play();
    });
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  get speed() {
    return Number(this.speedSelect.value);
  }

  set speed(value) {
    const option = [...this.speedSelect.options].find((o) => Number(o.value) === value);
    if (option) this.speedSelect.value = option.value;
  }

  setLength(length) {
    this.length = length;
    this.slider.max = String(Math.max(0, length - 1));
    if (this.t > length - 1) this.set(Math.max(0, length - 1));
    else this.render();
  }

  userMove(t) {
    this.pause();
    this.set(t);
  }

  /** Move the cursor to t (clamped); plots update on the next frame. */
  set(t) {
    const clamped = clamp(Math.round(t), 0, this.length - 1);
    if (Number.isNaN(clamped) || this.length === 0) return;
    this.t = clamped;
    this.render();
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.onChange(this.t);
    });
  }

  render() {
    this.slider.value = String(this.t);
    this.output.textContent = `t = ${this.t}${this.label(this.t)}`;
  }

  play() {
    this.pause();
    if (this.length < 2) return;
    if (this.t >= this.length - 1) this.set(0);
    this.playButton.textContent = "❚❚ Pause";
    this.playButton.setAttribute("aria-pressed", "true");
    this.timer = setInterval(() => {
      if (this.t >= this.length - 1) this.pause();
      else this.set(this.t + 1);
    }, 1000 / this.speed);
  }

  pause() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = "▶ Play";
    this.playButton.setAttribute("aria-pressed", "false");
  }

  toggle() {
    if (this.timer) this.pause();
    else this.play();
  }

  onKey(event) {
    const target = event.target;
    const typing = target.closest?.("textarea, select, input:not([type=range]), [contenteditable]");
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const jump = event.shiftKey ? 10 : 1;
    const actions = {
      ArrowLeft: () => this.userMove(this.t - jump),
      ArrowRight: () => this.userMove(this.t + jump),
      Home: () => this.userMove(0),
      End: () => this.userMove(this.length - 1),
      " ": () => this.toggle(),
      ArrowUp: () => this.onUnit(-1),
      ArrowDown: () => this.onUnit(+1),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  }
}
