"""`tocsin console`: the web console and the JSON API behind uvicorn."""

from __future__ import annotations

import argparse
import sys

from incidents.db import make_engine, session_factory
from tocsin.commands import Subcommands
from tocsin.settings import get_settings
from tocsin.shutdown import StopSignal


def register(sub: Subcommands) -> None:
    console = sub.add_parser("console", help="serve the web console and JSON API")
    console.add_argument("--host", default="127.0.0.1")
    console.add_argument("--port", type=int, default=8000)
    console.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="drop the Secure cookie flag: plain-HTTP local demo only, never in production",
    )
    console.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP",
        help="a reverse proxy (address or CIDR network) whose X-Forwarded-For names the "
        "client (login throttling per client address); repeatable. Without it the peer "
        "address is used and X-Forwarded-For is ignored.",
    )
    console.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    import uvicorn

    from console.app import create_app
    from tocsin import __version__, runtime, telemetry

    settings = get_settings()
    telemetry.configure_logging(settings.log_level)
    telemetry.init_sentry(settings, "console")
    if args.insecure_cookies:
        print(
            "WARNING: --insecure-cookies: session cookies without the Secure flag "
            "(plain-HTTP local demo only)",
            file=sys.stderr,
        )
    factory = session_factory(make_engine(settings.database_url))
    telemetry.register_db_collector(factory, settings=settings)
    app = create_app(
        settings,
        session_factory=factory,
        insecure_cookies=args.insecure_cookies,
        trusted_proxies=args.trusted_proxy,
        version=__version__,
    )
    runtime.tune_gc()  # deep queue pages key thousands of incidents per request
    # uvicorn stops gracefully on SIGTERM, then re-raises the signal to the handler found at
    # start: this one, so a clean stop exits 0 instead of dying of the signal.
    StopSignal().install()
    # `log_config=None`: uvicorn keeps the JSON handler `configure_logging` installed, so its
    # access lines (client addresses) go through the scrubber.
    # The console reads X-Forwarded-For itself, from `--trusted-proxy` peers only.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        proxy_headers=False,
        server_header=False,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
    return 0
