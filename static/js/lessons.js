// The lesson player: a guided tour over the page. `/#lesson=<id>&step=<k>` opens step k of a lesson
// from GET /api/lessons: the step's state (the page's URL keys) becomes the view, its caption sits
// over the page, and PageDown/PageUp (or the caption's buttons, or ←/→ while the caption has
// focus) move through the steps. A step's link carries its whole state, so moving is navigating:
// the page loads that view as a reload would, on the main page or in the lab.
//
// Captions are plain text with **bold**, *emphasis* and `code`, built as DOM text nodes: nothing
// in a lesson is ever parsed as HTML. A saved file (GET /export.html) shows its one step's caption
// the same way, from its data (showSaved).

import { getJSON } from "./api.js";
import { el } from "./dom.js";
import { paramsOf } from "./urlstate.js";

/** Named regions a step may highlight (as gatescope.lessons.REGIONS). */
const REGIONS = {
  diagram: "#diagram-figure",
  heatmaps: "#heatmaps",
  gradients: ".gradients-plot",
  inspector: ".inspector",
  equations: "#equations",
  text: "#textview-section",
  timeline: ".timeline",
  compare: ".compare",
  gates: "#gate-compare",
  zoo: "#zoo-panel",
  "lab-gradients": "#view-gradients",
  "lab-cost": "#view-cost",
  "lab-equations": "#view-equations",
};

/**
 * The URL of step ``k`` of ``lesson``: its page, its state, and the lesson keys. With ``teach``
 * (the teacher is presenting) the step stays in presenter mode: a step's own state never turns it
 * off, only the teacher does (the Presenter mode button).
 */
export function stepURL(lesson, k, { teach = false } = {}) {
  const step = lesson.steps[k];
  const params = new URLSearchParams(step.state);
  if (teach) params.set("teach", "1");
  params.set("lesson", lesson.id);
  params.set("step", String(k));
  return `${step.page === "lab" ? "/lab" : "/"}#${params.toString()}`;
}

