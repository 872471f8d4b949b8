"""Helpers for the deployment tests: metric names in PromQL, metric names Tocsin exports."""

from __future__ import annotations

import importlib
import re

from prometheus_client import REGISTRY

# Series Prometheus itself synthesises for every target.
PROMETHEUS_BUILTINS = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names,
    durations, numbers and Grafana variables left out)."""
    text = _GRAFANA_VAR.sub(" 1m ", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        token = match.group(0)
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # 1e3, 5m, 0.5
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if token.lower() in _KEYWORDS:
            continue
        names.add(token)
    return names


def exported_names() -> set[str]:
    """Every series name the Tocsin processes can expose: the module-level metrics of
    `consumers.metrics`, `notifiers.metrics` (and the default process/python collectors) plus
    the database collector of `tocsin.telemetry`."""
    for module in ("consumers.metrics", "notifiers.metrics", "tocsin.telemetry"):
        importlib.import_module(module)
    from tocsin import telemetry

    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(_series(family.name, family.type))
    for name in telemetry.DB_METRICS:
        names.update(_series(name, "gauge"))
    return names


def _series(name: str, kind: str) -> set[str]:
    if kind == "counter":
        return {f"{name}_total", f"{name}_created"}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
    if kind == "info":
        return {f"{name}_info"}
    return {name}
