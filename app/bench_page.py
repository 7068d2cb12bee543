"""Page benchmark: is the page responsive at T=2000, H=128? Measured in headless Chromium.

    gatescope bench-page [--steps 2000] [--hidden 128] [--moves 40]

Opens the page on a random H-unit LSTM over a T-character text (the URL state), waits for the
stream to fill every plot, then times in the page (performance.now, through two animation frames
so layout and paint are included):
- a cursor move: one ArrowRight keypress, the way a person scrubs;
- a full redraw of every figure (Plotly.newPlot on each plot), what a cursor move would cost if it
  rebuilt figures instead of moving a line.
Reports medians and their ratio. Needs the test extras (playwright) and Debian's chromium.
"""

from __future__ import annotations

import shutil
import statistics
import time
from urllib.parse import quote

from app.bench_api import running_server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SENTENCE = "The forget gate decides what to keep; the input gate decides what to write. "

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


def report(steps: int = 2000, hidden: int = 128, moves: int = 40) -> str:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench-page needs Debian's chromium: apt-get install -y chromium")
    text = (SENTENCE * (steps // len(SENTENCE) + 1))[:steps]
    model = f"random-lstm-iascii-h{hidden}-l1-s0"
    with running_server() as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        start = time.perf_counter()
        page.goto(f"{base}/#model={model}&text={quote(text)}&t=0")
        page.wait_for_function(
            "n => (document.querySelector('#status')?.textContent || '').includes(n + ' steps')",
            arg=str(steps),
            timeout=120_000,
        )
        filled_s = time.perf_counter() - start
        page.wait_for_timeout(500)
        move_ms = page.evaluate(_MOVE_JS, moves)
        redraw = page.evaluate(_REDRAW_JS, 5)
        label = page.locator("#cursor-label").text_content()
        browser.close()
    move, full = statistics.median(move_ms), statistics.median(redraw["times"])
    lines = [
        f"page, LSTM H={hidden}, T={steps} (random weights, text input), headless Chromium:",
        f"- page load to every plot filled by the stream: {filled_s:.1f} s",
        f"- cursor move (ArrowRight, through paint): median {move:.1f} ms over {moves} moves "
        f"(cursor now at '{label}')",
        f"- full redraw of all {redraw['plots']} figures: median {full:.1f} ms",
        f"- cursor move / full redraw: {move / full:.3f}",
    ]
    if errors:
        lines.append(f"page errors: {errors}")
    return "\n".join(lines)
