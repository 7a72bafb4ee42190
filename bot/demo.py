"""Demo mode's wiring: with no credentials MeetBot talks to the local Graph simulator with
tokens the local issuer mints. The only product code that imports `localcloud`."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from .tokens import LocalBroker

log = logging.getLogger(__name__)


@asynccontextmanager
async def local_graph() -> AsyncIterator[tuple[Any, str, Any]]:
    """The Graph simulator in this process on a free loopback port: (issuer, URL, simulator)."""
    from localcloud.graph_sim import GRAPH_SIM, create_graph_app
    from localcloud.issuer import LocalIssuer

    issuer = LocalIssuer()
    graph_app = create_graph_app(issuer)
    runner = web.AppRunner(graph_app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        url = f"http://127.0.0.1:{port}"
        log.info("demo mode: no MicrosoftAppId, so meetings are created in the local Graph "
                 "simulator at %s (nothing reaches Microsoft)", url)
        yield issuer, url, graph_app[GRAPH_SIM]
    finally:
        await runner.cleanup()


def external_simulator_broker(on_cache_lookup: Any = None) -> LocalBroker:
    """Demo tokens for a Graph simulator running elsewhere (GRAPH_BASE_URL in demo mode: the
    benchmark's fake Graph); it accepts any token the local issuer signs."""
    from localcloud.issuer import LocalIssuer

    return LocalBroker(LocalIssuer(), on_cache_lookup=on_cache_lookup)


def local_broker(issuer: Any, on_cache_lookup: Any = None) -> LocalBroker:
    return LocalBroker(issuer, on_cache_lookup=on_cache_lookup)
