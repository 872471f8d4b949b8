"""Domain errors of the incidents package."""

from __future__ import annotations

from consumers.errors import Conflict, Invalid, NotFound, TocsinError, Unavailable


class IncidentError(TocsinError):
    """Root of the incidents domain errors."""


class IncidentNotFound(IncidentError, NotFound):
    """No incident with that reference or id."""


class InvalidTransition(IncidentError, Conflict):
    """The lifecycle does not allow this status change (or a required reason is missing)."""


class JustificationRequired(IncidentError, Invalid):
    """A change that the law asks to justify came without a justification."""


class InvalidClockChange(IncidentError, Invalid):
    """A clock fact that makes no sense (unknown tenant, naive or future time...)."""


class InvalidSeverityInput(IncidentError, Invalid):
    """An ENISA input outside the values the method allows."""


class AuditChainError(IncidentError, Unavailable):
    """The audit chain cannot be appended to (missing head row...)."""


class InvalidIncidentInput(IncidentError, Invalid):
    """A structured incident field outside its allowed values; the message names the field."""


class InvalidDeclaration(IncidentError, Invalid):
    """A declared breach with a field that makes no sense; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
