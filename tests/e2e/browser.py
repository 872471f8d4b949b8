"""What the browser tests share: headless Chromium (Playwright driving /usr/bin/chromium), the
console served by uvicorn on loopback, an SMTP server that requires STARTTLS (aiosmtpd, a
certificate from a test CA) and the console's login form."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme
import uvicorn
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from notifiers.outbox import SmtpConfig
from tests.console.support import PASSWORD, email_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Sink:
    """What the SMTP server received: each message's bytes and its envelope recipients."""

    received: list[bytes] = field(default_factory=list)
    rcpt: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(bytes(envelope.original_content or envelope.content))
        self.rcpt.append(list(envelope.rcpt_tos))
        return "250 2.0.0 queued"


@contextmanager
def smtp_server(sender: str) -> Iterator[tuple[Sink, SmtpConfig]]:
    """An SMTP server on loopback requiring STARTTLS, and the configuration that sends to it
    as `sender`, trusting its test CA."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    sink = Sink()
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True
    )
    controller.start()
    try:
        yield (
            sink,
            SmtpConfig(
                host="127.0.0.1",
                port=port,
                security="starttls",
                from_address=sender,
                ssl_context=client_ctx,
                timeout=10,
            ),
        )
    finally:
        controller.stop()


@contextmanager
def serving(app: Any, factory: sessionmaker[Session]) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port until the block ends (its base URL);
    then the engine of `factory` is disposed."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        factory.kw["bind"].dispose()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium, closed when the block ends."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, base: str, role: str = "rssi") -> None:
    """Sign in through the login form as the console's `role` user; the queue opens."""
    page.goto(base + "/login")
    page.get_by_label("Adresse e-mail").fill(email_for(role))
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(base + "/queue")
