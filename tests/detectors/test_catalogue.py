from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import detectors.kinds as kinds_pkg
from detectors.catalogue import DEFAULT_CATALOGUE, load_rules
from detectors.errors import RuleConfigError
from detectors.finding import Severity
from detectors.kinds import REGISTRY
from detectors.rule import Rule

CATALOGUE_IDS = [f"AUTH-00{i}" for i in range(1, 7)] + [f"ACC-00{i}" for i in range(1, 10)]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_concrete_kind_is_registered() -> None:
    import pkgutil

    found: set[type[Rule]] = set()
    for info in pkgutil.iter_modules(kinds_pkg.__path__):
        module = __import__(f"detectors.kinds.{info.name}", fromlist=["_"])
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Rule) and not inspect.isabstract(obj) and "kind" in vars(obj):
                found.add(obj)
    assert found == set(REGISTRY.values())
    assert set(REGISTRY) == {
        "match", "threshold", "distinct", "sequence", "new_value", "baseline", "travel"
    }  # fmt: skip
    assert all(REGISTRY[name].kind == name for name in REGISTRY)


def test_default_catalogue_has_every_rule_with_sensible_severities() -> None:
    rules = {r.id: r for r in load_rules()}
    assert list(rules) == CATALOGUE_IDS
    assert rules["ACC-001"].severity is Severity.CRITICAL
    assert rules["AUTH-004"].severity in (Severity.LOW, Severity.MEDIUM)
    assert rules["AUTH-002"].partition == "source_ip"
    assert all(r.partition == "tenant" for r in rules.values() if r.id != "AUTH-002")
    assert {r.stream for r in rules.values() if r.id.startswith("ACC")} == {"access"}
    assert rules["ACC-006"].nature == {"integrity", "availability"}


def test_override_retunes_disables_and_adds_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - id: AUTH-001
    count: 20
    severity: high
  - id: ACC-004
    enabled: false
  - id: LOCAL-001
    kind: match
    stream: auth
    severity: low
    nature: [confidentiality]
    filter: {action: api_key_created}
    summary: "API key created by {actor}"
""",
    )
    rules = {r.id: r for r in load_rules(path)}
    assert "ACC-004" not in rules
    assert rules["LOCAL-001"].kind == "match"
    auth001 = rules["AUTH-001"]
    assert getattr(auth001, "count") == 20  # noqa: B009
    assert auth001.severity is Severity.HIGH
    assert getattr(auth001, "window") == 300  # noqa: B009 - untouched keys stay


def test_override_parameters_business_hours_and_allow_list(tmp_path: Path) -> None:
    from tests.detectors.builders import Events, run

    path = write(
        tmp_path,
        """
parameters:
  business_hours: {start: "06:00", end: "22:00", weekdays: [mon, tue, wed, thu, fri, sat]}
  eu_eea_countries: [FR, CH]
