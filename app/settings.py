"""Settings: one pydantic-settings class, read from GATESCOPE_* environment variables.

Every limit gatescope enforces lives here, once: the routes, the trainer and the command line read
them from a `Settings`, and the page and the lab read them from ``GET /api/limits``.

`create_app(settings)` keeps the settings it was built with; routes get them through the
`get_settings` dependency. `load_settings()` reads the environment once per process.

The files the server reads at run time (pages, scripts, shipped models) are package data,
found with importlib.resources wherever gatescope is installed (`package_dir`).
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def package_dir(name: str) -> Path:
    """A folder shipped inside the installed package: ``static``, ``templates`` or ``models``."""
    folder = importlib.resources.files("gatescope") / name
    if not isinstance(folder, Path) or not folder.is_dir():
        raise RuntimeError(f"gatescope's package data folder {name!r} is missing from {folder}")
    return folder


class Limits(BaseModel):
    """What one request may ask for. Served as ``GET /api/limits`` for the page's inputs."""

    max_steps: int = Field(5000, ge=1, description="longest sequence a trace or stream accepts")
    max_input_size: int = Field(1024, ge=1, description="widest input a model may take")
    max_hidden_size: int = Field(1024, ge=1, description="largest hidden size of a model to trace")
    max_layers: int = Field(4, ge=1, description="most recurrent layers in a model")
    max_train_steps: int = Field(100_000, ge=1, description="largest step budget of `gatescope train`")
    max_train_hidden: int = Field(512, ge=1, description="largest hidden size of `gatescope train`")
    max_train_batch: int = Field(1024, ge=1, description="largest training batch")
    # The page trains on the shared server, while other people trace: smaller than the command's.
    max_page_train_steps: int = Field(20_000, ge=1, description="largest step budget of a page training")
    max_page_train_hidden: int = Field(256, ge=1, description="largest hidden size of a page training")
    max_lab_hidden: int = Field(256, ge=1, description="largest hidden size in the gradient lab")
    max_lab_work: int = Field(
        2 * 1000 * 128 * 128,
        ge=1,
        description="largest steps x hidden_size² in the gradient lab: its Jacobian costs T·H² per step",
    )
    max_lab_scale: float = Field(20.0, gt=0, description="largest spectral radius the gradient lab sets")
    max_cost_hidden: int = Field(512, ge=1, description="largest hidden size in the cost table")
    max_cost_steps: int = Field(200, ge=1, description="longest sequence timed by the cost table")
    max_cost_batch: int = Field(64, ge=1, description="largest batch timed by the cost table")
    max_cost_work: int = Field(
        2 * 256 * 256 * 32 * 16,
        ge=1,
        description="largest layers x (H + I) x H x steps x batch timed by the cost table",
    )
    max_corpus_chars: int = Field(
        200_000, ge=1, description="longest text (characters) the units-across-a-corpus view reads"
    )
    max_corpus_file_bytes: int = Field(
        1024 * 1024, ge=1, description="largest corpus file (UTF-8 text) the units view takes"
    )
    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1, description="largest checkpoint upload")
    max_model_config_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="largest model description read from a Keras upload (config.json, model_config)",
    )
    max_request_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="largest request body; refused before it is read or parsed"
    )


class Settings(Limits, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATESCOPE_")

    models_dir: Path = Field(
        default_factory=lambda: package_dir("models"), description="shipped checkpoints (*.json cards)"
    )
    upload_dir: Path = Field(
        Path.home() / ".local" / "share" / "gatescope" / "uploads",
        description="where uploaded checkpoints are kept, so they survive a restart",
    )
    trained_dir: Path = Field(
        Path.home() / ".local" / "share" / "gatescope" / "trained",
        description="where models trained in the page are kept",
    )
    lessons_dir: Path = Field(
        Path.home() / ".local" / "share" / "gatescope" / "lessons",
        description="a teacher's own lessons (*.md): dropped here, or uploaded with POST /api/lessons",
    )
    max_trainings: int = Field(1, ge=1, description="trainings that may run at once; more are refused")
    stream_threads: int = Field(
        1,
        ge=1,
        description="threads that compute the trace streams' steps. Streams queue there, so that a "
        "class of them never takes the threads that answer everyone else's requests",
    )
    corpus_chunk: int = Field(
        2048,
        ge=1,
        description="steps read per chunk of a units-across-a-corpus run: a progress report and a "
        "chance to cancel after each",
    )
    kept_corpora: int = Field(32, ge=1, description="uploaded corpus files kept; the oldest go first")
    torch_threads: int = Field(
        1,
        ge=1,
        description="intra-op threads per torch call. Small recurrent models gain nothing from more, "
        "and OpenMP barriers stall for seconds when other processes share the cores; requests "
        "run concurrently in the threadpool instead",
    )

    @property
    def limits(self) -> Limits:
        return Limits.model_validate({name: getattr(self, name) for name in Limits.model_fields})


@lru_cache
def load_settings() -> Settings:
    """The settings from this process's environment, read once."""
    return Settings()
