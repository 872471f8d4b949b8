"""`tocsin user add`, `tocsin token create`, `tocsin console`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from consumers.errors import ConfigError
from incidents.db import make_engine, session_factory, transaction
from tocsin.console import security
from tocsin.console.audit import audit
from tocsin.console.errors import InvalidUserInput
from tocsin.console.models import Role
from tocsin.settings import get_settings
from tocsin.shutdown import StopSignal

CLI_ACTOR = "cli"


def register(sub: Any) -> None:
    user = sub.add_parser("user", help="console users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser(
        "add", help="create a console user (password from TOCSIN_PASSWORD or a prompt)"
    )
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--lang", default="fr", choices=["fr", "en"])
    add.set_defaults(func=cmd_user_add)

    token = sub.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("email")
    create.add_argument("--name", default="cli")
    create.set_defaults(func=cmd_token_create)

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
        help="a reverse proxy whose X-Forwarded-For is trusted (login throttling per client "
        "IP); repeatable. Without it the peer address is used.",
    )
    console.set_defaults(func=cmd_console)


def _password() -> str:
    password = os.environ.get("TOCSIN_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise ConfigError("TOCSIN_PASSWORD: not set and no terminal to prompt for a password")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise InvalidUserInput("passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    settings = get_settings()
    password = _password()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        user = security.create_user(
            session=session, email=args.email, password=password, role=args.role, lang=args.lang
        )
        audit(session=session, actor=user, action="user.created",
              details={"user_id": user.id, "role": user.role, "via": CLI_ACTOR})
        print(f"user {user.id} created with role {user.role}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        row, secret = security.create_token(session=session, email=args.email, name=args.name)
        owner = security.get_user(session=session, user_id=row.user_id)
        if owner is not None:
            audit(session=session, actor=owner, action="token.created",
                  details={"user_id": owner.id, "token_id": row.id, "name": row.name})
    print(secret)
    print(f"token {row.id} ({row.name}): shown once, store it now", file=sys.stderr)
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    import uvicorn

    from tocsin import runtime, telemetry
    from tocsin.console.app import create_app

    settings = get_settings()
    telemetry.configure_logging(settings.log_level)
    telemetry.init_sentry(settings, "console")
    if args.insecure_cookies:
        print("WARNING: --insecure-cookies: session cookies without the Secure flag "
              "(plain-HTTP local demo only)", file=sys.stderr)
    factory = session_factory(make_engine(settings.database_url))
    telemetry.register_db_collector(factory, settings=settings)
    app = create_app(settings, session_factory=factory,
                     insecure_cookies=args.insecure_cookies)
    runtime.tune_gc()  # deep queue pages key thousands of incidents per request
    # uvicorn stops gracefully on SIGTERM, then re-raises the signal to the handler found at
    # start: this one, so a clean stop exits 0 instead of dying of the signal.
    StopSignal().install()
    # `log_config=None`: uvicorn keeps the JSON handler `configure_logging` installed, so its
    # access lines (client addresses) go through the scrubber.
    uvicorn.run(app, host=args.host, port=args.port,
                proxy_headers=bool(args.trusted_proxy),
                forwarded_allow_ips=",".join(args.trusted_proxy) or None,
                server_header=False, log_level=settings.log_level.lower(), log_config=None)
    return 0
