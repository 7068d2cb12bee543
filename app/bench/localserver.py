"""gatescope in a subprocess on a free loopback port, for the benchmarks and the browser tests.

Also the Chromium flags this machine needs: without the background-networking ones a headless
Chromium stalls on the closed network.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import IO

import httpx

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: IO[bytes] | None, chars: int = 3000) -> str:
    if log is None:
        return "(stderr was not kept)"
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-chars:]


@contextlib.contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    log: IO[bytes] | None = None,
    timeout: float = 60.0,
    workers: int = 1,
) -> Iterator[str]:
    """Start gatescope as a user does (``python -m gatescope serve``) on 127.0.0.1 and
    yield its base URL once it answers.

    Uploads, trained models and lessons go to fresh temporary directories unless ``env`` says
    otherwise.
    The server's stderr goes to ``log`` (a file: a pipe nobody reads fills up and blocks the
    server), or nowhere. RuntimeError, with the log's tail, if it does not start in ``timeout`` s.
    """
    port = free_port()
    full_env = {
        **os.environ,
        "GATESCOPE_UPLOAD_DIR": tempfile.mkdtemp(prefix="gatescope-uploads-"),
        "GATESCOPE_TRAINED_DIR": tempfile.mkdtemp(prefix="gatescope-trained-"),
        "GATESCOPE_LESSONS_DIR": tempfile.mkdtemp(prefix="gatescope-lessons-"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gatescope",
            "serve",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/models", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{_tail(log)}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
