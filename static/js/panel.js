// A collapsible panel of the main page (a <details>: Train, Model zoo) whose open state the URL
// keeps. It reports the reader's toggles with onOpenChange(open) and is opened or closed from the
// state with setOpen(); it never writes the state itself.

import { $ } from "./dom.js";

export class Panel {
  constructor(id, onOpenChange) {
    this.details = $(id);
    this.details.addEventListener("toggle", () => {
      this.toggled();
      onOpenChange?.(this.details.open);
    });
  }

  /** After opening or closing: a subclass fits what it drew while closed. */
  toggled() {}

  setOpen(open) {
    this.details.open = open;
  }

  /** Open the panel and scroll to it (the header's buttons). */
  reveal() {
    this.setOpen(true);
    this.details.scrollIntoView({ behavior: "smooth", block: "start" });
  }
}
