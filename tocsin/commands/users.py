"""`tocsin user add/password`, `tocsin token create/list/revoke`: console users and API tokens
(the `accounts` package), audited."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from accounts import tokens, users
from accounts.audit import audit
from accounts.errors import InvalidUserInput, UnknownUser
from accounts.messages import in_english
from accounts.roles import Role
from consumers.errors import ConfigError
from incidents.db import make_engine, session_factory, transaction
from tocsin.commands import Subcommands
from tocsin.settings import get_settings

CLI_ACTOR = "cli"


def register(sub: Subcommands) -> None:
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
        "password",
        help="set a user's password (TOCSIN_PASSWORD or a prompt); ends their console sessions",
    )
    reset.add_argument("email")
    reset.set_defaults(func=cmd_user_password)

    token = sub.add_parser("token", help="API bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token (printed once)")
    create.add_argument("email")
    create.add_argument("--name", default="cli")
    create.add_argument(
        "--days", type=int, default=None, help="validity in days (default TOCSIN_TOKEN_DAYS, 90)"
    )
    create.set_defaults(func=cmd_token_create)
    listing = token_sub.add_parser("list", help="tokens: owner, name, state, expiry")
    listing.add_argument("--email", default=None, help="only this user's tokens")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)


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
            user = users.create_user(
                session=session, email=args.email, password=password, role=args.role, lang=args.lang
            )
        except InvalidUserInput as exc:  # the message key, in words
            raise InvalidUserInput(in_english(str(exc))) from None
        audit(
            session=session,
            actor=user,
            action="user.created",
            details={"user_id": user.id, "role": user.role, "via": CLI_ACTOR},
        )
        print(f"user {user.id} created with role {user.role}")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    settings = get_settings()
    password = _password()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        user = users.get_user_by_email(session=session, email=args.email)
        if user is None:
            raise UnknownUser("unknown_user")
        try:
            users.set_password(session=session, user_id=user.id, password=password)
        except InvalidUserInput as exc:
            raise InvalidUserInput(in_english(str(exc))) from None
        audit(
            session=session,
            actor=user,
            action="user.password_set",
            details={"user_id": user.id, "via": CLI_ACTOR},
        )
        print(f"password of user {user.id} set; their console sessions are closed")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        row, secret = tokens.create_token(
            session=session, email=args.email, name=args.name, days=args.days or settings.token_days
        )
        owner = users.get_user(session=session, user_id=row.user_id)
        if owner is not None:
            audit(
                session=session,
                actor=owner,
                action="token.created",
                details={
                    "user_id": owner.id,
                    "token_id": row.id,
                    "name": row.name,
                    "expires_at": tokens.token_expires_at(row).isoformat(),
                },
            )
        expires = tokens.token_expires_at(row).isoformat()
    print(secret)
    print(
        f"token {row.id} ({row.name}): expires {expires}; shown once, store it now", file=sys.stderr
    )
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    settings = get_settings()
    factory = session_factory(make_engine(settings.database_url))
    with transaction(factory) as session:
        rows = [
            tokens.token_summary(t, u)
            for t, u in tokens.list_tokens(session=session, email=args.email)
        ]
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
        row = tokens.revoke_token(session=session, token_id=args.token_id)
        owner = users.get_user(session=session, user_id=row.user_id)
        if owner is not None:
            audit(
                session=session,
                actor=owner,
                action="token.revoked",
                details={"user_id": owner.id, "token_id": row.id, "via": CLI_ACTOR},
            )
    print(f"token {args.token_id} revoked")
    return 0
