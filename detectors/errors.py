"""Errors of the detection engine."""

from __future__ import annotations

from consumers.errors import ConfigError, Invalid, Unavailable


class RuleConfigError(ConfigError):
    """A rule file is invalid. The message names the file, the rule id and the field."""

    def __init__(self, message: str, *, file: str, rule_id: str | None, field: str | None) -> None:
        where = file
        if rule_id is not None:
            where += f": rule {rule_id}"
        if field is not None:
            where += f": field {field}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.rule_id = rule_id
        self.field = field
        self.detail = message


class FilterError(Invalid):
    """A filter (or rule parameter) is invalid at `field` (a dotted path in the rule).

    Raised while compiling; the catalogue loader turns it into a `RuleConfigError` that also
    names the file and the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


class SnapshotError(Unavailable):
    """A detector snapshot cannot be restored (corrupt, or taken with other rules)."""
