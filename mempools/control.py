"""A local control channel for operator commands that must run inside the serving process.

RocksDB allows one writer, and only that writer sees what is still in its memtable, so a
consistent backup of a running store must be taken by the running process itself. The CLI
reaches it through a Unix socket in the data directory: whoever may read the data directory may
back it up, nobody else, and no port or token has to be configured.

Protocol: one JSON object per line each way: `{"command": "backup", "path": "/abs/dir"}` ->
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket as socket_module
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from core.errors import InternalError, MempoolsError

log = logging.getLogger("mempools.control")

SOCKET_NAME = "control.sock"

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlError(InternalError):
    """The serving process could not be reached or refused the command."""


def socket_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / SOCKET_NAME


class ControlServer:
    def __init__(self, path: Path, handlers: dict[str, Handler]) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket from a killed process
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        except OSError as exc:  # e.g. a path longer than the ~100 bytes a Unix socket allows
            log.warning("control socket %s unavailable (%s): online backups disabled", self.path, exc)
            return
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            try:
                request = msgspec.json.decode(line, type=dict[str, Any])
                handler = self.handlers[str(request.get("command"))]
            except (msgspec.DecodeError, KeyError):
                reply: dict[str, Any] = {"ok": False, "error": "unknown or malformed command"}
            else:
                try:
                    reply = {"ok": True, **await handler(request)}
                except MempoolsError as exc:
                    reply = {"ok": False, "error": str(exc)}
            writer.write(msgspec.json.encode(reply) + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def call(socket: Path, command: str, timeout: float = 600.0, **args: Any) -> dict[str, Any]:
    """Send one command to the serving process (blocking: this is the CLI side)."""
    with socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(socket))
        except OSError as exc:
            raise ControlError(f"cannot reach the running mempools at {socket}: {exc.strerror or exc}") from None
        sock.sendall(msgspec.json.encode({"command": command, **args}) + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        reply = msgspec.json.decode(data, type=dict[str, Any])
    except msgspec.DecodeError:
        raise ControlError("the running mempools gave no answer") from None
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "command failed")))
    return reply
