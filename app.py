"""MeetBot: `python app.py` runs the bot on PORT (default 3978).

With no MicrosoftAppId configured it runs in demo mode against the embedded Graph simulator,
ready for the Microsoft 365 Agents Playground. WORKERS=N runs N processes sharing the port
(SO_REUSEPORT); for more than one host, run instances behind a load balancer with REDIS_URL.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings
from bot.hosting import create_app
from bot.telemetry import configure_logging


def serve(settings: Settings) -> None:
    configure_logging(settings)
    # SIGTERM: stop accepting, let turns in flight finish (up to shutdown_timeout), then exit.
    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                reuse_port=settings.workers > 1 or None, access_log=None, shutdown_timeout=20,
                print=None, handle_signals=True)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as err:
        print("MeetBot cannot start; fix its configuration:", file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    if settings.workers == 1:
        serve(settings)
        return 0
    workers = [multiprocessing.Process(target=serve, args=(settings,), name=f"meetbot-{i}")
               for i in range(settings.workers)]
    for w in workers:
        w.start()

    def stop(signum, _frame):
        for w in workers:
            if w.is_alive():
                os.kill(w.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for w in workers:
        w.join()
    return max((w.exitcode or 0) for w in workers)


if __name__ == "__main__":
    sys.exit(main())
