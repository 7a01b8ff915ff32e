"""Messages between the service and its delivery process, over one Unix socket pair.

Each message is a pickled Python value behind a 4-byte length. Both ends are our own
code from the same installation, started together, so pickle is safe here; nothing else
can reach the socket (it is a socketpair, not a path). Messages queued during one
event-loop turn go out in one write.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

_LENGTH = struct.Struct("!I")


class Wire(asyncio.Protocol):
    """One end of the socket pair: ``send`` queues a message, ``on_message`` gets each one."""

    def __init__(self, on_message: Callable[[Any], None]) -> None:
        self._on_message = on_message
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._outgoing: list[Any] = []
        self._flush_planned = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, sock: socket.socket, on_message: Callable[[Any], None]) -> Wire:
        """Run a Wire over ``sock`` (one end of a ``socket.socketpair()``)."""
        loop = asyncio.get_running_loop()
        _, wire = await loop.connect_accepted_socket(lambda: cls(on_message), sock)
        return wire

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (size,) = _LENGTH.unpack_from(buffer, start)
            if end - start - 4 < size:
                break
            message = pickle.loads(buffer[start + 4 : start + 4 + size])
            start += 4 + size
            self._on_message(message)
        del buffer[:start]

    @property
    def is_open(self) -> bool:
        """Whether the other end can still be reached."""
        return self._transport is not None and not self._transport.is_closing()

    def send(self, message: Any) -> None:
        """Queue ``message``; everything queued in this loop turn is written together."""
        self._outgoing.append(message)
        if not self._flush_planned:
            self._flush_planned = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the queued messages now (dropped if the other end is gone)."""
        self._flush_planned = False
        messages, self._outgoing = self._outgoing, []
        if not messages or self._transport is None or self._transport.is_closing():
            return
        chunks: list[bytes] = []
        for message in messages:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            chunks.append(_LENGTH.pack(len(data)))
            chunks.append(data)
        self._transport.write(b"".join(chunks))

    def close(self) -> None:
        """Write what is queued and close."""
        self.flush()
        if self._transport is not None:
            self._transport.close()
