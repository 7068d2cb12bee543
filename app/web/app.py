"""The FastAPI app: the pages, the static files, Plotly.js from the installed package, the API.

    app = create_app(Settings(max_steps=3000))      # a fresh app: its own registry and training slots

``gatescope serve`` runs ``uvicorn --factory gatescope.web.app:create_app``, which reads the
settings from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated

import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from gatescope import __version__
from gatescope.settings import Limits, Settings, load_settings, package_dir
from gatescope.web.api import analyses, dynamics, lab, lessons, models, streams, traces, trainings, units
from gatescope.web.deps import RegistryDep, SettingsDep, TrainingSlots, user_errors
from gatescope.web.inline import PLOTLY_JS, page_assets
from gatescope.web.saved import ViewQuery, saved_view, script_json
from gatescope.web.schemas import validation_detail
from gatescope.zoo.registry import ModelRegistry

log = logging.getLogger(__name__)

#: uvicorn's ws_per_message_deflate for every gatescope server (`gatescope serve`, which the
#: benchmarks run too, and the notebook's): off. uvicorn compresses each frame on the event loop,
#: and with a class of 50 streams that alone held every other request for seconds (bench-class:
#: REST p95 6.0 s with it, 0.3 s without, back to back). The f32 frames barely compress, and a
#: classroom's network is rarely what limits it.
WS_PER_MESSAGE_DEFLATE = False


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    torch.set_num_threads(settings.torch_threads)
    app.state.registry = ModelRegistry(settings)
    app.state.training_slots = TrainingSlots(settings.max_trainings, settings.trained_dir / ".slots")
    with (
        ThreadPoolExecutor(settings.stream_threads, thread_name_prefix="gatescope-stream") as streams,
        ThreadPoolExecutor(1, thread_name_prefix="gatescope-gradients") as gradients,
    ):
        app.state.stream_executor = streams
        # A fresh stream's backward pass starts as soon as its forward pass is done, here, while
        # its steps are still being sent.
        app.state.gradient_executor = gradients
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh app with its own settings (from the environment when None), registry and slots."""
    settings = settings or load_settings()
    app = FastAPI(
        lifespan=lifespan,
        title="gatescope",
        version=__version__,
        description="Exact per-timestep gates, states and gradients of RNN, LSTM and GRU models. "
        "The stream protocols of WS /ws/trace and WS /ws/train are documented in the README and in "
        "gatescope.web.api.streams and gatescope.web.api.trainings.",
    )
    app.state.settings = settings
    for module in (models, traces, streams, trainings, analyses, dynamics, units, lab, lessons):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=package_dir("static")), name="static")
    templates = Jinja2Templates(directory=package_dir("templates"))

    @app.middleware("http")
    async def limit_body_size(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Refuse a huge body from its declared length, before it is read and parsed into memory.
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_request_bytes:
            limit = settings.max_request_bytes // 2**20
            return JSONResponse({"detail": f"the request body is larger than the {limit} MiB limit"}, 413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    @app.get("/api/limits", tags=["settings"])
    def get_limits() -> Limits:
        """What one request may ask for: the page and the lab set their inputs' bounds from this."""
        return settings.limits

    @app.get("/vendor/plotly.min.js", name="plotly_js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"version": __version__})

    @app.get("/lab", response_class=HTMLResponse, include_in_schema=False)
    def lab_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "lab.html", {"version": __version__})

    @app.get("/export.html", response_class=HTMLResponse, tags=["pages"])
    def export_html(
        request: Request, view: Annotated[ViewQuery, Query()], registry: RegistryDep, settings: SettingsDep
    ) -> HTMLResponse:
        """This view as one self-contained HTML file: the page's URL-state keys as query parameters
        (model, preset | text | csv, t, unit, layer, obj, ...). The trace (as POST /api/trace
        computes it), Plotly.js, the page's scripts and styles are inline: it opens from disk."""
        with user_errors():
            data = saved_view(registry, settings, view, request.url.query)
        context = {"version": __version__, "saved": script_json(data), "assets": page_assets()}
        return templates.TemplateResponse(request, "index.html", context)

    return app
