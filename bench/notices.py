"""Notices: cost of `draft_notices` (first draft, unchanged re-draft — the pipeline's common
case) and SMTP outbox throughput to a local STARTTLS server (aiosmtpd + trustme).

    .venv/bin/python -m bench.notices
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller

from incidents.db import make_engine, session_factory
from notifiers import service
from notifiers.flows import draft_notices
from notifiers.outbox import SmtpConfig, deliver_due
from notifiers.schemas import DraftPolicy
from tests.notifiers.builders import build_incident
from tocsin.dbschema import upgrade


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    factory = session_factory(make_engine(url))
    now = datetime.now(UTC)
    n = 50
    ids = []
    with factory() as session, session.begin():
        incidents = [build_incident(session).incident for _ in range(n)]
        t0 = time.perf_counter()
        for inc in incidents:
            draft_notices(session=session, incident=inc, now=now, policy=DraftPolicy())
        first = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for inc in incidents:
            draft_notices(
                session=session, incident=inc, now=now + timedelta(minutes=1), policy=DraftPolicy()
            )
        again = (time.perf_counter() - t0) / n
        for inc in incidents:
            for notice in service.list_notices(session=session, incident_id=inc.id):
                service.approve(
                    session=session,
                    notice=notice,
                    user_email="rssi@avmup.com",
                    user_role="rssi",
                    edits=None,
                    reasons_for_delay=None,
                    now=now,
                )
                ids.append(notice.id)
    print(f"draft_notices, 3 customers, first draft:     {first * 1000:7.1f} ms/incident")
    print(f"draft_notices, 3 customers, nothing changed: {again * 1000:7.1f} ms/incident")

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = _Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True
    )
    controller.start()
    try:
        cfg = SmtpConfig(
            host="127.0.0.1",
            port=port,
            security="starttls",
            from_address="securite@avmup.com",
            ssl_context=client_ctx,
        )
        t0 = time.perf_counter()
        report = deliver_due(session_factory=factory, smtp=cfg, now=now, limit=len(ids))
        took = time.perf_counter() - t0
    finally:
        controller.stop()
    print(
        f"outbox STARTTLS delivery: {report.sent} notices in {took:.2f} s "
        f"({report.sent / took:.0f}/s, one connection), sink received {sink.count}"
    )


if __name__ == "__main__":
    main()
