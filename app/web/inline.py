"""The page's assets inline, for a saved view that opens from disk with no server and no network:
the stylesheet, the favicon, Plotly.js from the installed plotly package, and the page's ES
modules bundled into one script (gatescope.web.bundle). Read once per process."""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

import plotly  # type: ignore[import-untyped]

from gatescope.settings import package_dir
from gatescope.web.bundle import bundle

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
CLOSING = re.compile(r"</(script|style)", re.IGNORECASE)


def inline_text(code: str) -> str:
    """Script or style text that cannot close its element early: ``</script`` -> ``<\\/script``
    (the same string in JS; only ever inside strings, regexes or comments there)."""
    return CLOSING.sub(r"<\\/\1", code).replace("<!--", "<\\!--")


@cache
def page_assets() -> dict[str, str]:
    """{css, favicon (a data URL), plotly, script}: everything index.html links, as text."""
    static = package_dir("static")
    svg = (static / "img" / "favicon.svg").read_bytes()
    return {
        "css": inline_text((static / "css" / "gatescope.css").read_text(encoding="utf-8")),
        "favicon": "data:image/svg+xml;base64," + base64.b64encode(svg).decode(),
        "plotly": inline_text(PLOTLY_JS.read_text(encoding="utf-8")),
        "script": inline_text(bundle(static / "js", "main.js")),
    }
