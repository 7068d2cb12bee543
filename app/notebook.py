"""gatescope in a Jupyter notebook: `show` an in-memory recurrent module's page inline.

    import gatescope
    lstm = nn.LSTM(len(vocab), 32)
    gatescope.show(lstm, text="hello world", vocab=vocab)   # the page, in an iframe below the cell
    gatescope.show(nn.GRU(3, 8), torch.randn(40, 3))        # numeric inputs, one row per step

The first call starts one gatescope server for the whole kernel, on 127.0.0.1 and a free port,
in a background daemon thread; every call registers a snapshot of the module's weights in that
server's registry (in memory only, nothing is written) and returns an IFrame of its page with the
model and the input in the URL. The browser showing the notebook must reach 127.0.0.1 on the
kernel's machine (a local Jupyter does; a remote one needs a port forward).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import numpy as np
import torch
from torch import nn

from gatescope.engine.spec import RecurrentSpec, spec_from_module
from gatescope.engine.trace import as_sequence

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gatescope.settings import Settings
    from gatescope.zoo.registry import ModelRegistry

log = logging.getLogger(__name__)

#: Chromium's longest URL; a longer inline input could not reach the page.
MAX_URL_CHARS = 2 * 1024 * 1024


@dataclass
class BackgroundServer:
    """The kernel's one gatescope server: its app (and so its registry) and its base URL."""

    app: FastAPI
    url: str
    thread: threading.Thread

    @property
    def registry(self) -> ModelRegistry:
        registry: ModelRegistry = self.app.state.registry
        return registry

    @property
    def settings(self) -> Settings:
        settings: Settings = self.app.state.settings
        return settings


_server: BackgroundServer | None = None
_server_lock = threading.Lock()


def serve_in_background(
    settings: Settings | None = None, port: int | None = None, timeout: float = 30.0
) -> BackgroundServer:
    """The process's gatescope server, started on the first call (later calls return it).

    ``settings`` default to the environment's (`load_settings`); ``port`` to a free one. ValueError
    if a server already runs on another port; RuntimeError if it does not answer in ``timeout`` s.
    """
    global _server
    with _server_lock:
        if _server is not None:
            if port is not None and not _server.url.endswith(f":{port}"):
                raise ValueError(
                    f"gatescope already serves this kernel at {_server.url}; "
                    "leave port=None (or give that port), or restart the kernel to use another"
                )
            return _server
        _server = _start(settings, port, timeout)
        return _server


