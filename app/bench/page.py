"""Page benchmark: is the page responsive at T=2000, H=128? Measured in headless Chromium.

    gatescope bench-page [--steps 2000] [--hidden 128] [--moves 40]

Opens the page on a random H-unit LSTM over a T-character text (the URL state), waits for the
stream to finish (every plot filled, gradients in), then times in the page:
- a cursor move's work: one ArrowRight keypress, the way a person scrubs, from the key to the end
  of the frame that shows it (the page's own script, style, layout and paint on the main thread;
  a task posted from the frame's requestAnimationFrame runs once that frame is painted). The wait
  for the frame to begin (vsync, up to 16.7 ms) is not the page's work and is left out;
- the same for a key that moves nothing: the floor any page pays;
- a cursor move through two animation frames, as first measured: at 60 frames a second this
  can never be under 33 ms, whatever the page does;
- a full redraw of every figure (Plotly.newPlot on each plot), what a cursor move would cost if it
  rebuilt figures instead of moving a line.
Reports medians. Needs the test extras (playwright) and Debian's chromium.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from gatescope.bench.localserver import CHROMIUM_ARGS, running_server

SENTENCE = "The forget gate decides what to keep; the input gate decides what to write. "

_WORK_JS = """async ([key, moves]) => {
  const task = () => new Promise(r => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => r();
    channel.port2.postMessage(null);
  });
  const painted = () => new Promise(r => requestAnimationFrame((frameStart) => {
    task().then(() => r(frameStart));
  }));
  const times = [];
  for (let k = 0; k < moves; k++) {
    await new Promise(r => requestAnimationFrame(r));
    await task(); // out of that frame's rendering, as a real key press would be
    const start = performance.now();
    document.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true}));
    const handled = performance.now() - start;
    const frameStart = await painted();
    times.push(handled + performance.now() - Math.max(start, frameStart));
  }
  return times;
}"""

_MOVE_JS = """async (moves) => {
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const times = [];
  for (let k = 0; k < moves; k++) {
    const start = performance.now();
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowRight", bubbles: true}));
    await frames();
    times.push(performance.now() - start);
  }
  return times;
}"""

_REDRAW_JS = """async (rounds) => {
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const plots = [...document.querySelectorAll(".js-plotly-plot")];
  const times = [];
  for (let k = 0; k < rounds; k++) {
    const start = performance.now();
    for (const el of plots) await Plotly.newPlot(el, el.data, el.layout, el._context);
    await frames();
    times.push(performance.now() - start);
  }
  return {times, plots: plots.length};
}"""


@contextlib.contextmanager
def opened_page(model: str, steps: int) -> Iterator[tuple[Any, list[str], float]]:
    """A real server and headless Chromium on the page for ``model`` over ``steps`` characters of
    text, once its first run is done; yields (page, the page's uncaught errors, seconds from
    opening the page to that run done)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench-page needs Debian's chromium: apt-get install -y chromium")
    text = (SENTENCE * (steps // len(SENTENCE) + 1))[:steps]
    with running_server() as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        start = time.perf_counter()
        page.goto(f"{base}/#model={model}&text={quote(text)}&t=0")
        # Done means "T steps · loss ...": while streaming the status reads "running… k / T steps".
        page.wait_for_function(
            "n => (document.querySelector('#status')?.textContent || '').startsWith(n + ' steps · loss')",
            arg=str(steps),
            timeout=120_000,
        )
        yield page, errors, time.perf_counter() - start
        browser.close()


def report(steps: int = 2000, hidden: int = 128, moves: int = 40) -> str:
    with opened_page(f"random-lstm-iascii-h{hidden}-l1-s0", steps) as (page, errors, filled_s):
        page.wait_for_timeout(500)
        work_ms = page.evaluate(_WORK_JS, ["ArrowRight", moves])
        idle_ms = page.evaluate(_WORK_JS, ["F24", moves])
        move_ms = page.evaluate(_MOVE_JS, moves)
        redraw = page.evaluate(_REDRAW_JS, 5)
        label = page.locator("#cursor-label").text_content()
    move, full = statistics.median(move_ms), statistics.median(redraw["times"])
    work, idle = statistics.median(work_ms), statistics.median(idle_ms)
    lines = [
        f"page, LSTM H={hidden}, T={steps} (random weights, text input), headless Chromium:",
        f"- page load to the stream done (every plot filled): {filled_s:.1f} s",
        f"- cursor move (ArrowRight), key to frame painted: median {work:.1f} ms over {moves} moves "
        f"(a key that moves nothing: {idle:.1f} ms)",
        f"- cursor move through two animation frames: median {move:.1f} ms "
        f"(33 ms at the least at 60 fps; cursor now at '{label}')",
        f"- full redraw of all {redraw['plots']} figures: median {full:.1f} ms",
        f"- cursor move / full redraw: {work / full:.3f}",
    ]
    if errors:
        lines.append(f"page errors: {errors}")
    return "\n".join(lines)


_RUN_JS = """async (steps) => {
  // Run again (the page is warm), and time until the status says the run is done, gradients in,
  // and two frames later, so every figure the run updated has been drawn.
  const status = document.querySelector("#status");
  status.textContent = ""; // the last run's "done" must not count for this one
  const start = performance.now();
  document.querySelector("#run-button").click();
  await new Promise((resolve) => {
    const done = () => status.textContent.startsWith(steps + " steps · loss");
    const check = () => (done() ? resolve() : requestAnimationFrame(check));
    requestAnimationFrame(check);
  });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - start;
}"""


def real_size_report(steps: int = 1000, hidden: int = 512, layers: int = 2, runs: int = 5) -> str:
    """The issue's real size: an LSTM of ``layers`` x ``hidden`` units over ``steps`` characters.
    Times Run to the page fully drawn (gradients included), and the JS heap after a GC."""
    with opened_page(f"random-lstm-iascii-h{hidden}-l{layers}-s0", steps) as (page, errors, _):
        times = [page.evaluate(_RUN_JS, steps) / 1000 for _ in range(runs)]
        cdp = page.context.new_cdp_session(page)
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    heap_mb = metrics["JSHeapUsedSize"] / 2**20
    lines = [
        f"page, LSTM {layers} x {hidden} units, T={steps} (random weights, text), headless Chromium:",
        f"- Run to fully drawn (gradients in, two frames after): median {statistics.median(times):.2f} s "
        f"over {runs} runs [{min(times):.2f}, {max(times):.2f}] (bar: 2 s)",
        f"- JS heap after a garbage collection: {heap_mb:.0f} MB (bar: 150 MB)",
    ]
    if errors:
        lines.append(f"page errors: {errors}")
    return "\n".join(lines)
