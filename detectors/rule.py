"""The base of every rule kind: common configuration, grouping, dedup periods, findings.

A rule kind is a subclass of `Rule` with `kind: ClassVar[str]`, its own pydantic `Config`
(extra keys forbidden, so a typo is a load error), and `evaluate(event, t, state)`, which
updates `state` and marks the findings it opened or updated as dirty. The engine turns dirty
findings into `Finding` objects once per `process` call.

Dedup periods: a rule opens at most one finding per group key per `dedup` period. The period
starts at the first event of the window that fired (never before the end of the key's
previous period) and `finding_id = finding_id(rule_id, group_key, period start)`. While the
period lasts, every further matching event of the key updates that finding instead of feeding
the rule's windows; after it, the rule must fire afresh.
"""

from __future__ import annotations

import re
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from typing_extensions import TypeVar

from consumers.conventions import DEFAULT_TIMEZONE, Stream
from consumers.events import AccessEvent, AuthEvent, DataCategory, Event
from detectors.errors import FilterError
from detectors.filters import Node, Predicate, check_field, compile_node, getter, predicate
from detectors.finding import Finding, Nature, Severity, TenantImpact, finding_id
from detectors.state import Agg, Clock, RuleState, categories_of, mask_of

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """`90`, `"90s"`, `"5m"`, `"5 min"`, `"1h"`, `"14d"`, `"2w"` → timedelta (> 0)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration such as 5m, 1h or 14d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if m is None:
            raise ValueError(f"{value!r} is not a duration such as 5m, 1h or 14d")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"

STREAM_MODELS: dict[str, type[AuthEvent] | type[AccessEvent]] = {
    "auth": AuthEvent,
    "access": AccessEvent,
}

# placeholders every summary template may use; kinds add their own
SUMMARY_FIELDS = frozenset(
    {
        "rule_id", "count", "actor", "actors", "tenant", "tenants", "records", "subjects",
        "window", "dedup", "first_seen", "last_seen", "categories",
    }
)  # fmt: skip


_KEY_FUNCTIONS: dict[tuple[str, ...], Callable[[Event], str]] = {}


def _shared_key_function(paths: tuple[str, ...]) -> Callable[[Event], str]:
    """One key function per `group_by`, shared by the rules that use it, remembering the last
    event's key: most rules group by (tenant, actor), so the key is built once per event.
    The memo is one tuple, read and replaced atomically (safe if detectors share rules)."""
    func = _KEY_FUNCTIONS.get(paths)
    if func is not None:
        return func
    if len(paths) == 1:
        one = attrgetter(paths[0])

        def build(ev: Event) -> str:
            return str(one(ev))
    else:
        many = attrgetter(*paths)

        def build(ev: Event) -> str:
            return "|".join(map(str, many(ev)))

    memo: list[tuple[Event | None, str]] = [(None, "")]

    def key(ev: Event) -> str:
        last = memo[0]
        if last[0] is ev:
            return last[1]
        value = build(ev)
        memo[0] = (ev, value)
        return value

    _KEY_FUNCTIONS[paths] = key
    return key


class RuleConfig(BaseModel):
    """Keys common to every rule. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID)]
    kind: str
    enabled: bool = True
    description: str = ""
    stream: Stream
    partition: Literal["tenant", "source_ip"] = "tenant"
    severity: Severity
    nature: Annotated[frozenset[Nature], Field(min_length=1)]
    summary: Annotated[str, Field(min_length=1, max_length=300)]
    filter: Any = None
    group_by: Annotated[list[str], Field(min_length=1)] | None = None
    dedup: Duration = timedelta(hours=1)
    data_categories: frozenset[DataCategory] = frozenset()


ConfigT = TypeVar("ConfigT", bound=RuleConfig, covariant=True, default=RuleConfig)
"""The configuration model of a kind. Covariant, and `RuleConfig` by default, so a plain
`Rule` is any configured rule whatever its kind."""


