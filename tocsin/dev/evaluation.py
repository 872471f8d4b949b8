"""Labelled evaluation of the detection engine: simulated traffic in, precision/recall per rule out.

The events run through `detectors.engine.PartitionDetector` in-process, partitioned as Kafka
would partition them: per stream, by the murmur2 hash of the message key (the tenant id), one
detector per partition fed in offset order; the auth events that `needs_repartition` selects
are also published, keyed by source IP, to the `by_ip` stream and its own detectors.

Scoring (per rule):
* a finding is a **true positive** when its evidence holds events of an attack whose scenario
  lists the rule (`rule_ids`, or `also` for rules that legitimately fire on it too);
  otherwise it is a **false positive** (and a *severe* one when its severity is high or
  critical);
* an injected attack instance is **found** by a rule listed in its `rule_ids` when a finding
  of that rule holds one of the instance's events; recall = found / injected.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from kafka.partitioner.default import murmur2

from consumers.errors import Invalid
from consumers.events import AccessEvent, AuthEvent, Event, parse_event
from detectors import engine
from detectors.finding import Finding, Severity
from detectors.rule import Rule
from tocsin.dev.simulator import ATTACKS, SimEvent


class EvaluationError(Invalid):
    """An evaluation request that cannot be run."""


SEVERE = frozenset({Severity.HIGH, Severity.CRITICAL})
BATCH = 500


def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key bytes, positive, modulo)."""
    digest: int = murmur2(key.encode())
    return (digest & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class RuleScore:
    rule_id: str
    injected: int  # attack instances whose scenario lists this rule
    detected: int  # of those, found by a finding of this rule
    findings: int  # findings of this rule (true + false positives)
    true_positives: int
    false_positives: int
    severe_false_positives: int  # false positives of severity high or critical
    missed: tuple[str, ...] = ()  # attack ids not found
    false_positive_examples: tuple[str, ...] = field(default=(), repr=False)  # summaries

    @property
    def precision(self) -> float:
        return self.true_positives / self.findings if self.findings else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.injected if self.injected else 1.0


@dataclass
class DetectionRun:
    """What the engine produced for one labelled stream."""

    findings: dict[str, Finding]  # finding_id -> last emitted version
    evidence: dict[str, set[str]]  # finding_id -> every event id it ever listed
    labels: dict[str, tuple[str, str]]  # event_id -> (scenario, attack id)
    instances: dict[str, str]  # attack id -> scenario
    events: int = 0


def parse_sim(ev: SimEvent) -> Event:
    """The event as the consumer parses it from the message bytes (`parse_event`)."""
    model = AuthEvent if ev.stream == "auth" else AccessEvent
    return parse_event(json.dumps(ev.value).encode(), model)


def run(
    events: Iterable[SimEvent],
    rules: Sequence[Rule],
    *,
    partitions: int = 6,
    lateness: timedelta = timedelta(seconds=60),
) -> DetectionRun:
    """Partition the labelled stream like Kafka and feed each partition's detector in order."""
    return run_parsed(
        ((ev, parse_sim(ev)) for ev in events), rules, partitions=partitions, lateness=lateness
    )


def run_parsed(
    pairs: Iterable[tuple[SimEvent, Event]],
    rules: Sequence[Rule],
    *,
    partitions: int = 6,
    lateness: timedelta = timedelta(seconds=60),
) -> DetectionRun:
    """`run` over events already parsed (`parse_sim`), to parse a stream once for many runs."""
    if partitions < 1:
        raise EvaluationError("partitions must be at least 1")
    labels: dict[str, tuple[str, str]] = {}
    instances: dict[str, str] = {}
    queues: dict[tuple[engine.StreamName, int], list[Event]] = defaultdict(list)
    n = 0
    for sim, ev in pairs:
        n += 1
        if sim.label is not None:
            attack_id = sim.attack_id or sim.label
            labels[str(ev.event_id)] = (sim.label, attack_id)
            instances[attack_id] = sim.label
        queues[(sim.stream, partition_of(sim.key, partitions))].append(ev)
        if isinstance(ev, AuthEvent) and engine.needs_repartition(rules, ev):
            queues[("by_ip", partition_of(ev.source_ip, partitions))].append(ev)
    findings: dict[str, Finding] = {}
    evidence: dict[str, set[str]] = defaultdict(set)
    for (stream, _), queue in sorted(queues.items()):
        detector = engine.PartitionDetector(rules, stream=stream, lateness=lateness)
        emissions: list[engine.Emission] = []
        for i in range(0, len(queue), BATCH):
            emissions.extend(detector.process(queue[i : i + BATCH]))
        for emission in emissions:
            finding: Finding = emission.finding
            findings[finding.finding_id] = finding
            evidence[finding.finding_id].update(finding.evidence)
            evidence[finding.finding_id].update(str(e.event_id) for e in emission.evidence_events)
    return DetectionRun(findings, dict(evidence), labels, instances, n)


def score(result: DetectionRun, rule_ids: Iterable[str]) -> dict[str, RuleScore]:
    """Precision and recall per rule id (every id in `rule_ids`, plus any that fired)."""
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in result.findings.values():
        by_rule[finding.rule_id].append(finding)
    found: dict[str, set[str]] = defaultdict(set)  # rule -> attack ids found
    scores: dict[str, RuleScore] = {}
    for rule_id in sorted(set(rule_ids) | set(by_rule)):
        tp = fp = severe = 0
        examples: list[str] = []
        for finding in by_rule.get(rule_id, []):
            hits = [
                result.labels[e] for e in result.evidence[finding.finding_id] if e in result.labels
            ]
            ok = False
            for scenario_name, attack_id in hits:
                scenario = ATTACKS[scenario_name]
                if rule_id in scenario.rule_ids:
                    found[rule_id].add(attack_id)
                    ok = True
                elif rule_id in scenario.also:
                    ok = True
            if ok:
                tp += 1
            else:
                fp += 1
                if finding.severity in SEVERE:
                    severe += 1
                if len(examples) < 5:
                    examples.append(f"{finding.severity}: {finding.summary}")
        injected = sorted(a for a, s in result.instances.items() if rule_id in ATTACKS[s].rule_ids)
        missed = tuple(a for a in injected if a not in found[rule_id])
        scores[rule_id] = RuleScore(
            rule_id=rule_id,
            injected=len(injected),
            detected=len(injected) - len(missed),
            findings=tp + fp,
            true_positives=tp,
            false_positives=fp,
            severe_false_positives=severe,
            missed=missed,
            false_positive_examples=tuple(examples),
        )
    return scores


def evaluate(
    events: Iterable[SimEvent],
    rules: Sequence[Rule],
    *,
    partitions: int = 6,
    lateness: timedelta = timedelta(seconds=60),
) -> dict[str, RuleScore]:
    """Run labelled simulated traffic through the engine; precision/recall per rule."""
    ids = [r.id for r in rules]
    return score(run(events, rules, partitions=partitions, lateness=lateness), ids)


def format_table(scores: Mapping[str, RuleScore]) -> str:
    """A plain-text table: one line per rule."""
    head = (
        f"{'rule':<10} {'injected':>8} {'found':>6} {'recall':>7} {'findings':>9} "
        f"{'TP':>5} {'FP':>5} {'FP hi+':>7} {'precision':>10}"
    )
    lines = [head, "-" * len(head)]
    for s in scores.values():
        recall = f"{s.recall:.2f}" if s.injected else "-"
        precision = f"{s.precision:.2f}" if s.findings else "-"
        lines.append(
            f"{s.rule_id:<10} {s.injected:>8} {s.detected:>6} {recall:>7} {s.findings:>9} "
            f"{s.true_positives:>5} {s.false_positives:>5} {s.severe_false_positives:>7} "
            f"{precision:>10}"
        )
    return "\n".join(lines)