def _start(settings: Settings | None, port: int | None, timeout: float) -> BackgroundServer:
    import httpx
    import uvicorn

    from gatescope.bench.localserver import free_port
    from gatescope.web.app import WS_PER_MESSAGE_DEFLATE, create_app

    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port must be between 1 and 65535 (or None for a free one), got {port}")
    port = port or free_port()
    app = create_app(settings)
    # uvicorn installs no signal handlers outside the main thread, so the kernel keeps its own.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws_per_message_deflate=WS_PER_MESSAGE_DEFLATE,
        )
    )
    thread = threading.Thread(target=server.run, name=f"gatescope-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"gatescope's server stopped while starting on port {port} (is it in use?)")
        try:
            if server.started and httpx.get(f"{url}/api/limits", timeout=2).status_code == 200:
                log.info("gatescope serves this kernel at %s", url)
                return BackgroundServer(app, url, thread)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError(f"gatescope's server did not answer at {url} within {timeout:g} s")


def show(
    module: nn.Module,
    inputs: object = None,
    *,
    text: str | None = None,
    vocab: list[str] | None = None,
    name: str | None = None,
    height: int = 900,
    port: int | None = None,
) -> Any:
    """Show gatescope's page for ``module`` (an ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``, or a
    ``RecurrentStack`` whose layers differ in size) inline.

    Args:
        module: the recurrent module; its weights are copied now, later training does not change
            what this call shows (call `show` again for that).
        inputs: a (T, input_size) tensor, array or nested list: one row of numbers per step.
        text: the input as text instead, one character per step; needs ``vocab``.
        vocab: the characters the model's inputs stand for, one per input (one-hot), in order.
        name: what the page calls the model (default: its kind and sizes).
        height: the iframe's height in pixels.
        port: the server's port on the first call (default: a free one).

    Returns an ``IPython.display.IFrame`` (displayed when it is a cell's last value; its ``src``
    is the page's URL). ValueError for anything the page could not show, saying what is allowed.
    """
    try:
        from IPython.display import IFrame
    except ImportError:  # pragma: no cover - the notebook extra installs it
        raise ImportError(
            "gatescope.show needs IPython: pip install 'gatescope[notebook]' (or run it in Jupyter)"
        ) from None
    if isinstance(height, bool) or not isinstance(height, int) or not 100 <= height <= 10_000:
        raise ValueError(f"height must be a whole number of pixels between 100 and 10000, got {height!r}")
    spec = spec_from_module(module)  # ValueError for other modules
    if spec.reverse is not None:
        raise ValueError(
            "bidirectional modules cannot be shown live yet: the page steps one input at a time and "
            "the reverse direction reads from the end. gatescope.trace(module, x).to_figure(...) "
            "shows both directions"
        )
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 120):
        raise ValueError(f"name must be a non-empty string of at most 120 characters, got {name!r}")
    chars = _vocab_list(vocab)
    if (inputs is None) == (text is None):
        raise ValueError(
            "give exactly one input: inputs= (T, input_size) numbers, or text= (with vocab=, "
            "one character per input of the model)"
        )
    if chars is not None and inputs is not None:
        raise ValueError("a model with vocab= reads text: give text= (one character per step), not inputs=")
    server = serve_in_background(port=port)
    max_steps = server.settings.max_steps
    if text is not None:
        fragment = {"text": _checked_text(text, chars, max_steps)}
    else:
        fragment = {"csv": _csv(inputs, spec.input_size, max_steps)}
    model = server.registry.add_module(module, name or _default_name(spec), chars)
    url = f"{server.url}/#{urlencode({'model': model.id, **fragment})}"
    if len(url) > MAX_URL_CHARS:
        raise ValueError(
            f"the input makes a {len(url)}-character URL; a browser takes at most {MAX_URL_CHARS}: "
            "show fewer steps"
        )
    return IFrame(url, width="100%", height=height)


def _vocab_list(vocab: object) -> list[str] | None:
    """``vocab`` as a list (a string counts as its characters); the registry checks its contents."""
    if vocab is None:
        return None
    if not isinstance(vocab, str | list | tuple):
        raise ValueError(f"vocab must be a list of single characters, got {type(vocab).__name__}")
    return list(vocab)


def _default_name(spec: RecurrentSpec) -> str:
    layers = spec.num_layers
    sizes = "→".join(map(str, spec.hidden_sizes)) if spec.mixed else str(spec.hidden_size)
    return f"Notebook {spec.arch.upper()}, H={sizes}, {layers} layer{'s' * (layers > 1)}"


def _checked_text(text: object, vocab: list[str] | None, max_steps: int) -> str:
    from gatescope.engine.text import text_tokens

    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    if vocab is None:
        raise ValueError(
            "text= needs vocab=: the characters the model's inputs stand for, one per input; "
            "without a vocabulary give inputs= as (T, input_size) numbers"
        )
    steps = len(text_tokens(text, vocab, "the given"))
    if steps > max_steps:
        raise ValueError(f"the text has {steps} steps; the server's limit is {max_steps}")
    return text


def _csv(inputs: object, input_size: int, max_steps: int) -> str:
    """The page's CSV input: one row per step, values as float32 (what the server reads)."""
    x = as_sequence(inputs, input_size, torch.float32)  # (T, input_size); ValueError if not
    if x.shape[0] > max_steps:
        raise ValueError(f"the input has {x.shape[0]} steps; the server's limit is {max_steps}")
    rows = x.detach().cpu().numpy().astype(np.float32)
    # str of a float32 is its shortest round-trip form: 0.1, not 0.10000000149011612.
    return "\n".join(", ".join(str(v) for v in row) for row in rows)
