"""What the WebSocket job streams (WS /ws/trace, WS /ws/analysis/units) share: a reader that puts
the client's messages in an inbox, so a cancel is seen while work goes on; work run on the app's
stream threads; frames sent with a dropped connection turned into one exception."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter

from gatescope.web.payloads import dumps
from gatescope.web.schemas import parse_frame

T = TypeVar("T")
M = TypeVar("M")


class Disconnected(Exception):
    """The client is gone: the stream stops its work."""


async def read_messages(
    websocket: WebSocket, inbox: asyncio.Queue[M | str | None], messages: TypeAdapter[M], shape: str
) -> None:
    """Put each client frame in ``inbox``: the parsed message, or the sentence that says what is
    wrong with it (`parse_frame`); None once the connection closes."""
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            message: M | str = parse_frame(frame, messages, shape)
            await inbox.put(message)
    except (WebSocketDisconnect, RuntimeError):
        pass
    await inbox.put(None)


async def compute(websocket: WebSocket, work: Callable[..., T], *args: Any) -> T:
    """Run stream work on the app's stream threads (settings.stream_threads), not on the threadpool
    that answers every other request: a class of streams queues there instead of starving it."""
    executor: ThreadPoolExecutor = websocket.app.state.stream_executor
    return await asyncio.get_running_loop().run_in_executor(executor, work, *args)


async def send_frame(websocket: WebSocket, frame: str | bytes) -> None:
    """Send an encoded frame (bytes go binary); `Disconnected` if the client is gone."""
    try:
        if isinstance(frame, bytes):
            await websocket.send_bytes(frame)
        else:
            await websocket.send_text(frame)
    except (WebSocketDisconnect, RuntimeError) as exc:
        raise Disconnected from exc


async def send_json(websocket: WebSocket, payload: dict[str, Any]) -> None:
    await send_frame(websocket, dumps(payload).decode())
