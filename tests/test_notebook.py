"""gatescope in a notebook: `show` (run for real in a Jupyter kernel) and `Trace.to_figure`."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest
import torch
from torch import nn

import gatescope
from gatescope import notebook
from gatescope.engine import trace_spec
from gatescope.settings import Settings

NOTEBOOK = Path(__file__).parent / "notebooks" / "show.ipynb"
VOCAB = list("abcdefghijklmnopqrstuvwxyz .,")


def fragment(src: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(src).fragment).items()}


# ---- the notebook, executed in a real kernel ---------------------------------------------------


def cell_text(cell: Any) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def test_notebook_shows_the_page_and_the_server_answers(tmp_path: Path, monkeypatch: Any) -> None:
    import nbformat
    from nbclient import NotebookClient

    # The kernel inherits this environment: its server keeps nothing outside tmp_path.
    monkeypatch.setenv("GATESCOPE_UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("GATESCOPE_TRAINED_DIR", str(tmp_path / "trained"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" is ipykernel's own kernel; jupyter_client runs it with this interpreter.
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    setup, shown, checks, figure = nb.cells[1:]

    assert f"python: {sys.executable}\n" in cell_text(setup), "the kernel runs another interpreter"
    assert f"gatescope: {gatescope.__file__}\n" in cell_text(setup), "the kernel imports another gatescope"
    (result,) = [out for out in shown.outputs if out.output_type == "execute_result"]
    html = result["data"]["text/html"]
    assert "<iframe" in html and 'src="http://127.0.0.1:' in html and 'height="700"' in html
    text = cell_text(checks)
    model_id = text.split("model id: ")[1].split()[0]
    assert model_id.startswith("notebook-")
    assert f"/#model={model_id}&text=the+forget+gate+decides+what+to+keep." in html
    assert "listed: True | source: notebook | layers: 2\n" in text
    assert f"trace status: 200 | steps: {len('the forget gate decides what to keep.')}\n" in text
    assert "figure: f, layer 1 (LSTM)\n" in cell_text(figure)


# ---- show() in this process --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[notebook.BackgroundServer]:
    """This process's background server (the first call's settings win: keep it in tmp dirs)."""
    settings = Settings(
        upload_dir=tmp_path_factory.mktemp("uploads"), trained_dir=tmp_path_factory.mktemp("trained")
    )
    yield notebook.serve_in_background(settings)


def test_show_registers_a_snapshot_and_links_its_input(server: notebook.BackgroundServer) -> None:
    torch.manual_seed(0)
    gru = nn.GRU(3, 4)
    x = torch.randn(6, 3, dtype=torch.float64)
    frame = gatescope.show(gru, x, name="my GRU")
    state = fragment(frame.src)
    assert frame.src.startswith(f"{server.url}/#")
    model = server.registry.get(state["model"])
    assert model.record["source"] == "notebook" and model.record["name"] == "my GRU"
    rows = [[float(v) for v in line.split(", ")] for line in state["csv"].split("\n")]
    assert torch.equal(torch.tensor(rows, dtype=torch.float32), x.float())  # exact in float32
    # The same weights give the same id; training after `show` does not change what was shown.
    assert fragment(gatescope.show(gru, x, name="my GRU").src)["model"] == state["model"]
    before = model.spec.layers[0].w_hh.clone()
    with torch.no_grad():
        gru.weight_hh_l0.add_(1.0)
    assert torch.equal(model.spec.layers[0].w_hh, before)
    assert fragment(gatescope.show(gru, x, name="my GRU").src)["model"] != state["model"]
    order = ["builtin", "trained", "upload", "notebook", "random"]
    sources = [m["source"] for m in server.registry.list()]
    assert "notebook" in sources and sources == sorted(sources, key=order.index)


def test_show_takes_a_stack_of_different_sizes(server: notebook.BackgroundServer) -> None:
    """A RecurrentStack (layers of 6 and 4 units) is shown as one model, each layer its own size;
    its trace through the server is the chain of torch modules'."""
    torch.manual_seed(1)
    lower, upper = nn.GRU(3, 6), nn.GRU(6, 4)
    x = torch.randn(5, 3)
    frame = gatescope.show(gatescope.RecurrentStack.from_modules([lower, upper]), x)
    model = server.registry.get(fragment(frame.src)["model"])
    assert model.record["name"] == "Notebook GRU, H=6→4, 2 layers"
    assert (model.record["hidden_size"], model.record["hidden_sizes"]) == (None, [6, 4])
    hidden = trace_spec(model.spec, x).layers[1].hidden
    torch.testing.assert_close(hidden, upper(lower(x)[0])[0].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("module", "kwargs", "message"),
    [
        (nn.Linear(3, 4), {"inputs": [[0.0] * 3]}, "expected a torch.nn.LSTM, nn.GRU or nn.RNN"),
        (nn.LSTM(3, 4, bidirectional=True), {"inputs": [[0.0] * 3]}, "bidirectional modules"),
        (nn.LSTM(3, 4), {}, "give exactly one input"),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 3], "text": "abc"}, "give exactly one input"),
        (nn.LSTM(3, 4), {"text": "abc"}, "text= needs vocab="),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 3], "vocab": list("abc")}, "give text="),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 2]}, "input_size=3"),
        (nn.LSTM(3, 4), {"inputs": [[0.0, float("nan"), 0.0]]}, "NaN or inf"),
        (nn.LSTM(3, 4), {"inputs": "not numbers"}, "input must be numeric"),
        (nn.LSTM(3, 4), {"text": "abd", "vocab": list("abc")}, "not in the given vocabulary: 'd'"),
        (nn.LSTM(3, 4), {"text": "ab", "vocab": list("ab")}, "vocab must be 3 distinct single characters"),
        (nn.LSTM(3, 4), {"text": "ab", "vocab": ["a", "b", "cd"]}, "vocab must be 3 distinct"),
        (nn.LSTM(3, 4), {"text": "ab", "vocab": 3}, "vocab must be a list of single characters"),
        (nn.LSTM(3, 4), {"text": "a" * 5001, "vocab": list("abc")}, "the server's limit is 5000"),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 3], "height": 0}, "height must be"),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 3], "name": ""}, "name must be"),
        (nn.LSTM(3, 4), {"inputs": [[0.0] * 3], "port": 1}, "already serves this kernel"),
    ],
)
def test_show_refuses_what_the_page_cannot_show(
    server: notebook.BackgroundServer, module: nn.Module, kwargs: dict[str, Any], message: str
) -> None:
    before = len(server.registry.list())
    with pytest.raises(ValueError, match=re.escape(message)):
        gatescope.show(module, **kwargs)
    assert len(server.registry.list()) == before  # nothing registered on the way


