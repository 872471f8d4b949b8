"""`tocsin user add/password`, `tocsin token create/list/revoke`, `tocsin console`."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from consumers.errors import ConfigError
from incidents.db import make_engine, session_factory, transaction
from tocsin.console import security
from tocsin.console.audit import audit
from tocsin.console.errors import InvalidUserInput, UnknownUser
from tocsin.console.i18n import translate
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
    reset = user_sub.add_parser(
        "password", help="set a user's password (TOCSIN_PASSWORD or a prompt); ends their "
        "console sessions")
    reset.add_argument("email")
    reset.set_defaults(func=cmd_user_password)

    token = sub.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("email")
    create.add_argument("--name", default="cli")
    create.add_argument("--days", type=int, default=None,
                        help="validity in days (default TOCSIN_TOKEN_DAYS, 90)")
    create.set_defaults(func=cmd_token_create)
    listing = token_sub.add_parser("list", help="tokens: owner, name, state, expiry")
    listing.add_argument("--email", default=None, help="only this user's tokens")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)

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
        try:
            user = security.create_user(session=session, email=args.email, password=password,
                                        role=args.role, lang=args.lang)
        except InvalidUserInput as exc:  # the message key, in words
            raise InvalidUserInput(translate("en", str(exc))) from None
        audit(session=session, actor=user, action="user.created",
              details={"user_id": user.id, "role": user.role, "via": CLI_ACTOR})
        print(f"user {user.id} created with role {user.role}")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    settings = get_settings()
    password = _password()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        user = security.get_user_by_email(session=session, email=args.email)
        if user is None:
            raise UnknownUser("unknown_user")
        try:
            security.set_password(session=session, user_id=user.id, password=password)
        except InvalidUserInput as exc:
            raise InvalidUserInput(translate("en", str(exc))) from None
        audit(session=session, actor=user, action="user.password_set",
              details={"user_id": user.id, "via": CLI_ACTOR})
        print(f"password of user {user.id} set; their console sessions are closed")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        row, secret = security.create_token(session=session, email=args.email, name=args.name,
                                            days=args.days or settings.token_days)
        owner = security.get_user(session=session, user_id=row.user_id)
        if owner is not None:
            audit(session=session, actor=owner, action="token.created",
                  details={"user_id": owner.id, "token_id": row.id, "name": row.name,
                           "expires_at": security.token_expires_at(row).isoformat()})
        expires = security.token_expires_at(row).isoformat()
    print(secret)
    print(f"token {row.id} ({row.name}): expires {expires}; shown once, store it now",
          file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        rows = [security.token_summary(t, u)
                for t, u in security.list_tokens(session=session, email=args.email)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:>5}  {r['state']:<8} {r['expires_at'][:16]}  {r['email']}  {r['name']}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        row = security.revoke_token(session=session, token_id=args.token_id)
        owner = security.get_user(session=session, user_id=row.user_id)
        if owner is not None:
            audit(session=session, actor=owner, action="token.revoked",
                  details={"user_id": owner.id, "token_id": row.id, "via": CLI_ACTOR})
    print(f"token {args.token_id} revoked")
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
                     insecure_cookies=args.insecure_cookies,
                     trusted_proxies=args.trusted_proxy)
    runtime.tune_gc()  # deep queue pages key thousands of incidents per request
    # uvicorn stops gracefully on SIGTERM, then re-raises the signal to the handler found at
    # start: this one, so a clean stop exits 0 instead of dying of the signal.
    StopSignal().install()
    # `log_config=None`: uvicorn keeps the JSON handler `configure_logging` installed, so its
    # access lines (client addresses) go through the scrubber.
    # The console reads X-Forwarded-For itself, from `--trusted-proxy` peers only.
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False,
                server_header=False, log_level=settings.log_level.lower(), log_config=None)
    return 0
