"""App settings: one pydantic-settings class, read from GATESCOPE_* environment variables.

Routes get it through `get_settings()` (cached), which tests override with
``app.dependency_overrides[get_settings]``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATESCOPE_")

    models_dir: Path = Field(REPO_ROOT / "models", description="shipped checkpoints (*.json cards)")
    upload_dir: Path = Field(
        Path.home() / ".local" / "share" / "gatescope" / "uploads",
        description="where uploaded checkpoints are kept, so they survive a restart",
    )
    trained_dir: Path = Field(
        Path.home() / ".local" / "share" / "gatescope" / "trained",
        description="where models trained in the page are kept",
    )
    max_trainings: int = Field(1, description="trainings that may run at once; more are refused")
    max_train_steps: int = Field(20_000, description="largest step budget a page training may ask for")
    max_train_hidden: int = Field(256, description="largest hidden size a page training may ask for")
    max_steps: int = Field(5000, description="longest sequence a trace or stream accepts")
    max_upload_bytes: int = Field(32 * 1024 * 1024, description="largest checkpoint upload")
    max_request_bytes: int = Field(
        64 * 1024 * 1024, description="largest request body; refused before it is read or parsed"
    )
    max_hidden_size: int = 1024
    max_input_size: int = 1024
    max_layers: int = 4
    torch_threads: int = Field(
        1,
        description="intra-op threads per torch call. Small recurrent models gain nothing from more, "
        "and OpenMP barriers stall for seconds when other processes share the cores; requests "
        "run concurrently in the threadpool instead",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # every field has a default
