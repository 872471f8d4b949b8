"""Telemetry: scrubbing, JSON logs, Sentry without personal data, database metrics."""

from __future__ import annotations

import inspect
import io
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sentry_sdk
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event as SentryEvent
from sentry_sdk.types import Hint
from sqlalchemy.orm import Session, sessionmaker

from consumers import metrics as consumer_metrics
from incidents.clocks import ClockPolicy
from incidents.db import make_engine, session_factory
from incidents.models import ClockFact, Customer, Incident, IncidentTenant
from notifiers import metrics as notifier_metrics
from notifiers.models import Notice, OutboxMessage
from tocsin import telemetry
from tocsin.cli import build_parser
from tocsin.settings import Settings

EMAIL = "jeanne.martin@example.fr"
IPV4 = "203.0.113.77"
IPV6 = "2001:db8:85a3::8a2e:370:7334"
PHONE = "06 12 34 56 78"
PASSWORD = "Tr0ub4dor&3-horse"
SECRETS = (EMAIL, IPV4, IPV6, PHONE, PASSWORD, "0612345678", "Tr0ub4dor")


# ------------------------------------------------------------------------------ scrub_text


@pytest.mark.parametrize(
    ("raw", "gone"),
    [
        ("contact jeanne.martin@example.fr now", "jeanne.martin@example.fr"),
        ("from 203.0.113.77 port 22", "203.0.113.77"),
        ("net 10.0.0.0/8", "10.0.0.0"),
        ("from 2001:db8:85a3::8a2e:370:7334 ok", "2001:db8:85a3::8a2e:370:7334"),
        ("loopback ::1 here", "::1"),
        ('::1:51234 - "GET / HTTP/1.1" 200', "::1"),  # uvicorn's `host:port` client
        ("2001:db8:85a3::8a2e:370:7334:51234 - x", "8a2e:370:7334"),
        ("::ffff:198.51.100.7:51234 - x", "198.51.100.7"),
        ("appel 06 12 34 56 78 reçu", "06 12 34 56 78"),
        ("appel 06.12.34.56.78 reçu", "06.12.34.56.78"),
        ("appel 0612345678 reçu", "0612345678"),
        ("appel +33 6 12 34 56 78 reçu", "+33 6 12 34 56 78"),
        ("appel +33612345678 reçu", "+33612345678"),
        ("appel 0033 6 12 34 56 78 reçu", "0033 6 12 34 56 78"),
        ("appel +33 (0)1 23 45 67 89 reçu", "23 45 67 89"),
        ("appel 01-23-45-67-89 reçu", "01-23-45-67-89"),
        ("call +44 20 7946 0958 now", "7946 0958"),
        ("Authorization: Bearer abcdef0123456789.xyz", "abcdef0123456789"),
        ("password=hunter2hunter2 user=x", "hunter2hunter2"),
        ("{'password': 'hunter2hunter2'}", "hunter2hunter2"),
        ('{"client_secret": "s3cr3t-value"}', "s3cr3t-value"),
        ("db postgresql://tocsin:pa55word@db:5432/x", "pa55word"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),
    ],
)
def test_scrub_text_removes_personal_data_and_secrets(raw: str, gone: str) -> None:
    cleaned = telemetry.scrub_text(raw)
    assert gone not in cleaned
    assert cleaned != raw


@pytest.mark.parametrize(
    "kept",
    [
        "saas.auth.v1[3]@123456 batch of 2000 in 0.125 s",
        "event 550e8400-e29b-41d4-a716-446655440000 duplicated",
        "finding 0123456789abcdef0123456789abcdef stored",
        "at 2026-11-26T14:02:44.123+00:00 (14:02:44)",
        "INC-2026-0042 status triage, rule AUTH-001, 1500 records",
        "sentry-sdk 2.75.0 on python 3.11",
        "tenant acme_42 actor u-1234567",
    ],
)
def test_scrub_text_keeps_operational_text(kept: str) -> None:
    assert telemetry.scrub_text(kept) == kept


def test_scrub_value_redacts_sensitive_keys_recursively() -> None:
    cleaned = telemetry.scrub_value(
        {
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "text/html"},
            "form": [{"password": "x1"}, {"note": f"mail {EMAIL}"}],
            "count": 3,
            "smtp_url": None,
        }
    )
    assert cleaned["headers"] == {"Authorization": "[redacted]", "Accept": "text/html"}
    assert cleaned["form"] == [{"password": "[redacted]"}, {"note": "mail [email]"}]
    assert cleaned["count"] == 3
    assert cleaned["smtp_url"] is None


