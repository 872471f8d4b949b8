"""Changes made by an account (a console user, on the console or the CLI) go into the incidents
audit chain (append-only, hash-chained)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from accounts.models import User
from incidents import audit as audit_chain


def audit(
    *,
    session: Session,
    actor: User,
    action: str,
    details: Mapping[str, Any],
    subject: str | None = None,
) -> None:
    """Record a console change. `subject` defaults to the user row named in `details`."""
    subj = subject or f"console_user:{details.get('user_id', actor.id)}"
    audit_chain.append(
        session=session, actor=actor.email, action=action, subject=subj, data=dict(details)
    )
