"""A process asked to stop finishes the message in hand and claims no other: the rest stay
`pending` (sent by the next run), none is left `sending`, so none becomes `uncertain`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifiers.models import OutboxMessage
from notifiers.outbox import deliver_due
from tests.notifiers.builders import NOW, THREE, approve, build_incident, drafts
from tests.notifiers.conftest import SmtpServer


def _approve_all(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session, session.begin():
        notices = drafts(session, build_incident(session, tenants=list(THREE)).incident)
        return [approve(session, notice).id for notice in notices]


def _states(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return sorted(str(s) for s in session.scalars(select(OutboxMessage.state)))


def test_stop_finishes_the_message_in_hand_and_claims_no_other(
    factory: sessionmaker[Session], smtp_starttls: SmtpServer
) -> None:
    ids = _approve_all(factory)
    assert len(ids) == 3
    asked: list[int] = []

    def stop() -> bool:  # the stop request arrives while the first message is being sent
        asked.append(len(smtp_starttls.handler.received))
        return len(asked) > 1

    report = deliver_due(
        session_factory=factory,
        smtp=smtp_starttls.config(),
        now=NOW + timedelta(minutes=1),
        stop=stop,
    )
    assert report.sent == 1 and report.uncertain == 0
    assert len(smtp_starttls.handler.received) == 1
    assert _states(factory) == ["pending", "pending", "sent"]

    # the next run (after the restart) sends the rest, once each
    report = deliver_due(
        session_factory=factory, smtp=smtp_starttls.config(), now=NOW + timedelta(minutes=2)
    )
    assert report.sent == 2
    assert _states(factory) == ["sent", "sent", "sent"]
    assert len(smtp_starttls.handler.received) == 3
