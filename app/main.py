"""The FastAPI app: the page, the static files, Plotly.js from the installed package, the API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import plotly  # type: ignore[import-untyped]
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app import __version__
from app.api import analysis, models, stream, trace, training
from app.settings import REPO_ROOT, get_settings

log = logging.getLogger(__name__)

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=REPO_ROOT / "templates")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.dependency_overrides.get(get_settings, get_settings)()
    torch.set_num_threads(settings.torch_threads)
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="gatescope",
        version=__version__,
        description="Exact per-timestep gates, states and gradients of RNN, LSTM and GRU models. "
        "The stream protocol of WS /ws/trace is documented in app/api/stream.py and the README.",
    )
    app.include_router(models.router)
    app.include_router(trace.router)
    app.include_router(stream.router)
    app.include_router(training.router)
    app.include_router(analysis.router)
    app.mount("/static", StaticFiles(directory=REPO_ROOT / "static"), name="static")

    @app.middleware("http")
    async def limit_body_size(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Refuse a huge body from its declared length, before it is read and parsed into memory.
        settings = app.dependency_overrides.get(get_settings, get_settings)()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_request_bytes:
            limit = settings.max_request_bytes // 2**20
            return JSONResponse({"detail": f"the request body is larger than the {limit} MiB limit"}, 413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence instead of pydantic's error list, so the page can show it as is.
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.get("/vendor/plotly.min.js", name="plotly_js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"version": __version__})

    @app.get("/lab", response_class=HTMLResponse, include_in_schema=False)
    def lab(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "lab.html", {"version": __version__})

    return app


app = create_app()
