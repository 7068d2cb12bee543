"""The product is the wheel: built from this checkout, installed into a fresh virtual environment
with only the CPU torch beside it, it serves the page, its assets and the shipped models from a
folder with no checkout in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from gatescope.bench.localserver import free_port

REPO = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # the CPU build; a bare `torch` would pull the multi-GB CUDA one


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, REPO, cwd=out)
    (built,) = out.glob("gatescope-*.whl")
    return built


def test_the_wheel_ships_one_package_with_its_pages_scripts_and_models(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"gatescope"}
    for needed in (
        "gatescope/templates/index.html",
        "gatescope/templates/lab.html",
        "gatescope/static/js/main.js",
        "gatescope/static/css/gatescope.css",
        "gatescope/models/charlm-lstm.json",
        "gatescope/models/charlm-lstm.safetensors",
        "gatescope/py.typed",
    ):
        assert needed in names, needed


def test_a_fresh_venv_with_the_wheel_serves_the_page_and_traces(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", TORCH, cwd=tmp_path)
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"  # no checkout here: everything must come from the package
    elsewhere.mkdir()
    where = run(python, "-c", "import gatescope; print(gatescope.__file__)", cwd=elsewhere).strip()
    assert where.startswith(str(venv)), where
    version = run(
        python,
        "-c",
        "from gatescope import trace, Stepper; import gatescope; print(gatescope.__version__)",
        cwd=elsewhere,
    )
    assert version.strip()

    port = free_port()
    env = {
        **os.environ,
        "GATESCOPE_UPLOAD_DIR": str(tmp_path / "uploads"),
        "GATESCOPE_TRAINED_DIR": str(tmp_path / "trained"),
        "PYTHONPATH": "",
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(venv / "bin" / "gatescope"), "serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the installed server did not start"
            time.sleep(0.2)
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and 'type="module"' in page.text
        for asset in ("/static/js/main.js", "/static/css/gatescope.css", "/vendor/plotly.min.js"):
            assert httpx.get(f"{base}{asset}").status_code == 200, asset
        models = {m["id"]: m for m in httpx.get(f"{base}/api/models").json()["models"]}
        shipped = sorted(json.loads(p.read_text())["id"] for p in (REPO / "models").glob("*.json"))
        assert sorted(i for i, m in models.items() if m["source"] == "builtin") == shipped
        traced = httpx.post(
            f"{base}/api/trace",
            json={"model": "charlm-lstm", "text": "def f(x):", "objective": "task"},
            timeout=30,
        )
        assert traced.status_code == 200, traced.text
        assert traced.json()["steps"] == 9 and traced.json()["gate_names"] == ["i", "f", "g", "o"]
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
