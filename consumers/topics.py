"""Topic creation (idempotent) for the ingest topics, the DLQ and the repartition topic."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


def ensure_topics(
    *,
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication: int = 1,
    client_options: dict[str, Any] | None = None,
) -> list[str]:
    """Create the topics that do not exist. Returns the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **(client_options or {}))
    try:
        existing = set(admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return []
        with contextlib.suppress(TopicAlreadyExistsError):  # another replica was first
            admin.create_topics(
                [NewTopic(name, partitions, replication) for name in missing],
                validate_only=False,
            )
        log.info("created topics", extra={"topics": missing, "partitions": partitions})
        return missing
    finally:
        admin.close()