# ---- Trace.to_figure ---------------------------------------------------------------------------


def test_to_figure_is_the_trace_as_a_units_by_time_heatmap() -> None:
    torch.manual_seed(0)
    tr = gatescope.trace(nn.LSTM(3, 5, num_layers=2), torch.randn(7, 3))
    for quantity, layer in (("f", 0), ("g", 1), ("hidden", 1), ("cell", 0), ("grad_hidden", 0)):
        fig = tr.to_figure(quantity, layer=layer)
        assert isinstance(fig, go.Figure)
        (heatmap,) = fig.data
        values = getattr(tr.layers[layer], quantity, None)
        expected = tr.layers[layer].gates[quantity] if values is None else values  # (T, H)
        np.testing.assert_array_equal(np.asarray(heatmap.z), expected.T.double().numpy())  # (H, T)
        assert list(heatmap.x) == list(range(7)) and list(heatmap.y) == list(range(5))
        assert fig.layout.xaxis.title.text == "time step t" and fig.layout.yaxis.title.text == "unit"
        assert quantity in fig.layout.title.text and f"layer {layer}" in fig.layout.title.text
        if quantity == "f":
            assert heatmap.colorscale == go.Heatmap(colorscale="Viridis").colorscale
            assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (0, 1, None)
        else:  # signed: ColorBrewer RdBu with blue below 0, as on the page
            assert heatmap.colorscale == go.Heatmap(colorscale="RdBu_r").colorscale
            assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == (None, None, 0)

    gru = gatescope.trace(nn.GRU(3, 4), torch.randn(5, 3))
    assert gru.to_figure("z").data[0].zmax == 1 and gru.to_figure("n").data[0].zmid == 0
    with pytest.raises(ValueError, match="unknown quantity 'cell' for this GRU trace: use one of 'r', 'z'"):
        gru.to_figure("cell")
    with pytest.raises(ValueError, match=r"unknown quantity 'x'.*'grad_cell'"):
        tr.to_figure("x")
    with pytest.raises(ValueError, match="layer 2 out of range: this trace has 2 layer"):
        tr.to_figure("f", layer=2)