""",
    )
    ev = Events()
    # 06:30 Paris on a Tuesday; access from Switzerland and Germany
    events = [
        ev.access(at=1, country="CH", actor="c"),
        ev.access(at=2, country="DE", actor="d"),
        ev.access(at=20.5 * 3600, kind="staff_support", ticket_id="T", actor="s"),
    ]
    _, out = run(load_rules(path), events, stream="access")
    got = sorted((em.finding.rule_id, em.finding.actor_ids) for em in out)
    assert got == [("ACC-007", ("d",))]
    _, out = run(load_rules(), events, stream="access")
    got = sorted((em.finding.rule_id, em.finding.actor_ids) for em in out)
    assert got == [("ACC-004", ("s",)), ("ACC-007", ("c",))]


def test_timezone_moves_business_hours(tmp_path: Path) -> None:
    from tests.detectors.builders import Events, run

    ev = Events()
    # 10:00 UTC on a Monday: 11:00 in Paris, 05:00 in New York
    staff = ev.access(at=0, kind="staff_support", ticket_id="T")
    _, out = run(load_rules(), [staff], stream="access")
    assert out == []
    _, out = run(load_rules(timezone="America/New_York"), [staff], stream="access")
    assert [em.finding.rule_id for em in out] == ["ACC-004"]


@pytest.mark.parametrize(
    ("text", "rule_id", "field", "words"),
    [
        ("rules: [{id: AUTH-001, count: zero}]", "AUTH-001", "count", "integer"),
        ("rules: [{id: AUTH-001, windw: 5m}]", "AUTH-001", "windw", "not permitted"),
        ("rules: [{id: AUTH-001, window: soon}]", "AUTH-001", "window", "duration"),
        (
            "rules: [{id: AUTH-001, filter: {action: login_fail}}]",
            "AUTH-001",
            "filter.action",
            "login_failure",
        ),
        (
            "rules: [{id: AUTH-001, filter: {acton: login_failure}}]",
            "AUTH-001",
            "filter.acton",
            "no field",
        ),
        (
            "rules: [{id: ACC-001, filter: {records: {gte: many}}}]",
            "ACC-001",
            "filter.records.gte",
            "number",
        ),
        (
            "rules: [{id: ACC-001, filter: {source_ip: {cidr: 10.0.0.0/33}}}]",
            "ACC-001",
            "filter.source_ip.cidr",
            "CIDR",
        ),
        (
            "rules: [{id: ACC-001, filter: {tenant_id: {ne_field: resource.tenat_id}}}]",
            "ACC-001",
            "filter.tenant_id.ne_field",
            "tenat_id",
        ),
        (
            "rules: [{id: ACC-001, filter: {country: {in: $nowhere}}}]",
            "ACC-001",
            "filter.country.in",
            "$nowhere",
        ),
        (
            "rules: [{id: ACC-001, filter: {occurred_at: {outside_hours: {start: '25:00'}}}}]",
            "ACC-001",
            "filter.occurred_at.outside_hours.start",
            "HH:MM",
        ),
        (
            "rules: [{id: ACC-001, summary: 'from {source_ip}'}]",
            "ACC-001",
            "summary",
            "placeholder",
        ),
        ("rules: [{id: ACC-001, group_by: [actor.id]}]", "ACC-001", "group_by", "tenant_id"),
        ("rules: [{id: ACC-001, severity: dire}]", "ACC-001", "severity", "critical"),
        ("rules: [{id: AUTH-002, kind: threshold}]", "AUTH-002", "stream", "required"),
        ("rules: [{id: NEW-1, stream: auth}]", "NEW-1", "kind", "new rule"),
        ("rules: [{id: NEW-1, kind: magic}]", "NEW-1", "kind", "unknown kind"),
        ("rules: [{id: AUTH-001, enabled: maybe}]", "AUTH-001", "enabled", "true or false"),
        (
            "rules: [{id: AUTH-003, steps: [{filter: {action: login_success}}]}]",
            "AUTH-003",
            "steps",
            "at least 2",
        ),
        ("rules: [{id: AUTH-001}, {id: AUTH-001}]", "AUTH-001", "id", "duplicate"),
    ],
)
def test_errors_name_the_file_the_rule_and_the_field(
    tmp_path: Path, text: str, rule_id: str, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RuleConfigError) as info:
        load_rules(path)
    err = info.value
    assert (err.file, err.rule_id, err.field) == (str(path), rule_id, field)
    message = str(err)
    assert message.startswith(f"{path}: rule {rule_id}: field {field}: ")
    assert words in message


def test_error_in_a_catalogue_key_names_the_catalogue_file(tmp_path: Path) -> None:
    # the override breaks a parameter the catalogue's own filter uses
    path = write(tmp_path, "parameters: {business_hours: {start: '09:00', end: '08:00'}}")
    with pytest.raises(RuleConfigError) as info:
        load_rules(path)
    assert info.value.rule_id == "ACC-004"
    assert info.value.field == "filter.occurred_at.outside_hours.end"
    assert info.value.file == str(DEFAULT_CATALOGUE)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("rules: {AUTH-001: {count: 3}}", "rules", "list"),
        ("rulez: []", "rulez", "unknown key"),
        ("rules: [{count: 3}]", "rules[0].id", "id"),
        ("rules: [", None, "YAML"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, field: str | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RuleConfigError) as info:
        load_rules(path)
    assert info.value.file == str(path)
    assert info.value.field == field
    assert words in str(info.value)


def test_missing_file_and_bad_timezone(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
    with pytest.raises(RuleConfigError, match="time zone"):
        load_rules(timezone="Mars/Olympus")


def test_from_config_refuses_another_kind() -> None:
    from detectors.errors import FilterError
    from detectors.kinds.match import MatchRule

    config = {
        "id": "X-1",
        "kind": "threshold",
        "stream": "auth",
        "severity": "low",
        "nature": ["confidentiality"],
        "summary": "x",
    }
    with pytest.raises(FilterError) as info:
        MatchRule.from_config(config)
    assert info.value.field == "kind"