# ------------------------------------------------------------------------------ logging


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    previous = root.level
    telemetry.configure_logging("info", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_tocsin_json_handler", False):
                root.removeHandler(handler)
        root.setLevel(previous)


def test_configure_logging_writes_scrubbed_json_lines(json_log: io.StringIO) -> None:
    log = logging.getLogger("tocsin.test")
    log.info(
        "login for %s from %s",
        EMAIL,
        IPV4,
        extra={"topic": "saas.auth.v1", "partition": 3, "offset": 42, "token": "abc"},
    )
    try:
        raise ValueError(f"bad phone {PHONE} for {EMAIL}")
    except ValueError:
        log.exception("failed")
    log.debug("not shown at info")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["msg"] == "login for [email] from [ip]"
    assert first["level"] == "INFO"
    assert first["logger"] == "tocsin.test"
    assert (first["topic"], first["partition"], first["offset"]) == ("saas.auth.v1", 3, 42)
    assert first["token"] == "[redacted]"
    assert datetime.fromisoformat(first["ts"]).tzinfo is not None
    assert "ValueError: bad phone [phone] for [email]" in second["exc"]
    text = json_log.getvalue()
    for secret in SECRETS:
        assert secret not in text


def test_configure_logging_is_idempotent(json_log: io.StringIO) -> None:
    telemetry.configure_logging("warning", stream=json_log)
    marked = [h for h in logging.getLogger().handlers if getattr(h, "_tocsin_json_handler", 0)]
    assert len(marked) == 1
    logging.getLogger("tocsin.test").warning("once")
    assert len(json_log.getvalue().splitlines()) == 1


# ------------------------------------------------------------------------------ Sentry


class CapturingTransport(Transport):
    """Keeps every envelope instead of sending it."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        CapturingTransport.envelopes.append(envelope)


@pytest.fixture
def sentry_capture() -> Iterator[list[Envelope]]:
    CapturingTransport.envelopes = []
    settings = Settings(
        sentry_dsn=SecretStr("https://publickey@sentry.example.invalid/42"),
        sentry_environment="test",
    )
    assert telemetry.init_sentry(settings, "ingest", transport=CapturingTransport) is True
    try:
        yield CapturingTransport.envelopes
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # an inactive client: nothing leaves the test process


def _events(envelopes: list[Envelope]) -> list[dict[str, Any]]:
    events = []
    for envelope in envelopes:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                events.append(item.payload.json)
    return events


def _login(user_email: str, source_ip: str, phone: str, password: str) -> None:
    attempt = {"email": user_email, "ip": source_ip, "phone": phone}  # noqa: F841 - a local
    raise PermissionError(
        f"login refused for {user_email} from {source_ip} ({phone}), password={password}"
    )


def test_sentry_event_arrives_without_personal_data(sentry_capture: list[Envelope]) -> None:
    logging.getLogger("tocsin.auth").warning("breadcrumb for %s at %s", EMAIL, IPV6)

    def add_request(event: SentryEvent, hint: Hint) -> SentryEvent:
        event["request"] = {
            "url": f"https://console.example/api/v1/users?email={EMAIL}",
            "method": "POST",
            "headers": {"Authorization": "Bearer 0123456789abcdef", "X-Forwarded-For": IPV4},
            "cookies": {"session": "abcdef"},
            "data": {"email": EMAIL, "password": PASSWORD},
            "query_string": f"phone={PHONE}",
        }
        return event

    with sentry_sdk.new_scope() as scope:
        scope.add_event_processor(add_request)
        scope.set_extra("contact", f"{EMAIL} / +33 6 12 34 56 78")
        scope.set_context("customer", {"phone": "06.12.34.56.78", "ip": IPV4})
        scope.set_user({"id": "u-42", "email": EMAIL, "ip_address": IPV4})
        try:
            _login(EMAIL, IPV4, PHONE, PASSWORD)
        except PermissionError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=5)

    events = _events(sentry_capture)
    assert len(events) == 1
    event = events[0]
    exc = event["exception"]["values"][-1]
    assert exc["type"] == "PermissionError"
    assert "[email]" in exc["value"] and "[ip]" in exc["value"] and "[phone]" in exc["value"]
    frame = next(f for f in exc["stacktrace"]["frames"] if f["function"] == "_login")
    assert set(frame["vars"]) >= {"user_email", "source_ip", "phone", "attempt"}
    assert event["user"] == {"id": "u-42"}
    assert event["tags"]["component"] == "ingest"
    assert event["request"]["method"] == "POST"
    assert "cookies" not in event["request"]
    crumbs = event["breadcrumbs"]["values"]
    assert any(c.get("message") == "breadcrumb for [email] at [ip]" for c in crumbs)

    blob = json.dumps(event)
    for secret in (*SECRETS, "+33 6 12 34 56 78", "06.12.34.56.78", "0123456789abcdef"):
        assert secret not in blob, secret


def test_init_sentry_without_dsn_is_inactive() -> None:
    assert telemetry.init_sentry(Settings(sentry_dsn=None), "console") is False
    assert telemetry.init_sentry(Settings(sentry_dsn=SecretStr("  ")), "console") is False


# ------------------------------------------------------------------------------ DB metrics

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = ClockPolicy()


def _incident(
    session: Session,
    seq: int,
    *,
    now: datetime,
    aware_hours_ago: float,
    status: str = "triage",
    band: str | None = None,
    tenants: tuple[str, ...] = ("acme",),
) -> Incident:
    aware = now - timedelta(hours=aware_hours_ago)
    incident = Incident(
        ref=f"INC-2026-{seq:04d}",
        year=2026,
        seq=seq,
        status=status,
        title="t",
        first_seen=aware,
        last_seen=aware,
        detected_at=aware,
        aware_at=aware,
        severity_band=band,
    )
    session.add(incident)
    session.flush()
    for tenant in tenants:
        session.add(
            IncidentTenant(
                incident_id=incident.id, tenant_id=tenant, first_seen=aware, last_seen=aware
            )
        )
    session.flush()
    return incident


def _notice(
    session: Session, incident: Incident, kind: str, status: str, tenant: str | None = None
) -> None:
    session.add(
        Notice(
            incident_id=incident.id,
            kind=kind,
            scope=tenant or "*",
            tenant_id=tenant,
            phase="initial",
            version=1,
            status=status,
            subject="s",
            text_body="b",
            html_body="h",
            context={},
            fingerprint="f" * 64,
        )
    )
    session.flush()


def _seed(session: Session, now: datetime) -> dict[str, Incident]:
    session.add(
        Customer(
            tenant_id="acme", name="Acme", contact_email="dpo@acme.example", notify_delay_hours=48.0
        )
    )
    # Globex is AVM Up's own processing (controller): its CNIL clock is AVM Up's; acme's
    # (processor only) is the customer's, for information, and never counted here.
    session.add(
        Customer(
            tenant_id="globex", name="Globex", contact_email="it@globex.example", role="controller"
        )
    )
    session.flush()
    # a: aware 30 h ago; customer acme (48 h) due in 18 h; cnil (72 h, acme's) due in 42 h.
    a = _incident(session, 1, now=now, aware_hours_ago=30, band="high")
    # b: aware 80 h ago: cnil overdue by 8 h; globex (24 h) overdue by 56 h, met (notice sent).
    b = _incident(
        session,
        2,
        now=now,
        aware_hours_ago=80,
        status="confirmed",
        band="medium",
        tenants=("globex",),
    )
    session.add(
        ClockFact(
            incident_id=b.id,
            clock="customer",
            tenant_id="globex",
            kind="met",
            at=now - timedelta(hours=70),
            actor="rssi@avmup.com",
        )
    )
    # c: closed long ago: ignored by the clocks, counted by status.
    _incident(session, 3, now=now, aware_hours_ago=500, status="closed", band="low")
    # d: aware 2 h ago, not assessed; cnil stopped (processor: the controller notifies).
    d = _incident(session, 4, now=now, aware_hours_ago=2, tenants=("acme", "globex"))
    session.add(
        ClockFact(
            incident_id=d.id,
            clock="cnil",
            tenant_id="",
            kind="stopped",
            at=now,
            actor="rssi@avmup.com",
            justification="processor only",
        )
    )
    session.flush()
    _notice(session, a, "customer", "approved", "acme")
    _notice(session, a, "cnil", "draft")
    _notice(session, b, "customer", "sent", "globex")
    _notice(session, d, "customer", "draft", "acme")
    session.add(
        OutboxMessage(
            purpose="notice",
            kind="customer",
            incident_id=b.id,
            tenant_id="globex",
            reference=b.ref,
            message_id="<m1@tocsin>",
            recipients=["x"],
            subject="s",
            text_body="b",
            state="failed",
            next_attempt_at=now,
        )
    )
    session.flush()
    return {"a": a, "b": b, "d": d}


def test_read_snapshot_counts_incidents_clocks_and_notices(db_session: Session) -> None:
    _seed(db_session, NOW)
    snap = telemetry.read_snapshot(session=db_session, policy=POLICY, now=NOW)

    assert snap.incidents == {
        ("triage", "high"): 1,
        ("confirmed", "medium"): 1,
        ("closed", "low"): 1,
        ("triage", "unassessed"): 1,
    }
    # Nearest open cnil deadline: b's, 8 h overdue (d's cnil clock is stopped).
    assert snap.nearest["cnil"] == pytest.approx(-8 * 3600)
    # Open customer clocks: a/acme (48 h) in 18 h, d/acme in 46 h, d/globex (24 h) in 22 h;
    # b/globex is met.
    assert snap.nearest["customer"] == pytest.approx(18 * 3600)
    # a/acme's customer notice is approved: the nearest unapproved one is d/globex.
    assert snap.unapproved_nearest["customer"] == pytest.approx(22 * 3600)
    assert snap.unapproved_nearest["cnil"] == pytest.approx(-8 * 3600)
    assert snap.overdue == {"cnil": 1, "customer": 0}
    assert snap.notices == {
        ("customer", "approved"): 1,
        ("cnil", "draft"): 1,
        ("customer", "sent"): 1,
        ("customer", "draft"): 1,
    }
    assert snap.outbox == {"failed": 1}


def test_processor_only_cnil_clock_is_not_counted_as_avm_ups(db_session: Session) -> None:
    db_session.add(
        Customer(
            tenant_id="acme",
            name="Acme",
            contact_email="dpo@acme.example",
            notify_delay_hours=200.0,
        )
    )
    db_session.flush()
    _incident(db_session, 1, now=NOW, aware_hours_ago=100)  # acme only: AVM Up processor
    snap = telemetry.read_snapshot(session=db_session, policy=POLICY, now=NOW)
    assert "cnil" not in snap.nearest and snap.overdue["cnil"] == 0
    assert snap.nearest["customer"] == pytest.approx(100 * 3600)


def test_read_snapshot_on_empty_database(db_session: Session) -> None:
    snap = telemetry.read_snapshot(session=db_session, policy=POLICY, now=NOW)
    assert snap.nearest == {} and snap.unapproved_nearest == {}
    assert snap.overdue == {"customer": 0, "cnil": 0}
    assert snap.incidents == {} and snap.notices == {}


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture
def seeded_factory(fresh_db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(fresh_db_url)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        _seed(session, datetime.now(UTC))
    yield factory
    engine.dispose()


@pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)
def test_collector_exports_and_caches(seeded_factory: sessionmaker[Session]) -> None:
    ticks = [100.0]
    collector = telemetry.TocsinDbCollector(
        seeded_factory, policy=POLICY, ttl_seconds=10.0, monotonic=lambda: ticks[0]
    )
    registry = CollectorRegistry()
    registry.register(collector)
    first = _samples(registry)
    assert collector.reads == 1
    assert first[("tocsin_telemetry_db_up", ())] == 1.0
    assert first[("tocsin_incidents", (("severity", "high"), ("status", "triage")))] == 1.0
    assert first[("tocsin_incidents", (("severity", "very_high"), ("status", "detected")))] == 0
    assert first[("tocsin_incidents_overdue", (("clock", "customer"),))] == 0.0
    assert first[("tocsin_notices", (("kind", "cnil"), ("status", "draft")))] == 1.0
    assert first[("tocsin_notices", (("kind", "data_subject"), ("status", "sent")))] == 0.0
    assert first[("tocsin_outbox_messages", (("state", "failed"),))] == 1.0
    # Seeded relative to the wall clock: b's cnil clock is 8 h overdue.
    nearest_cnil = first[("tocsin_deadline_nearest_seconds", (("clock", "cnil"),))]
    assert -8 * 3600 - 120 < nearest_cnil <= -8 * 3600
    assert first[("tocsin_deadline_unapproved_nearest_seconds", (("clock", "customer"),))] == (
        pytest.approx(22 * 3600, abs=120)
    )
    assert first[("tocsin_incidents_overdue", (("clock", "cnil"),))] == 1.0

    ticks[0] += 5.0
    _samples(registry)
    assert collector.reads == 1  # cached
    ticks[0] += 6.0
    _samples(registry)
    assert collector.reads == 2


def test_collector_survives_an_unreadable_database(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    collector = telemetry.TocsinDbCollector(session_factory(engine), policy=POLICY)
    registry = CollectorRegistry()
    registry.register(collector)
    samples = _samples(registry)
    engine.dispose()
    assert samples[("tocsin_telemetry_db_up", ())] == 0.0
    assert not any(name == "tocsin_incidents" for name, _ in samples)


def test_register_db_collector_once(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    registry = CollectorRegistry()
    try:
        first = telemetry.register_db_collector(
            session_factory(engine), settings=Settings(), registry=registry
        )
        again = telemetry.register_db_collector(
            session_factory(engine), settings=Settings(), registry=registry
        )
        assert first is again
        assert _samples(registry)[("tocsin_telemetry_db_up", ())] == 1.0
    finally:
        telemetry.unregister_db_collector(registry)
        engine.dispose()
    assert _samples(registry) == {}


# ------------------------------------------------------------------------------ exposition


def test_exposition_passes_promtool_check_metrics(seeded_factory: sessionmaker[Session]) -> None:
    topic = "saas.auth.v1"
    consumer_metrics.init_topic_series([topic])
    consumer_metrics.EVENTS_CONSUMED.labels(topic=topic, service="faxbis").inc(3)
    consumer_metrics.EVENTS_INVALID.labels(topic=topic, reason="schema").inc()
    consumer_metrics.EVENTS_DUPLICATE.labels(topic=topic).inc()
    consumer_metrics.EVENTS_LATE.labels(topic=topic).inc()
    consumer_metrics.CONSUMER_LAG.labels(topic=topic, partition="0").set(12)
    consumer_metrics.BATCH_SECONDS.observe(0.02)
    consumer_metrics.observe_detection_latency(datetime.now(UTC) - timedelta(seconds=1))
    consumer_metrics.FINDINGS.labels(rule="AUTH-001", severity="high").inc()
    consumer_metrics.STATE_KEYS.labels(rule="AUTH-001").set(5)
    consumer_metrics.STATE_EVICTIONS_TOTAL.labels(rule="AUTH-001").inc()
    consumer_metrics.CHECKPOINTS_TOTAL.inc()
    notifier_metrics.NOTICES_SENT.labels(kind="customer", result="sent").inc()
    telemetry.register_db_collector(seeded_factory, settings=Settings())
    try:
        payload, content_type = telemetry.metrics_payload()
    finally:
        telemetry.unregister_db_collector()
    assert content_type.startswith("text/plain")
    text = payload.decode()
    for name in (
        "tocsin_events_consumed_total",
        "tocsin_detection_latency_seconds_bucket",
        "tocsin_incidents",
        "tocsin_deadline_nearest_seconds",
        "tocsin_notices_sent_total",
        "tocsin_consumer_lag",
    ):
        assert f"\n{name}" in text, name
    result = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"],
        input=payload,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"problem" not in result.stdout + result.stderr
    assert REGISTRY is not None


def test_uvicorn_access_lines_go_through_the_scrubber(json_log: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's dictConfig would
    telemetry.configure_logging("info", stream=json_log)
    access.info('%s - "%s %s HTTP/%s" %d', "198.51.100.7:51234", "GET", "/queue", "1.1", 200)
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert line["logger"] == "uvicorn.access"
    assert "198.51.100.7" not in line["msg"] and line["msg"].startswith("[ip]")
    assert access.handlers == []


def test_log_extras_of_any_type_are_scrubbed(json_log: io.StringIO) -> None:
    class Holder:
        def __str__(self) -> str:
            return f"holder of {EMAIL}"

    logging.getLogger("tocsin.test").warning("x", extra={"obj": Holder(), "n": 3})
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert line["obj"] == "holder of [email]"
    assert line["n"] == 3


@pytest.mark.parametrize(
    ("client", "port"),
    [
        ("198.51.100.7", 51234),
        ("::1", 51234),
        ("2001:db8:85a3::8a2e:370:7334", 443),
        ("2001:db8::7", 65535),
    ],
)
def test_uvicorn_client_addresses_are_scrubbed(
    json_log: io.StringIO, client: str, port: int
) -> None:
    from uvicorn.protocols.utils import get_client_addr

    scope: Any = {"type": "http", "client": (client, port)}
    addr = get_client_addr(scope)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', addr, "GET", "/metrics", "1.1", 200
    )
    line = json.loads(json_log.getvalue().splitlines()[-1])
    # `2001:db8::7:443` is itself a valid address: the port may go with it.
    assert line["msg"] in (
        f'[ip]:{port} - "GET /metrics HTTP/1.1" 200',
        '[ip] - "GET /metrics HTTP/1.1" 200',
    )
    assert client not in line["msg"]
    assert "color_message" not in line


def test_send_result_labels_cover_what_the_outbox_emits() -> None:
    from notifiers import outbox
    from notifiers.enums import NoticeKind, OutboxPurpose

    assert {k.value for k in NoticeKind} | {OutboxPurpose.ESCALATION.value} == set(
        notifier_metrics.NOTICE_KINDS
    )
    source = inspect.getsource(outbox)
    emitted = set(re.findall(r'result="(\w+)"', source))
    emitted |= set(re.findall(r'outcome\.append\("(\w+)"\)', source))
    emitted.add("skipped")  # `_deliver_one`: no outcome recorded
    assert emitted == set(notifier_metrics.SEND_RESULTS)


def test_console_command_wires_logging_sentry_and_db_metrics(
    monkeypatch: pytest.MonkeyPatch, fresh_db_url: str
) -> None:
    import uvicorn

    from console import app as console_app
    from console import pages_ops
    from tocsin.commands import console as console_cmd

    calls: dict[str, Any] = {}
    settings = Settings(
        database_url=fresh_db_url,
        secret_key=SecretStr("telemetry-" + "k" * 32),
        log_level="WARNING",
    )
    monkeypatch.setattr(console_cmd, "get_settings", lambda: settings)
    monkeypatch.setattr(
        telemetry, "configure_logging", lambda level: calls.setdefault("logging", level)
    )
    monkeypatch.setattr(
        telemetry, "init_sentry", lambda s, component: calls.setdefault("sentry", (s, component))
    )
    monkeypatch.setattr(
        telemetry,
        "register_db_collector",
        lambda factory, *, settings: calls.setdefault("db", (factory, settings)),
    )
    build = console_app.create_app

    def create_app(s: Settings, **kw: Any) -> Any:
        calls["app"] = (build(s, **kw), kw)
        return calls["app"][0]

    monkeypatch.setattr(console_app, "create_app", create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.setdefault("run", (app, kw)))
    args = build_parser().parse_args(["console", "--port", "8123"])
    assert args.func(args) == 0
    assert calls["logging"] == "WARNING"
    assert calls["sentry"] == (settings, "console")
    factory, collector_settings = calls["db"]
    assert collector_settings is settings
    app, kwargs = calls["app"]
    assert kwargs["session_factory"] is factory
    assert app.state.session_factory is factory
    run_app, run_kwargs = calls["run"]
    assert run_app is app
    assert run_kwargs["log_config"] is None  # uvicorn keeps the scrubbing JSON handler
    assert (run_kwargs["port"], run_kwargs["server_header"]) == (8123, False)
    route = next(r for r in pages_ops.router.routes if getattr(r, "path", "") == "/metrics")
    assert not inspect.iscoroutinefunction(route.endpoint)  # type: ignore[attr-defined]


def test_notify_command_wires_logging_sentry_and_metrics_server(
    monkeypatch: pytest.MonkeyPatch, fresh_db_url: str
) -> None:
    from notifiers import outbox
    from tocsin.commands import notices

    calls: dict[str, Any] = {}
    settings = Settings(
        database_url=fresh_db_url,
        smtp_url=SecretStr("smtp://127.0.0.1:2525"),
        metrics_port=9999,
        log_level="INFO",
    )
    monkeypatch.setattr(notices, "get_settings", lambda: settings)
    monkeypatch.setattr(
        telemetry, "configure_logging", lambda level: calls.setdefault("logging", level)
    )
    monkeypatch.setattr(
        telemetry, "init_sentry", lambda s, component: calls.setdefault("sentry", component)
    )
    monkeypatch.setattr(
        telemetry, "start_metrics_server", lambda port, addr: calls.setdefault("metrics", port)
    )
    monkeypatch.setattr(outbox, "deliver_due", lambda **kw: outbox.DeliveryReport())
    args = build_parser().parse_args(["notify", "--once"])
    assert args.func(args) == 0
    assert calls == {"logging": "INFO", "sentry": "notify", "metrics": 9999}

    calls.clear()
    monkeypatch.setattr(
        notices, "get_settings", lambda: settings.model_copy(update={"metrics_port": 0})
    )
    assert args.func(args) == 0
    assert "metrics" not in calls