class Rule(ABC, Generic[ConfigT]):
    """A configured rule. Subclasses: one per kind, registered in `detectors.kinds`, each
    naming its configuration model twice: `Rule[XConfig]` for the type checker, and
    `Config = XConfig` for validation at load."""

    kind: ClassVar[str]
    Config: ClassVar[type[RuleConfig]] = RuleConfig
    extra_summary_fields: ClassVar[frozenset[str]] = frozenset()
    # how far back (seconds) a new event can still combine with remembered ones
    horizon: float = 0.0

    def __init__(self, config: ConfigT, *, timezone: str, parameters: Mapping[str, Any]) -> None:
        self.config: ConfigT = config
        self.id = config.id
        self.stream = config.stream
        self.partition = config.partition
        self.model = STREAM_MODELS[config.stream]
        self.timezone = timezone
        self.parameters = parameters
        self.dedup = config.dedup.total_seconds()
        self.dedup_delta = config.dedup
        self.severity = config.severity
        self.nature = config.nature
        self.extra_cats = mask_of(config.data_categories)
        self.match_node: Node = self.compile_node(config.filter, "filter")
        self.match: Predicate = predicate(self.match_node)
        self.group_by = self._group_by(config)
        self.key: Callable[[Event], str] = self._key_function(self.group_by)
        self._check_summary(config.summary)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        raw: Mapping[str, Any],
        *,
        timezone: str = DEFAULT_TIMEZONE,
        parameters: Mapping[str, Any] | None = None,
    ) -> Self:
        """Validate one rule mapping. Raises pydantic `ValidationError` or `FilterError`
        (the catalogue loader turns both into `RuleConfigError` with file and rule id)."""
        config = cls.Config.model_validate(dict(raw))
        if config.kind != cls.kind:
            raise FilterError("kind", f"{config.kind!r} given to the {cls.kind!r} kind")
        # `Config` is the kind's own model (a class variable cannot name `ConfigT`)
        return cls(cast(ConfigT, config), timezone=timezone, parameters=parameters or {})

    def compile_node(self, spec: Any, where: str) -> Node:
        return compile_node(
            spec,
            model=self.model,
            where=where,
            timezone=self.timezone,
            parameters=self.parameters,
        )

    def compile(self, spec: Any, where: str) -> Predicate:
        return predicate(self.compile_node(spec, where))

    def field(self, path: str, where: str) -> Callable[[Any], Any]:
        check_field(self.model, path, where)
        return getter(path)

    def _group_by(self, config: RuleConfig) -> list[str]:
        default = ["source_ip"] if config.partition == "source_ip" else ["tenant_id", "actor.id"]
        group_by = list(config.group_by or default)
        for i, path in enumerate(group_by):
            check_field(self.model, path, f"group_by[{i}]")
        needed = "source_ip" if config.partition == "source_ip" else "tenant_id"
        if needed not in group_by:
            raise FilterError(
                "group_by",
                f"a rule partitioned by {config.partition} must group by {needed} "
                "(all events of a group must meet in one partition)",
            )
        return group_by

    @staticmethod
    def _key_function(paths: list[str]) -> Callable[[Event], str]:
        return _shared_key_function(tuple(paths))

    def _check_summary(self, template: str) -> None:
        allowed = SUMMARY_FIELDS | self.extra_summary_fields
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise FilterError("summary", f"bad template: {exc}") from None
        for name in names:
            if name not in allowed:
                raise FilterError(
                    "summary",
                    f"unknown placeholder {{{name}}} (allowed: {', '.join(sorted(allowed))})",
                )

    # -- evaluation ---------------------------------------------------------------------

    def new_state(self, clock: Clock) -> RuleState:
        return RuleState(clock)

    def wants(self, event: Event) -> bool:
        """Could `event` matter to this rule? (Used to select events to repartition.)"""
        return self.match(event)

    @abstractmethod
    def evaluate(self, event: Event, t: float, state: RuleState) -> None:
        """Process one non-late event at event time `t` that passed `self.match` (the engine
        tests the filter first); mark the findings it opens or updates dirty."""

    def covering(self, state: RuleState, key: str, t: float) -> Agg | None:
        """The key's finding whose dedup period covers time `t` (or earlier), if any."""
        agg = state.open.get(key)
        if agg is not None and t < agg.end:
            return agg
        return None

    def open_finding(self, state: RuleState, key: str, start_dt: datetime) -> Agg:
        """Open a new finding for `key`; its period never overlaps the key's previous one."""
        prev = state.open.get(key)
        if prev is not None and start_dt.timestamp() < prev.end:
            start_dt = prev.start_dt + self.dedup_delta
        agg = Agg(finding_id(self.id, key, start_dt), key, start_dt, 0.0)
        agg.end = agg.start + self.dedup
        state.open[key] = agg
        state.open.move_to_end(key)
        state.dirty[agg.fid] = agg
        return agg

    def update(self, state: RuleState, agg: Agg, event: Event, t: float) -> None:
        agg.add(event, t)
        state.dirty[agg.fid] = agg

    def sweep(self, state: RuleState) -> None:
        """Forget what the watermark has made useless. Default: old findings only."""
        cutoff = state.clock.watermark - self.horizon
        opened = state.open
        while opened:
            key, agg = next(iter(opened.items()))
            if agg.end > cutoff:
                break
            del opened[key]

    def live_keys(self, state: RuleState) -> int:
        return len(state.keys)

    # -- snapshot -----------------------------------------------------------------------

    def dump_keys(self, state: RuleState, events: dict[str, Event]) -> Any:
        """JSON-able per-key state. Events still referenced go into `events` by id."""
        return None

    def load_keys(self, state: RuleState, data: Any, events: Mapping[str, Event]) -> None:
        return None

    # -- output -------------------------------------------------------------------------

    def summary_context(self, agg: Agg) -> dict[str, Any]:
        return {}

    def to_finding(self, agg: Agg) -> Finding:
        tenants = {
            t: TenantImpact(events=v[0], records=v[1], subjects=v[2])
            for t, v in sorted(agg.tenants.items())
        }
        # tenant ids cannot contain "|": when the key starts with the tenant, this is exact
        tenant_of_key = agg.key.split("|", 1)[0] if self.group_by[0] == "tenant_id" else ""
        actors = list(agg.actors)
        ctx: dict[str, Any] = {
            "rule_id": self.id,
            "count": agg.count,
            "actor": actors[0] if len(actors) == 1 else f"{len(actors)} accounts",
            "actors": len(actors),
            "tenant": tenant_of_key or (next(iter(tenants)) if len(tenants) == 1 else "several"),
            "tenants": len(tenants),
            "records": agg.records,
            "subjects": agg.subjects,
            "window": human(timedelta(seconds=self.horizon)) if self.horizon else "",
            "dedup": human(self.dedup_delta),
            "first_seen": agg.first_dt.strftime("%Y-%m-%d %H:%M UTC"),
            "last_seen": agg.last_dt.strftime("%Y-%m-%d %H:%M UTC"),
            "categories": ", ".join(sorted(categories_of(agg.cats | self.extra_cats))) or "none",
        }
        ctx.update(self.summary_context(agg))
        summary = " ".join(self.config.summary.format_map(ctx).split())
        return Finding(
            finding_id=agg.fid,
            rule_id=self.id,
            severity=self.severity,
            nature=self.nature,
            tenant_ids=tuple(tenants),
            tenants=tenants,
            group_key=agg.key,
            actor_ids=tuple(sorted(agg.actors)),
            source_ips=tuple(sorted(agg.ips)),
            data_categories=categories_of(agg.cats | self.extra_cats),
            records=agg.records,
            subjects=agg.subjects,
            count=max(agg.count, 1),
            first_seen=agg.first_dt,
            last_seen=agg.last_dt,
            evidence=agg.evidence_ids(),
            summary=summary[:300],
        )


def config_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field path, message) of each pydantic error, for `RuleConfigError`."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<rule>"
        out.append((loc, err["msg"]))
    return out
