"""An HTTP peer on loopback that answers with exact bytes, for testing the webhook client's framing.

`RawHttpServer` reads each request (head and Content-Length body) and writes the next scripted
`Answer` verbatim: malformed framing, a body that ends at connection close, a head that never
ends. It records every connection, the requests seen on it and whether the client closed it, so
a test can assert what went over the wire (a new connection, or the client hanging up).

    async with RawHttpServer() as server:
        server.script(Answer(b"HTTP/1.1 200 OK\\r\\n\\r\\nbody", then="close"))
        ... client.post(server.url("/hook"), ...)
        server.connections[0].requests, server.connections[0].client_closed
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Literal

import msgspec

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Answer(msgspec.Struct):
    data: bytes = OK
    # After writing: "keep" reads the next request, "close" closes the connection,
    # "hang" writes nothing more and waits for the client to go.
    then: Literal["keep", "close", "hang"] = "keep"


class Connection(msgspec.Struct):
    requests: int = 0
    client_closed: bool = False  # the client closed (or reset) its side


class RawHttpServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.connections: list[Connection] = []
        self._answers: deque[Answer] = deque()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def script(self, *answers: Answer) -> None:
        """The next answers, in order; once used up, every request gets a plain 200 on a kept connection."""
        self._answers.extend(answers)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def __aenter__(self) -> RawHttpServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # ends each handler's read: no task is cancelled
        for task in list(self._tasks):
            await task
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        record = Connection()
        self.connections.append(record)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    record.client_closed = True
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                record.requests += 1
                answer = self._answers.popleft() if self._answers else Answer()
                writer.write(answer.data)
                try:
                    await writer.drain()
                except ConnectionError:
                    record.client_closed = True
                    return
                if answer.then == "close":
                    writer.close()  # a FIN after the bytes written
                    with contextlib.suppress(ConnectionError):
                        await writer.wait_closed()
                    return
                if answer.then == "hang":
                    with contextlib.suppress(ConnectionError):
                        while await reader.read(65536):
                            pass
                    record.client_closed = True
                    return
        finally:
            if not writer.transport.is_closing():
                writer.transport.abort()
            self._tasks.discard(task)
            self._writers.discard(writer)
