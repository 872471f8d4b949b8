"""Fixtures for notifier tests: a real SMTP server on loopback (aiosmtpd) with a test CA
(trustme), STARTTLS required or implicit TLS, and migrated databases on both backends."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from incidents.db import make_engine, session_factory
from notifiers.outbox import SmtpConfig

SENDER = "Tocsin AVM Up <securite@avmup.com>"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SinkHandler:
    """Records every message accepted; `fail_next` makes the next DATA answer a 4xx."""

    received: list[Received] = field(default_factory=list)
    fail_next: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 try again later"
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 2.0.0 queued"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: SinkHandler
    client_context: ssl.SSLContext
    ca_file: Path

    def config(self, security: str = "starttls", **kwargs: Any) -> SmtpConfig:
        return SmtpConfig(
            host=self.host,
            port=self.port,
            security=security,  # type: ignore[arg-type]
            from_address=SENDER,
            ssl_context=self.client_context,
            timeout=10,
            **kwargs,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def _server(test_ca: tuple[trustme.CA, Path], mode: str) -> Iterator[SmtpServer]:
    ca, ca_file = test_ca
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    handler = SinkHandler()
    port = _free_port()
    kwargs: dict[str, Any] = {}
    if mode == "starttls":
        kwargs = {"tls_context": server_ctx, "require_starttls": True}
    elif mode == "smtps":
        kwargs = {"ssl_context": server_ctx}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler, client_ctx, ca_file)
    finally:
        controller.stop()


@pytest.fixture
def smtp_starttls(test_ca: tuple[trustme.CA, Path]) -> Iterator[SmtpServer]:
    yield from _server(test_ca, "starttls")


@pytest.fixture
def smtp_smtps(test_ca: tuple[trustme.CA, Path]) -> Iterator[SmtpServer]:
    yield from _server(test_ca, "smtps")


@pytest.fixture
def smtp_plain(test_ca: tuple[trustme.CA, Path]) -> Iterator[SmtpServer]:
    """A server that offers no STARTTLS at all."""
    yield from _server(test_ca, "plain")


@pytest.fixture
def factory(fresh_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(fresh_db_url)
    yield session_factory(engine)
    engine.dispose()
