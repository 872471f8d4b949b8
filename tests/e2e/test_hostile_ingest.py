"""Hostile records between valid events, through the real broker and `tocsin ingest`: each
lands in the DLQ with its reason, ingest never fails, and the brute force that surrounds
them is still found, for the tenant they target and for a tenant sharing the partition."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import select

from consumers.events import MAX_COUNT
from incidents.db import make_engine, session_factory
from incidents.findings_store import FindingRow
from incidents.models import IncidentTenant
from tests.e2e.harness import Env, make_env, produce, run_ingest, simulated
from tocsin import runtime
from tocsin.dev.broker import EmbeddedBroker
from tocsin.settings import load_settings

pytestmark = pytest.mark.timeout(600)

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(minutes=40)


def _envelope(
    service: str, tenant: str, actor: str, at: datetime, source_ip: str, interface: str
) -> dict[str, Any]:
    """What every event says of itself: a fresh id, when, where and who (a customer's user
    in France, over TLS)."""
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": at.isoformat(),
        "service": service,
        "tenant_id": tenant,
        "actor": {"id": actor, "kind": "customer_user"},
        "source_ip": source_ip,
        "country": "FR",
        "interface": interface,
        "tls": True,
    }


def _auth(
    tenant: str, actor: str, at: datetime, action: str = "login_failure", **over: Any
) -> dict[str, Any]:
    ev = _envelope("faxbis", tenant, actor, at, "90.84.12.7", "web")
    ev["action"] = action
    if action == "login_failure":
        ev["failure_reason"] = "bad_password"
    ev.update(over)
    return ev


def _access(tenant: str, actor: str, at: datetime, **over: Any) -> dict[str, Any]:
    ev = {
        **_envelope("smsbis", tenant, actor, at, "90.84.12.9", "api"),
        "operation": "read",
        "resource": {"type": "contact", "tenant_id": tenant},
        "data_categories": ["identification"],
        "records": 3,
        "outcome": "allowed",
    }
    ev.update(over)
    return ev


def _raw(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev, separators=(",", ":")).encode()


def _brute_force(tenant: str, actor: str, start: datetime) -> list[dict[str, Any]]:
    return [_auth(tenant, actor, start + timedelta(seconds=5 * i)) for i in range(24)]


def _send(env: Env, messages: list[tuple[str, bytes | None, bytes]]) -> list[str]:
    """Produce in order; returns where each message landed (`topic/partition/offset`)."""
    producer = Producer(
        {"bootstrap.servers": env.broker.bootstrap, "linger.ms": 5, "message.max.bytes": 20_000_000}
    )
    landed = [""] * len(messages)

    def report(i: int) -> Any:
        def done(err: Any, msg: Any) -> None:
            assert err is None, err
            landed[i] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}"

        return done

    for i, (stream, key, value) in enumerate(messages):
        producer.produce(env.topics[stream], key=key, value=value, on_delivery=report(i))
        producer.flush(60)  # one at a time: the order below is the log's order
    return landed


def _dlq(env: Env, expected: int) -> dict[str, tuple[str, dict[str, bytes], int]]:
    """DLQ messages by `tocsin-source`: (reason, headers, value size)."""
    consumer = Consumer(
        {
            "bootstrap.servers": env.broker.bootstrap,
            "group.id": f"dlq-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.message.max.bytes": 20_000_000,
        }
    )
    consumer.subscribe([env.topics["dlq"]])
    got: dict[str, tuple[str, dict[str, bytes], int]] = {}
    try:
        for _ in range(240):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                headers = dict(msg.headers() or [])
                reason = headers["tocsin-error"].decode().split(":", 1)[0]
                got[headers["tocsin-source"].decode()] = (reason, headers, len(msg.value()))
            elif len(got) >= expected:
                break
    finally:
        consumer.close()
    return got


def _summary(stderr: str) -> dict[str, Any]:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("{") and '"failures"' in ln]
    return json.loads(lines[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_hostile_records_go_to_the_dlq_and_the_brute_force_is_still_found(
    broker: EmbeddedBroker, fresh_db_url: str
) -> None:
    env = make_env(broker, fresh_db_url, partitions=1)  # every tenant shares the partition
    victim, control, bulk = "victim-co", "control-co", "bulk-co"
    far_future = _auth(
        victim, "v-1", NOW, action="login_success", occurred_at="9999-12-31T00:00:00+00:00"
    )
    hostile: dict[str, tuple[str, bytes | None, bytes]] = {
        "schema": (
            "auth",
            victim.encode(),
            _raw(_auth(victim, "v-1", START, occurred_at="9999-12-31T23:59:59-14:00")),
        ),
        "too_large": (
            "auth",
            victim.encode(),
            b'{"tenant_id": "victim-co", "pad": "' + b"x" * 2_000_000 + b'"}',
        ),
        "future": ("auth", victim.encode(), _raw(far_future)),
        "too_old": ("auth", victim.encode(), _raw(_auth(victim, "v-1", NOW - timedelta(days=400)))),
        "records": ("access", victim.encode(), _raw(_access(victim, "v-2", START, records=2**63))),
        "subjects": (
            "access",
            victim.encode(),
            _raw(_access(victim, "v-2", START, subjects=MAX_COUNT + 1)),
        ),
    }
    reasons = {
        "schema": "schema",
        "too_large": "too_large",
        "future": "future",
        "too_old": "too_old",
        "records": "schema",
        "subjects": "schema",
    }
    quiet = [
        _auth(t, "u-ok", START + timedelta(seconds=i), action="login_success")
        for i, t in enumerate([victim, control, bulk] * 3)
    ]
    # the largest counts the contract allows, three times: sums beyond 32 bits
    big = [
        _access(
            bulk,
            "b-1",
            START + timedelta(minutes=1, seconds=i),
            tls=False,
            records=MAX_COUNT,
            subjects=MAX_COUNT,
        )
        for i in range(3)
    ]
    victims = _brute_force(victim, "v-1", START + timedelta(minutes=2))
    controls = _brute_force(control, "c-1", START + timedelta(minutes=2, seconds=2))
    # an account name typed with a NUL character (PostgreSQL stores no NUL in text)
    named = "named-co"
    nul = _brute_force(named, "adm\u0000in", START + timedelta(minutes=3))
    messages: list[tuple[str, bytes | None, bytes]] = []
    messages += [("auth", ev["tenant_id"].encode(), _raw(ev)) for ev in quiet]
    hostile_at = {}
    for name, message in hostile.items():  # each between valid events
        hostile_at[name] = len(messages)
        messages.append(message)
        messages += [("auth", ev["tenant_id"].encode(), _raw(ev)) for ev in victims[:1]]
        victims = victims[1:]
    messages += [("access", bulk.encode(), _raw(ev)) for ev in big]
    for v, c in zip(victims, controls, strict=False):
        messages += [("auth", victim.encode(), _raw(v)), ("auth", control.encode(), _raw(c))]
    messages += [("auth", control.encode(), _raw(c)) for c in controls[len(victims) :]]
    messages += [("auth", named.encode(), _raw(ev)) for ev in nul]
    # a Kafka key that is not the tenant: counted, ignored
    messages.append(
        ("auth", b"not-the-tenant", _raw(_auth(victim, "v-9", START, action="login_success")))
    )
    landed = _send(env, messages)

    result = run_ingest(
        env, extra_env={"TOCSIN_MAX_EVENT_AGE_DAYS": "180", "TOCSIN_MAX_FUTURE_SECONDS": "300"}
    )
    summary = _summary(result.stderr)
    assert summary["failures"] == 0, result.stderr[-3000:]
    assert summary["invalid"] == len(hostile)
    assert summary["isolated"] == 0

    dead = _dlq(env, len(hostile))
    assert {src: d[0] for src, d in dead.items()} == {
        landed[hostile_at[name]]: reason for name, reason in reasons.items()
    }
    _, headers, size = dead[landed[hostile_at["too_large"]]]
    assert headers["tocsin-truncated"] == b"value"
    assert int(headers["tocsin-original-size"]) > 2_000_000
    assert size < 1024 * 1024

    engine = make_engine(fresh_db_url)
    with session_factory(engine)() as session:
        findings = session.scalars(select(FindingRow)).all()
        brute = {t for f in findings if f.rule_id == "AUTH-001" for t in f.tenant_ids}
        assert brute == {victim, control, named}  # the future event blinded nobody
        (typed,) = [f for f in findings if f.rule_id == "AUTH-001" and f.tenant_ids == [named]]
        assert typed.actor_ids == ["adm\ufffdin"]
        hostile_ids = {far_future["event_id"]}
        assert not any(hostile_ids & set(f.evidence) for f in findings)
        (plain,) = [f for f in findings if f.rule_id == "ACC-008"]
        assert plain.records == 3 * MAX_COUNT and plain.subjects == 3 * MAX_COUNT
        stored = session.scalars(
            select(IncidentTenant).where(IncidentTenant.tenant_id == bulk)
        ).all()
        # (an incident adds up the findings of its rules: at least the sum above)
        assert stored and all(t.records >= 3 * MAX_COUNT > 2**32 for t in stored)
    engine.dispose()


def _in_process(env: Env, db_url: str) -> tuple[Any, Any, Any, Any]:
    """`tocsin ingest` in this process (its rules can be tampered with), on the real broker."""
    t = env.topics
    settings = load_settings(
        database_url=db_url,
        kafka_bootstrap=env.broker.bootstrap,
        topic_auth=t["auth"],
        topic_access=t["access"],
        topic_by_ip=t["by_ip"],
        topic_dlq=t["dlq"],
        topic_partitions=env.partitions,
        consumer_group=f"g.{env.tag}",
        checkpoint_seconds=1,
        demo=True,
        metrics_port=0,
        max_event_age_days=0,
    )
    engine, factory = runtime.database(settings)
    loop, pipeline = runtime.build_ingest(
        settings,
        session_factory=factory,
        consumer_overrides={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )
    return engine, factory, loop, pipeline


def _break_rule(pipeline: Any, rule_id: str, event_id: str) -> list[str]:
    """Make `rule_id` raise on the event `event_id` (with a message quoting personal data,
    which must not reach the DLQ). Returns the ids it raised on."""
    (rule,) = [r for r in pipeline.rules if r.id == rule_id]
    evaluate = rule.evaluate
    raised: list[str] = []

    def fragile(event: Any, when: float, state: Any) -> None:
        if str(event.event_id) == event_id:
            raised.append(event_id)
            raise ArithmeticError(f"cannot weigh {event.actor.id}")
        evaluate(event, when, state)

    rule.evaluate = fragile
    return raised


def test_a_rule_that_raises_on_one_record_sends_only_that_record_to_the_dlq(
    broker: EmbeddedBroker, fresh_db_url: str, tmp_path: Path
) -> None:
    env = make_env(broker, fresh_db_url, partitions=2)
    victim, control = "victim-co", "control-co"
    victims = _brute_force(victim, "v-1", START)
    controls = _brute_force(control, "c-1", START + timedelta(seconds=2))
    quiet = [
        _auth(t, f"u-{i}", START + timedelta(seconds=i), action="login_success")
        for i, t in enumerate([victim, control] * 40)
    ]
    poison = victims[7]
    messages = [
        ("auth", ev["tenant_id"].encode(), _raw(ev))
        for ev in [*quiet[:40], *victims, *quiet[40:], *controls]
    ]
    landed = _send(env, messages)
    poison_at = landed[40 + 7]

    engine, factory, loop, pipeline = _in_process(env, fresh_db_url)
    raised = _break_rule(pipeline, "AUTH-001", poison["event_id"])
    try:
        stats = loop.run(max_idle=3.0)
    finally:
        if pipeline.producer is not None:
            pipeline.producer.close(timeout=10)
    assert raised, "the rule saw the record"
    assert stats.failures == 0
    assert stats.isolated == 1

    dead = _dlq(env, 1)
    assert list(dead) == [poison_at]
    reason, headers, _ = dead[poison_at]
    assert reason == "handler_error"
    assert headers["tocsin-error"] == b"handler_error: ArithmeticError"
    assert headers["tocsin-exception"] == b"ArithmeticError"

    with factory() as session:
        findings = session.scalars(select(FindingRow).where(FindingRow.rule_id == "AUTH-001"))
        by_tenant = {f.tenant_ids[0]: f for f in findings}
    assert set(by_tenant) == {victim, control}
    assert poison["event_id"] not in by_tenant[victim].evidence
    assert by_tenant[victim].count == len(victims) - 1
    engine.dispose()


def test_a_by_ip_rule_that_raises_on_one_held_event_sets_only_that_event_aside(
    broker: EmbeddedBroker, fresh_db_url: str
) -> None:
    env = make_env(broker, fresh_db_url, partitions=2)
    events = simulated(3000, ["password_spraying"], seed=5)
    spraying = [ev for ev in events if ev.label == "password_spraying"]
    poison = spraying[3].value["event_id"]
    produce(env, events)

    engine, factory, loop, pipeline = _in_process(env, fresh_db_url)
    raised = _break_rule(pipeline, "AUTH-002", poison)
    try:
        stats = loop.run(max_idle=3.0)
    finally:
        if pipeline.producer is not None:
            pipeline.producer.close(timeout=10)
    assert raised, "the by-IP rule saw the event"
    assert stats.failures == 0

    dead = _dlq(env, 1)
    assert len(dead) == 1
    ((source, (reason, headers, _)),) = dead.items()
    assert source == env.topics["by_ip"]
    assert reason == "handler_error"
    assert headers["tocsin-error"] == b"handler_error: ArithmeticError"
    assert headers["tocsin-exception"] == b"ArithmeticError"
    assert headers["tocsin-event-id"] == poison.encode()

    with factory() as session:
        found = session.scalars(select(FindingRow).where(FindingRow.rule_id == "AUTH-002")).all()
    attack = {ev.value["event_id"] for ev in spraying}
    hits = [f for f in found if attack & set(f.evidence)]
    assert hits, "the spraying is still found"
    assert all(poison not in f.evidence for f in hits)
    engine.dispose()
