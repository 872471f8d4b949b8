"""JSON-lines logging (docs/architecture.md §12): `configure_logging(level)` writes one JSON
object a line on stderr, with a scrubbing filter as a safety net."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from tocsin.telemetry.scrub import REDACTED, is_sensitive_key, scrub_text, scrub_value

_RECORD_FIELDS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI copy of its format string
)


class ScrubFilter(logging.Filter):
    """Replaces a record's message (and string extras) by their scrubbed form."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format must not lose the line
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key in _RECORD_FIELDS:
                continue
            if is_sensitive_key(key):
                setattr(record, key, REDACTED)
            elif isinstance(value, str | Mapping | list | tuple):
                setattr(record, key, scrub_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts`, `level`, `logger`, `msg`, extras, `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            payload["exc"] = scrub_text(text)
        return json.dumps(payload, default=_scrubbed_str, ensure_ascii=False)


def _scrubbed_str(value: object) -> str:
    """JSON fallback for extras that are not JSON types (their `str` may hold anything)."""
    return scrub_text(str(value))


_HANDLER_MARK: Final = "_tocsin_json_handler"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted, not when the handler
    was made (a replaced or closed stderr would otherwise break logging)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str, *, stream: Any = None) -> None:
    """Root logging as JSON lines on stderr (or `stream`). Idempotent: calling it again
    replaces the handler it installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("kafka", "urllib3", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's own handlers would bypass the JSON format and the scrubbing (access lines
    # carry client IPs): route them through the root handler (run uvicorn with
    # `log_config=None` so it does not install them again).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True
        server_log.disabled = False  # a dictConfig elsewhere may have disabled it
        server_log.setLevel(logging.NOTSET)
