"""The `gatescope` command line: serve is the default, bench prints its ratios."""

from __future__ import annotations

from typing import Any

import pytest

from gatescope import cli


def test_no_arguments_means_serve_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append({"app": app, **kw}))
    assert cli.main([]) == 0
    assert calls == [
        {
            "app": "gatescope.web.app:create_app",
            "factory": True,
            "host": "127.0.0.1",
            "port": 8000,
            "ws_per_message_deflate": False,
        }
    ]
    assert cli.main(["serve", "--port", "9001"]) == 0
    assert calls[-1]["port"] == 9001


def test_bench_prints_ratios_and_scaling(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_scaling = {arch: {50: 1.0, 100: 2.0} for arch in ("lstm", "gru", "rnn")}
    monkeypatch.setattr("gatescope.bench.kernels.scaling", lambda **kw: fake_scaling)
    cli.main(["bench", "--steps", "40", "--input", "3", "--hidden", "8", "--repeats", "1"])
    out = capsys.readouterr().out
    for arch in ("lstm", "gru", "rnn"):
        assert f"| {arch} |" in out
    assert "trace / torch" in out and "T=50" in out
