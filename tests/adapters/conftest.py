"""Fixtures of the adapters' tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything opens a network connection (the in-memory tests need none).

    Every client socket of asyncio (websockets', a proxy's) is opened by
    ``loop.create_connection``; the in-memory transport never calls it.
    """

    async def refused(self: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a network connection was opened: create_connection{args}")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refused)
