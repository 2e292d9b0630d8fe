"""Idle keep-alive connections of the webhook client: expiry, a per-host cap and a global cap.

Why each rule:

- **Idle timeout** (default 30 s). Common servers drop an idle keep-alive connection after 60-75 s
  (nginx 75 s, Node 5 s, AWS ALB 60 s); reusing one just as the server closes it costs a failed
  write and a retry. Below those, we close first. It is checked when a connection is taken (cheap)
  and by a periodic sweep, so a connection to a host that is never used again is closed too,
  instead of holding a descriptor (and the peer's socket) for the life of the process.
- **Per-host cap** (64) so that one busy destination cannot hold every idle slot, and a
  **global cap** (512) so that 10,000 destinations cannot hold 10,000 descriptors: beyond either,
  the least recently used idle connection is closed (LRU).
- A connection whose peer closes while it is idle is dropped at once (`discard`, called by the
  connection itself), so sockets do not pile up in CLOSE_WAIT.

Connections are handed out most recently used first: the warmest one is the least likely to have
been closed by the server, and the older ones age out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class PooledConnection(Protocol):
    @property
    def alive(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=PooledConnection)


class IdlePool(Generic[C]):
    def __init__(
        self,
        *,
        idle_timeout: float,
        max_per_host: int,
        max_total: int,
        clock: Callable[[], float],
        sweep_interval: float,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_per_host = max_per_host
        self.max_total = max_total
        self.sweep_interval = sweep_interval
        self._clock = clock
        # Both dicts keep insertion order: the first entry is the least recently released.
        self._hosts: dict[Hashable, dict[C, float]] = {}  # key -> {connection: idle since}
        self._all: dict[C, Hashable] = {}  # connection -> key
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._all)

    def take(self, key: Hashable) -> C | None:
        """The most recently released live, unexpired connection for `key` (others met are closed)."""
        host = self._hosts.get(key)
        if not host:
            return None
        deadline = self._clock() - self.idle_timeout
        while host:
            conn, since = host.popitem()
            del self._all[conn]
            if since > deadline and conn.alive:
                return conn
            conn.close()
        return None

    def put(self, key: Hashable, conn: C) -> None:
        if self._closed or not conn.alive:
            conn.close()
            return
        host = self._hosts.setdefault(key, {})
        host[conn] = self._clock()
        self._all[conn] = key
        if len(host) > self.max_per_host:
            self._evict(next(iter(host)))
        if len(self._all) > self.max_total:
            self._evict(next(iter(self._all)))
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self.sweep_interval, self._sweep)

    def discard(self, conn: C) -> None:
        """Forget `conn` (its peer closed it); a connection not in the pool is ignored."""
        key = self._all.pop(conn, None)
        if key is not None:
            self._hosts[key].pop(conn, None)

    def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._hosts.clear()

    def _evict(self, conn: C) -> None:
        self.discard(conn)
        conn.close()

    def _sweep(self) -> None:
        """Close every expired connection (the oldest come first), then come back while any remain."""
        self._sweeper = None
        deadline = self._clock() - self.idle_timeout
        expired = []
        for conn, key in self._all.items():
            if self._hosts[key][conn] > deadline:
                break  # released in order: every later one is younger
            expired.append(conn)
        for conn in expired:
            self._evict(conn)
        for key in [key for key, host in self._hosts.items() if not host]:
            del self._hosts[key]
        if self._all and not self._closed:
            self._sweeper = asyncio.get_running_loop().call_later(self.sweep_interval, self._sweep)
