"""Enumerations of the incidents domain (stored as their string values)."""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    DETECTED = "detected"
    TRIAGE = "triage"
    CONFIRMED = "confirmed"
    NOTIFIED = "notified"
    CLOSED = "closed"
    DISMISSED = "dismissed"

    @property
    def is_open(self) -> bool:
        return self not in (IncidentStatus.CLOSED, IncidentStatus.DISMISSED)


OPEN_STATUSES: tuple[IncidentStatus, ...] = tuple(s for s in IncidentStatus if s.is_open)


class Clock(StrEnum):
    """The legal clocks of an incident. `customer` runs per affected tenant."""

    CUSTOMER = "customer"
    CNIL = "cnil"


class ClockState(StrEnum):
    RUNNING = "running"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    MET = "met"
    STOPPED = "stopped"


class ClockFactKind(StrEnum):
    MET = "met"
    STOPPED = "stopped"
    RESUMED = "resumed"


class CustomerRole(StrEnum):
    """`processor`: AVM Up processes the customer's data (tell the customer).
    `controller`: AVM Up's own processing (AVM Up notifies the CNIL and the persons)."""

    PROCESSOR = "processor"
    CONTROLLER = "controller"


class Language(StrEnum):
    FR = "fr"
    EN = "en"


class SeverityBand(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class Art34Exemption(StrEnum):
    """GDPR Art. 34(3): communication to the persons not required."""

    UNINTELLIGIBLE = "a_unintelligible"
    RISK_NO_LONGER_LIKELY = "b_measures_taken"
    DISPROPORTIONATE_EFFORT = "c_disproportionate_effort"


class IncidentSource(StrEnum):
    """How a breach came to light: a rule, or a person who reported it."""

    DETECTED = "detected"
    STAFF_REPORT = "staff_report"
    CUSTOMER_REPORT = "customer_report"
    SUBPROCESSOR_REPORT = "subprocessor_report"
    AUTHORITY = "authority"
    DATA_SUBJECT = "data_subject"
    OTHER = "other"


class Nature(StrEnum):
    """What the breach compromised (`attempt` alone: nothing was reached, Art. 4(12))."""

    CONFIDENTIALITY = "confidentiality"
    INTEGRITY = "integrity"
    AVAILABILITY = "availability"
    ATTEMPT = "attempt"


class DecisionKind(StrEnum):
    COMMENT = "comment"
    DECISION = "decision"
