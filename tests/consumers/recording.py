"""A durable test handler for the consumer loop: it records every processed event id and the
offsets it covers in one SQLite transaction per batch, like the real pipeline does with its
checkpoints. Runnable as a worker process: `python -m tests.consumers.recording ...`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from kafka.structs import TopicPartition

from consumers.events import AccessEvent, AuthEvent
from consumers.loop import Batch, ConsumerLoop, LoopConfig


class RecordingHandler:
    def __init__(self, db: Path, *, delay: float = 0.0) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS processed(event_id TEXT, topic TEXT, part INT, off INT)"
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS offsets(topic TEXT, part INT, next INT, "
            "PRIMARY KEY (topic, part))"
        )
        self.delay = delay
        self.assignments: list[list[TopicPartition]] = []

    def assigned(
        self, partitions: Sequence[TopicPartition], *, log_ids: Mapping[str, str] | None = None
    ) -> Mapping[TopicPartition, int]:
        self.assignments.append(list(partitions))
        out = {}
        for tp in partitions:
            row = self.conn.execute(
                "SELECT next FROM offsets WHERE topic=? AND part=?", (tp.topic, tp.partition)
            ).fetchone()
            if row:
                out[tp] = int(row[0])
        return out

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        pass

    def handle(self, batch: Batch) -> Mapping[TopicPartition, int]:
        import time

        if self.delay:
            time.sleep(self.delay)
        self.conn.execute("BEGIN IMMEDIATE")
        for tp, records in batch.records.items():
            self.conn.executemany(
                "INSERT INTO processed VALUES (?,?,?,?)",
                [(str(r.event.event_id), tp.topic, tp.partition, r.offset) for r in records],
            )
        for tp, nxt in batch.next_offsets.items():
            self.conn.execute(
                "INSERT INTO offsets VALUES (?,?,?) ON CONFLICT(topic, part) "
                "DO UPDATE SET next=excluded.next",
                (tp.topic, tp.partition, nxt),
            )
        self.conn.execute("COMMIT")
        return dict(batch.next_offsets)

    def idle(self) -> Mapping[TopicPartition, int]:
        return {}

    def flush(self) -> Mapping[TopicPartition, int]:
        return {}

    def rollback(self) -> Mapping[TopicPartition, int]:
        out = {}
        for topic, part, nxt in self.conn.execute("SELECT topic, part, next FROM offsets"):
            out[TopicPartition(topic, part)] = int(nxt)
        return out

    def processed(self) -> list[tuple[str, str, int, int]]:
        return list(self.conn.execute("SELECT event_id, topic, part, off FROM processed"))


def make_loop(
    bootstrap: str,
    group: str,
    auth: str,
    access: str,
    dlq: str,
    handler: RecordingHandler,
    max_records: int = 500,
) -> ConsumerLoop:
    config = LoopConfig(
        bootstrap=bootstrap,
        group=group,
        topics={auth: AuthEvent, access: AccessEvent},
        dlq_topic=dlq,
        max_records=max_records,
        poll_timeout_ms=200,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    return ConsumerLoop(config, handler)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    for name in ("bootstrap", "group", "auth", "access", "dlq", "db"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--max-idle", type=float, default=None)
    p.add_argument("--max-records", type=int, default=500)
    a = p.parse_args(argv)
    handler = RecordingHandler(Path(a.db), delay=a.delay)
    loop = make_loop(a.bootstrap, a.group, a.auth, a.access, a.dlq, handler, a.max_records)
    loop.install_signal_handlers()
    loop.run(max_idle=a.max_idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
