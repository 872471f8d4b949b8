"""Background work of the ingest process: legal clocks and the notice outbox.

Runs in a thread beside the consumer loop so a slow SMTP server never delays detection.
Each tick is its own transaction; escalations are recorded once (unique per incident, clock
and threshold) so restarts and several replicas never fire one twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from incidents import clocks
from notifiers import outbox
from tocsin.flows import clock_policy
from tocsin.settings import Settings

log = logging.getLogger(__name__)


def smtp_config(settings: Settings) -> outbox.SmtpConfig | None:
    return outbox.SmtpConfig.from_settings(settings)


def run_once(
    settings: Settings, factory: sessionmaker[Session], stop: Callable[[], bool] | None = None
) -> None:
    """One tick: fire due escalations, then deliver what the outbox holds (up to `stop`)."""
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        fired = clocks.tick(session=session, now=now, policy=clock_policy(settings))
    if fired:
        log.info("escalations fired", extra={"count": len(fired)})
    smtp = smtp_config(settings)
    if smtp is not None:
        outbox.deliver_due(session_factory=factory, smtp=smtp, now=datetime.now(UTC), stop=stop)


class Housekeeper:
    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tocsin-housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the message in hand (bounded by the SMTP timeout), claim no other."""
        self._stop.set()
        self._thread.join(timeout=45)

    def _run(self) -> None:
        interval = self.settings.clocks.tick_seconds
        while not self._stop.is_set():
            try:
                run_once(self.settings, self.factory, stop=self._stop.is_set)
            except Exception:
                log.exception("housekeeping tick failed; retrying next tick")
            self._stop.wait(interval)
