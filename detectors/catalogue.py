"""Loading the rule catalogue: `rules/default.yaml`, then the operator's file on top.

A rule file::

    parameters:                 # values filters refer to as `$name`
      business_hours: {start: "08:00", end: "19:00", weekdays: [mon, tue, wed, thu, fri]}
    rules:
      - id: AUTH-001            # an existing id: the keys given replace the catalogue's
        count: 20
      - id: ACC-004
        enabled: false          # disabled: not loaded
      - id: LOCAL-001           # a new id: a complete rule
        kind: match
        ...

Parameters of the operator file replace the catalogue's one by one. A rule's keys are
replaced whole (a new `filter` replaces the old filter), except that changing `kind` makes
it a new rule from scratch. Every error is a `RuleConfigError` naming the file that set the
faulty key, the rule id and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from consumers.conventions import DEFAULT_TIMEZONE
from detectors.errors import FilterError, RuleConfigError
from detectors.kinds import REGISTRY
from detectors.rule import Rule, config_errors

DEFAULT_CATALOGUE = Path(__file__).resolve().parent / "rules" / "default.yaml"
TOP_LEVEL_KEYS = frozenset({"version", "parameters", "rules"})


class _Entry:
    """One rule's raw keys and, for each key, the file that set it."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id
        self.raw: dict[str, Any] = {}
        self.origin: dict[str, str] = {}
        self.file = ""  # the file that declared the rule

    def set(self, key: str, value: Any, file: str) -> None:
        self.raw[key] = value
        self.origin[key] = file

    def file_of(self, field: str) -> str:
        return self.origin.get(field.split(".", 1)[0].split("[", 1)[0], self.file)


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleConfigError(
            f"cannot read: {exc.strerror}", file=file, rule_id=None, field=None
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RuleConfigError(
            f"not valid YAML{where}", file=file, rule_id=None, field=None
        ) from None
    if doc is None:
        return {}, []
    if not isinstance(doc, dict):
        raise RuleConfigError(
            "a rule file is a mapping with `parameters` and `rules`",
            file=file,
            rule_id=None,
            field=None,
        )
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            raise RuleConfigError(
                f"unknown key (expected {', '.join(sorted(TOP_LEVEL_KEYS))})",
                file=file,
                rule_id=None,
                field=str(key),
            )
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise RuleConfigError("must be a mapping", file=file, rule_id=None, field="parameters")
    rules = doc.get("rules") or []
    if not isinstance(rules, list):
        raise RuleConfigError("must be a list", file=file, rule_id=None, field="rules")
    seen: set[str] = set()
    for i, item in enumerate(rules):
        if not isinstance(item, dict):
            raise RuleConfigError(
                "each rule is a mapping", file=file, rule_id=None, field=f"rules[{i}]"
            )
        rid = item.get("id")
        if not isinstance(rid, str) or not rid:
            raise RuleConfigError(
                "every rule needs an `id`", file=file, rule_id=None, field=f"rules[{i}].id"
            )
        if rid in seen:
            raise RuleConfigError("duplicate rule id", file=file, rule_id=rid, field="id")
        seen.add(rid)
    return params, rules


def _merge(entries: dict[str, _Entry], rules: list[dict[str, Any]], file: str) -> None:
    for item in rules:
        rid = item["id"]
        entry = entries.get(rid)
        if entry is None or ("kind" in item and item["kind"] != entry.raw.get("kind")):
            entry = _Entry(rid)
            entry.file = file
            entries[rid] = entry
        for key, value in item.items():
            entry.set(str(key), value, file)


def _build(entry: _Entry, *, timezone: str, parameters: Mapping[str, Any]) -> Rule:
    kind = entry.raw.get("kind")
    if kind is None:
        raise RuleConfigError(
            "missing (a new rule needs a kind)", file=entry.file, rule_id=entry.rule_id,
            field="kind",
        )  # fmt: skip
    cls = REGISTRY.get(str(kind))
    if cls is None:
        raise RuleConfigError(
            f"unknown kind {kind!r} (one of {', '.join(sorted(REGISTRY))})",
            file=entry.file_of("kind"),
            rule_id=entry.rule_id,
            field="kind",
        )
    try:
        return cls.from_config(entry.raw, timezone=timezone, parameters=parameters)
    except ValidationError as exc:
        field, message = config_errors(exc)[0]
        raise RuleConfigError(
            message, file=entry.file_of(field), rule_id=entry.rule_id, field=field
        ) from None
    except FilterError as exc:
        raise RuleConfigError(
            exc.detail, file=entry.file_of(exc.field), rule_id=entry.rule_id, field=exc.field
        ) from None


def load_rules(override: Path | None = None, *, timezone: str = DEFAULT_TIMEZONE) -> list[Rule]:
    """The default catalogue, with the operator's `override` file applied, validated and
    compiled. Disabled rules are left out. Raises `RuleConfigError`."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleConfigError(
            f"unknown time zone {timezone!r}", file="settings", rule_id=None, field="timezone"
        ) from None
    parameters, base_rules = _read(DEFAULT_CATALOGUE)
    entries: dict[str, _Entry] = {}
    _merge(entries, base_rules, str(DEFAULT_CATALOGUE))
    if override is not None:
        extra_params, extra_rules = _read(override)
        parameters = {**parameters, **extra_params}
        _merge(entries, extra_rules, str(override))
    rules: list[Rule] = []
    for entry in entries.values():
        enabled = entry.raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise RuleConfigError(
                "must be true or false",
                file=entry.file_of("enabled"),
                rule_id=entry.rule_id,
                field="enabled",
            )
        if enabled:
            rules.append(_build(entry, timezone=timezone, parameters=parameters))
    return rules


def rules_by_id(rules: list[Rule]) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}
