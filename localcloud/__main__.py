"""`python -m localcloud`: run the local Microsoft cloud (Entra ID, Bot Connector, Graph).

Entra ID and Graph are served over TLS with a throw-away local CA (MSAL insists on https);
the Bot Connector over plain http, like Agents Playground's. One `LocalIssuer` signs and verifies
every token, so tokens from the Entra simulator are accepted by the other two.

    python -m localcloud --client <appId>=<secret> --bot-app-id <appId>

prints one `name url` line per service plus the CA file, then serves until interrupted.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

from .connector_sim import create_connector_app
from .entra_sim import create_entra_app
from .issuer import LocalIssuer
from .tls import LocalTLS


def _client(value: str) -> tuple[str, str]:
    app_id, sep, secret = value.partition("=")
    if not sep or not app_id or not secret:
        raise argparse.ArgumentTypeError("expected APP_ID=SECRET")
    return app_id, secret


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localcloud",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--entra-port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--connector-port", type=int, default=0)
    parser.add_argument("--graph-port", type=int, default=0)
    parser.add_argument("--client", type=_client, action="append", default=[],
                        metavar="APP_ID=SECRET", help="register a confidential client (repeatable)")
    parser.add_argument("--bot-app-id", help="require this bot's app token at the Bot Connector "
                        "(default: anonymous, no token needed)")
    parser.add_argument("--connector-latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--no-graph", action="store_true")
    return parser.parse_args(argv)


async def _serve(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
                 ) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    bound = runner.addresses[0][1]
    return runner, f"{'https' if ssl_context else 'http'}://{host}:{bound}"


def _graph_factory() -> Callable[[LocalIssuer], web.Application] | None:
    """The Graph simulator lives in its own module; run without it if it is not there."""
    try:
        from .graph_sim import create_graph_app
    except ImportError:
        return None
    return create_graph_app


async def run(args: argparse.Namespace) -> None:
    issuer, tls = LocalIssuer(), LocalTLS()
    services: list[tuple[str, web.Application, int, ssl.SSLContext | None]] = [
        ("entra", create_entra_app(issuer, clients=dict(args.client)), args.entra_port,
         tls.server_ssl_context()),
        ("connector", create_connector_app(issuer if args.bot_app_id else None,
                                           bot_app_id=args.bot_app_id,
                                           latency=args.connector_latency),
         args.connector_port, None)]
    create_graph_app = None if args.no_graph else _graph_factory()
    if create_graph_app is not None:
        services.append(("graph", create_graph_app(issuer), args.graph_port,
                         tls.server_ssl_context()))
    runners: list[web.AppRunner] = []
    try:
        for name, app, port, ssl_context in services:
            runner, url = await _serve(app, args.host, port, ssl_context)
            runners.append(runner)
            print(f"{name:<10}{url}", flush=True)
        print(f"{'ca':<10}{tls.ca_path}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        tls.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(_parse(argv)))


if __name__ == "__main__":
    main()
