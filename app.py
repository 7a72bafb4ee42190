"""MeetBot: `python app.py` runs the bot on PORT (default 3978).

With no MicrosoftAppId configured it runs in demo mode against the embedded Graph simulator,
ready for the Microsoft 365 Agents Playground. WORKERS=N runs N processes sharing the port
(SO_REUSEPORT); for more than one host, run instances behind a load balancer with REDIS_URL.

The same application also starts under gunicorn (Azure App Service's startup command, the
container's CMD):

    gunicorn app:create_app --worker-class aiohttp.GunicornWebWorker --bind 0.0.0.0:$PORT

`create_app` is a zero-argument async factory, which aiohttp's gunicorn worker awaits in each
worker process ("Passing a coroutine into run_app and Gunicorn", aiohttp's server docs). There is
deliberately no module-level `app`: App Service's default `gunicorn … app:app` runs gunicorn's
WSGI worker, which cannot serve an aiohttp application whatever `app` is, so the startup command
must be set anyway, and building the application at import would do its work in every process
that merely imports this module.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from bot.config import ConfigError, Settings, load_settings
from bot.hosting import create_app as create_web_app
from bot.telemetry import configure_logging

log = logging.getLogger("meetbot")

# gunicorn's Arbiter.WORKER_BOOT_ERROR: a worker that exits with it makes the master stop with
# "Worker failed to boot."; any other exit status would make it start the worker again, forever.
GUNICORN_WORKER_BOOT_ERROR = 3


def report_config_error(err: ConfigError) -> None:
    print("MeetBot cannot start; fix its configuration:", file=sys.stderr)
    for problem in err.problems:
        print(f"  - {problem}", file=sys.stderr)


def serve(settings: Settings) -> None:
    configure_logging(settings)
    # SIGTERM: stop accepting, let turns in flight finish (up to shutdown_timeout), then exit.
    web.run_app(create_web_app(settings), host=settings.host, port=settings.port,
                reuse_port=settings.workers > 1 or None, access_log=None, shutdown_timeout=20,
                print=None, handle_signals=True)


async def create_app() -> web.Application:
    """The application for gunicorn's aiohttp worker, configured from the environment.

    SIGTERM drains as under `python app.py`: the worker stops accepting, waits for requests in
    flight (gunicorn's --graceful-timeout, 30 s by default), then the application's cleanup
    delivers the cards still on their way. HOST, PORT and WORKERS are `python app.py`'s: under
    gunicorn, --bind (default 0.0.0.0:$PORT) and --workers decide.
    """
    try:
        settings = load_settings()
    except ConfigError as err:
        report_config_error(err)
        raise SystemExit(GUNICORN_WORKER_BOOT_ERROR) from None
    configure_logging(settings)
    if settings.workers > 1:
        log.warning("WORKERS=%d is ignored under gunicorn: its --workers sets the number of "
                    "processes (and more than one needs REDIS_URL)", settings.workers)
    return create_web_app(settings)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as err:
        report_config_error(err)
        return 2
    if settings.workers == 1:
        serve(settings)
        return 0
    workers = [multiprocessing.Process(target=serve, args=(settings,), name=f"meetbot-{i}")
               for i in range(settings.workers)]
    for w in workers:
        w.start()

    def stop(signum: int, _frame: object) -> None:
        for w in workers:
            if w.is_alive() and w.pid is not None:
                os.kill(w.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for w in workers:
        w.join()
    return max((w.exitcode or 0) for w in workers)


if __name__ == "__main__":
    sys.exit(main())
