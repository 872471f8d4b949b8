"""The simulator's output: `SimEvent`, the JSONL files it writes and reads back, and its errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from consumers.conventions import Stream
from consumers.errors import Invalid


class SimulatorError(Invalid):
    """A simulator request that cannot be honoured."""


class UnknownAttack(SimulatorError):
    """An attack name that is not in `ATTACKS`."""


# --------------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True)
class SimEvent:
    stream: Stream
    key: str  # tenant_id (Kafka key)
    value: dict[str, Any]  # JSON-ready event per the contract
    label: str | None  # attack scenario name, None for normal traffic
    attack_id: str | None = None  # one injected attack instance ("name#n"), None when normal

    @property
    def event_id(self) -> str:
        return str(self.value["event_id"])

    def to_json(self) -> str:
        """One canonical JSON line (sorted keys, no spaces): byte-identical for a seed."""
        obj = {
            "stream": self.stream,
            "key": self.key,
            "label": self.label,
            "attack_id": self.attack_id,
            "value": self.value,
        }
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_jsonl(events: Iterable[SimEvent], fp: IO[str]) -> int:
    """Write one JSON object per line (`stream`, `key`, `label`, `attack_id`, `value`)."""
    n = 0
    for ev in events:
        fp.write(ev.to_json())
        fp.write("\n")
        n += 1
    return n


def read_jsonl(fp: IO[str]) -> Iterator[SimEvent]:
    """Read back what `write_jsonl` wrote."""
    for line in fp:
        if not line.strip():
            continue
        obj = json.loads(line)
        stream = obj["stream"]
        if stream not in ("auth", "access"):
            raise SimulatorError(f"unknown stream {stream!r} in JSONL input")
        yield SimEvent(
            stream=stream,
            key=str(obj["key"]),
            value=dict(obj["value"]),
            label=obj.get("label"),
            attack_id=obj.get("attack_id"),
        )
