"""Start an aiohttp application on a TCP port and learn which port it got.

The devnet, the demo's webhook receiver and the tests' protocol fakes all do this; aiohttp
exposes the bound port only as the runner's socket addresses, so that detail lives here, once.
"""

from __future__ import annotations

import ssl

from aiohttp import web


async def serve_app(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    shutdown_timeout: float = 0.1,
    handler_cancellation: bool = False,
) -> tuple[web.AppRunner, int]:
    """Serve `app` on (host, port); port 0 picks a free one. Returns the runner (cleanup() stops) and the port."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        handler_cancellation=handler_cancellation,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]  # (host, port) or (host, port, flow, scope) for IPv6