/** "the **forget** gate" -> nodes: text, <strong>, <em>, <code>; never HTML. */
export function captionNodes(text) {
  return text.split(/\n\s*\n/).map((paragraph) => {
    const p = el("p");
    const pattern = /\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`/g;
    let last = 0;
    for (const m of paragraph.matchAll(pattern)) {
      if (m.index > last) p.append(paragraph.slice(last, m.index));
      if (m[1] !== undefined) p.append(el("strong", null, m[1]));
      else if (m[2] !== undefined) p.append(el("em", null, m[2]));
      else p.append(el("code", null, m[3]));
      last = m.index + m[0].length;
    }
    if (last < paragraph.length) p.append(paragraph.slice(last));
    return p;
  });
}

/** Whether the page is in presenter mode now (teach=1 in its URL, on the main page or the lab). */
function presenting() {
  return paramsOf(window.location.hash).get("teach") === "1";
}

/** How far down the bars that stick to the top of the window once scrolled (the timeline, the
 * lab's tabs) reach: a region scrolled into view goes below them. */
function stuckHeight() {
  let bottom = 0;
  for (const node of document.querySelectorAll("body > *, body > * > *")) {
    const style = getComputedStyle(node);
    if (node.closest(".lesson-player") || !["sticky", "fixed"].includes(style.position)) continue;
    const box = node.getBoundingClientRect();
    if (box.width < window.innerWidth / 2) continue; // a sticky side column (the inspector), not a bar
    bottom = Math.max(bottom, (Number.parseFloat(style.top) || 0) + box.height);
  }
  return bottom;
}

export class LessonPlayer {
  /** page: "main" or "lab"; onClose() when the reader closes the lesson. */
  constructor({ page, onClose }) {
    this.page = page;
    this.onClose = onClose;
    this.lesson = null;
    this.k = 0;
  }

  /**
   * If the URL names a lesson: load it and show the step's caption. A URL with only the lesson
   * keys (a shared link, perhaps with teach=1) first loads the step's view. Call before the page reads its state.
   */
  async open(lessonId, stepIndex) {
    if (!lessonId) return;
    let lessons;
    try {
      lessons = (await getJSON("/api/lessons")).lessons;
    } catch (err) {
      this.show(null, `Lessons could not be loaded: ${err.message}`);
      return;
    }
    const lesson = lessons.find((l) => l.id === lessonId);
    if (!lesson) {
      this.show(null, `There is no lesson “${lessonId}” on this server: ${lessons.map((l) => l.id).join(", ")}.`);
      return;
    }
    this.lesson = lesson;
    this.k = Math.min(Math.max(0, stepIndex ?? 0), lesson.steps.length - 1);
    const step = lesson.steps[this.k];
    const keys = [...paramsOf(window.location.hash).keys()];
    if (keys.every((key) => ["lesson", "step", "teach"].includes(key))) {
      // The step's whole view: load it as its link would (a new hash reloads the page).
      window.location.replace(stepURL(lesson, this.k, { teach: presenting() }));
      await new Promise(() => {}); // the step's view loads; this one stops here
    }
    this.show({ title: lesson.title, steps: lesson.steps.length, text: step.text });
    document.addEventListener("keydown", (event) => this.onKey(event));
    this.highlight(step.highlight);
  }

  go(k) {
    if (!this.lesson || k < 0 || k >= this.lesson.steps.length) return;
    window.location.assign(stepURL(this.lesson, k, { teach: presenting() }));
  }

  onKey(event) {
    if (event.target.closest?.("textarea, input, select")) return;
    const inCaption = event.target.closest?.(".lesson-player");
    if (event.key === "PageDown" || (inCaption && event.key === "ArrowRight")) {
      event.preventDefault();
      event.stopPropagation();
      this.go(this.k + 1);
    } else if (event.key === "PageUp" || (inCaption && event.key === "ArrowLeft")) {
      event.preventDefault();
      event.stopPropagation();
      this.go(this.k - 1);
    }
  }

  /**
   * A saved file's lesson step (gatescope.web.saved: {id, title, step, steps, text, highlight}):
   * its caption as the live page shows it. The file holds this one step's view, so Back and Next
   * are off, and say why.
   */
  showSaved(step) {
    this.k = step.step;
    const offline = "This saved file holds this step only: the lesson's other steps need gatescope";
    this.show({ title: step.title, steps: step.steps, text: step.text, offline });
    this.highlight(step.highlight);
  }

  /** The caption box over the page for step ``this.k`` of ``view`` ({title, steps: n, text, and
   * offline: why Back and Next are off}), or ``message`` when there is no lesson to show. */
  show(view, message) {
    const box = el("aside", "lesson-player");
    box.setAttribute("aria-label", "lesson");
    box.dataset.testid = "lesson";
    box.tabIndex = -1;
    const head = el("div", "lesson-head");
    const close = el("button", "lesson-close", "✕");
    close.type = "button";
    close.title = "Close the lesson";
    close.addEventListener("click", () => {
      box.remove();
      document.querySelector(".lesson-highlight")?.classList.remove("lesson-highlight");
      document.body.classList.remove("in-lesson");
      this.onClose?.();
    });
    if (!view) {
      head.append(el("strong", null, "Lesson"), close);
      box.append(head, el("p", "error", message));
      document.body.append(box);
      return;
    }
    const n = view.steps;
    const title = el("strong", "lesson-title", view.title);
    const count = el("span", "lesson-count", `step ${this.k + 1} of ${n}`);
    count.dataset.testid = "lesson-count";
    const back = el("button", "lesson-back", "◀ Back");
    back.type = "button";
    back.disabled = this.k === 0 || Boolean(view.offline);
    back.title = view.offline ?? "Previous step (PageUp)";
    back.addEventListener("click", () => this.go(this.k - 1));
    const next = el("button", "lesson-next primary", "Next ▶");
    next.type = "button";
    next.disabled = this.k === n - 1 || Boolean(view.offline);
    next.title = view.offline ?? "Next step (PageDown)";
    next.addEventListener("click", () => this.go(this.k + 1));
    head.append(title, count, back, next, close);
    const caption = el("div", "lesson-caption");
    caption.dataset.testid = "lesson-caption";
    caption.append(...captionNodes(view.text));
    box.append(head, caption);
    document.body.append(box);
    document.body.classList.add("in-lesson");
  }

  /**
   * Outline the step's region once it exists (views are drawn after the data arrives; a region
   * presenter mode hides is shown while it is the step's), scroll it into view and keep the
   * caption off it, also as the page around it grows.
   */
  highlight(name) {
    if (!name) return;
    const selector = REGIONS[name] ?? name;
    let tries = 0;
    const find = () => {
      let node = null;
      try {
        node = document.querySelector(selector);
      } catch {
        return; // not a selector this browser reads: no highlight
      }
      node?.classList.add("lesson-highlight");
      if (node && !node.hidden && node.getClientRects().length) {
        this.target = node;
        this.place();
        const again = new ResizeObserver(() => this.place());
        again.observe(node);
        again.observe(document.body);
      } else if ((tries += 1) < 40) {
        setTimeout(find, 250);
      }
    };
    // The reader's own scrolling wins over the player's.
    for (const event of ["wheel", "touchmove"]) {
      window.addEventListener(event, () => { this.readerScrolled = true; }, { once: true, passive: true });
    }
    find();
  }

  /**
   * Bring the target into view and put the caption where it does not cover it: at the bottom
   * (its usual place), else at the top, else beside the target where there is room.
   */
  place() {
    const box = document.querySelector(".lesson-player");
    const node = this.target;
    if (!box || !node?.isConnected) return;
    const gap = 12;
    const height = window.innerHeight;
    const overlaps = () => {
      const a = box.getBoundingClientRect();
      const b = node.getBoundingClientRect();
      return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    };
    const inset = stuckHeight();
    const scrollTo = (top) => {
      // The target's top edge at ``top`` px from the top of the window (below what sticks there),
      // if it is not in view.
      const r = node.getBoundingClientRect();
      top = Math.max(top, inset + gap);
      if (this.readerScrolled || (r.top >= top - 1 && r.bottom <= height - gap)) return;
      window.scrollBy({ top: r.top - top, behavior: "instant" });
    };
    box.classList.remove("at-top");
    box.style.removeProperty("top");
    box.style.removeProperty("left");
    box.style.removeProperty("width");
    box.classList.remove("beside");
    scrollTo(gap);
    if (!overlaps()) return;
    box.classList.add("at-top");
    box.style.top = `${inset + gap}px`; // below the bars that stick to the top
    scrollTo(box.getBoundingClientRect().bottom + gap);
    if (!overlaps()) return;
    // Beside the target: the wider free side of the window, if it holds a readable caption.
    box.classList.remove("at-top");
    box.style.removeProperty("top");
    const r = node.getBoundingClientRect();
    const left = r.left - 2 * gap;
    const right = window.innerWidth - r.right - 2 * gap;
    if (Math.max(left, right) >= 300) {
      box.classList.add("beside");
      box.style.width = `${Math.max(left, right)}px`;
      box.style.left = left >= right ? `${gap}px` : `${r.right + gap}px`;
    }
  }
}
