"""Fixtures for dispatch tests: a temporary store and notifiers that only declare themselves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promalert.notify.base import Message
from promalert.store import Store


@dataclass
class DeclaredNotifier:
    """A notifier the dispatcher can route to; dispatch never calls notify itself."""

    channel: str = "webhook"
    send_resolved: bool = True

    async def notify(self, message: Message) -> None:
        raise AssertionError("the dispatcher must only queue, never send")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in a temporary folder."""
    s = Store.open(tmp_path / "promalert.db")
    yield s
    s.close()


@pytest.fixture
def declared() -> type[DeclaredNotifier]:
    """The DeclaredNotifier class (conftest modules are not importable by name)."""
    return DeclaredNotifier
