"""Clean stops for the long-running commands (`tocsin notify`, `tocsin purge --every`).

SIGTERM (what `docker compose stop` sends) and SIGINT only set an event: the work in hand
(one SMTP conversation, one purge transaction) finishes and is recorded, then the loop
returns. No message is left half-sent, so a stop never leaves an outbox row `uncertain`.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class StopSignal:
    """An event set by SIGTERM or SIGINT; loops wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> StopSignal:
        """Handle SIGTERM and SIGINT (main thread only)."""

        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested", extra={"signal": signum})
            self._event.set()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
        return self

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop was requested."""
        return self._event.wait(seconds)
