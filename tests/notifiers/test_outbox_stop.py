"""A process asked to stop finishes the message in hand and claims no other: the rest stay
`pending` (sent by the next run), none is left `sending`, so none becomes `uncertain`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notifiers import service
from notifiers.flows import draft_notices
from notifiers.models import OutboxMessage
from notifiers.outbox import deliver_due
from tests.notifiers.builders import POLICY, T0, THREE, build_incident
from tests.notifiers.conftest import SmtpServer

NOW = T0 + timedelta(hours=3)


def _approve_all(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session, session.begin():
        built = build_incident(session, tenants=list(THREE))
        notices = draft_notices(session=session, incident=built.incident, now=NOW, policy=POLICY)
        for notice in notices:
            service.approve(
                session=session,
                notice=notice,
                user_email="rssi@avmup.com",
                user_role="rssi",
                edits=None,
                reasons_for_delay=None,
                now=NOW,
            )
        return [n.id for n in notices]


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
