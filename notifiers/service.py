"""Approval workflow (docs/architecture.md §10): `draft → approved → sent`, or `rejected`.

The RSSI approves customer notices; CNIL, data-subject and public notices need the DPO's
signature too, in either order, each audited. A notice with a fact still « [à compléter] »
cannot be approved. Edits made at approval are stored (the
drafted parts are kept in `Notice.original`) and their unified diff goes to the audit chain.
A CNIL notice approved after `cnil_due` needs reasons for the delay. Approving a customer or
data-subject notice enqueues its outbox row (nothing is sent without approval); a CNIL notice
is filed by hand on the teleservice and its receipt number recorded with
`record_cnil_receipt`, which marks it sent and meets the CNIL clock.
"""

from __future__ import annotations

import difflib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.conventions import SYSTEM_ACTOR, Role
from incidents import audit
from incidents import clocks as incident_clocks
from incidents.enums import Clock
from incidents.models import Customer
from notifiers import wording
from notifiers.enums import (
    CO_SIGNED_KINDS,
    NoticeKind,
    NoticeStatus,
    OutboxPurpose,
    OutboxState,
)
from notifiers.exceptions import (
    ApprovalDenied,
    InvalidNoticeTransition,
    MissingRecipient,
    NoticeIncomplete,
    NoticeNotFound,
    ReasonsForDelayRequired,
)
from notifiers.mail import validate_address
from notifiers.models import Notice, OutboxMessage
from notifiers.render import render_notice, text_to_html
from notifiers.schemas import (
    CnilNoticeContext,
    NoticeEdit,
    missing_fields,
    one_line,
    paragraph,
)
from notifiers.wording import TBC_MARKERS

APPROVER_ROLE = Role.RSSI
DPO_ROLE = Role.DPO
RECEIPT_ROLES = frozenset({Role.RSSI, Role.DPO})
DEFAULT_MESSAGE_DOMAIN = "tocsin.avmup.com"
_RECEIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$")


def get(*, session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NoticeNotFound(f"no notice with id {notice_id}")
    return notice


def list_notices(
    *,
    session: Session,
    incident_id: int | None = None,
    status: str | None = None,
    limit: int = 1000,
) -> list[Notice]:
    stmt = select(Notice).order_by(Notice.incident_id, Notice.kind, Notice.scope, Notice.version)
    if incident_id is not None:
        stmt = stmt.where(Notice.incident_id == incident_id)
    if status is not None:
        stmt = stmt.where(Notice.status == status)
    return list(session.scalars(stmt.limit(limit)))


def _audit(
    session: Session, notice: Notice, *, actor: str, action: str, at: datetime, **data: Any
) -> None:
    """One audit entry about `notice` (its incident is the subject): the notice, its kind and
    version, then `data`."""
    audit.append(
        session=session,
        actor=actor,
        action=action,
        subject=notice.incident.ref,
        at=at,
        data={"notice_id": notice.id, "kind": notice.kind, "version": notice.version, **data},
    )


def _require_draft(notice: Notice, action: str) -> None:
    if notice.status != NoticeStatus.DRAFT:
        raise InvalidNoticeTransition(
            f"notice {notice.id} is {notice.status}: only a draft can be {action}"
        )


def edit_diff(*, before: Notice | dict[str, str], subject: str, text: str) -> str:
    """Unified diff of subject + text between the draft and the approved version."""
    if isinstance(before, Notice):
        old_subject, old_text = before.subject, before.text_body
    else:
        old_subject, old_text = before["subject"], before["text"]
    old = [f"Subject: {old_subject}\n", "\n", *old_text.splitlines(keepends=True)]
    new = [f"Subject: {subject}\n", "\n", *text.splitlines(keepends=True)]
    return "".join(difflib.unified_diff(old, new, fromfile="draft", tofile="approved"))


def _rerender_cnil(notice: Notice, reasons: str, now: datetime) -> None:
    context = CnilNoticeContext.model_validate(
        {k: v for k, v in notice.context.items() if k in CnilNoticeContext.model_fields}
    )
    context = context.model_copy(update={"reasons_for_delay": paragraph(reasons), "late": True})
    rendered = render_notice(context)
    notice.subject, notice.text_body, notice.html_body = (
        rendered.subject,
        rendered.text,
        rendered.html,
    )
    notice.context = context.model_dump(mode="json")
    notice.updated_at = now


def _recipients_for(
    session: Session, notice: Notice, recipients: Sequence[str] | None
) -> list[str]:
    if notice.kind == NoticeKind.CUSTOMER:
        customer = session.get(Customer, notice.tenant_id) if notice.tenant_id else None
        if customer is None or not customer.contact_email:
            raise MissingRecipient(
                f"notice {notice.id}: no contact e-mail for customer {notice.tenant_id!r} "
                "(tocsin customers import)"
            )
        return [validate_address(a) for a in re.split(r"[;,]", customer.contact_email) if a.strip()]
    return [validate_address(a) for a in recipients or ()]


def signers_needed(kind: str) -> tuple[Role, ...]:
    """The roles whose approval a notice of `kind` needs: the RSSI for customer notices; the
    RSSI and the DPO for what goes to the CNIL, to data subjects or to the public."""
    return (APPROVER_ROLE, DPO_ROLE) if kind in CO_SIGNED_KINDS else (APPROVER_ROLE,)


def signatures(notice: Notice) -> dict[str, tuple[str, datetime] | None]:
    """Who signed, by role (None = not yet)."""
    out: dict[str, tuple[str, datetime] | None] = {}
    for role in signers_needed(notice.kind):
        by, at = (
            (notice.approved_by, notice.approved_at)
            if role == APPROVER_ROLE
            else (notice.dpo_approved_by, notice.dpo_approved_at)
        )
        out[role] = (by, at) if by is not None and at is not None else None
    return out


def missing(notice: Notice) -> list[str]:
    """The facts still « [à compléter] » in a notice: structured fields, organisation
    settings, and any marker left in the text (typed or drafted)."""
    found = missing_fields(notice.kind, notice.context or {})
    body = f"{notice.subject}\n{notice.text_body}"
    if any(marker in body for marker in TBC_MARKERS) and not found:
        found.append("text")
    return found


def _field_lines(notice: Notice) -> list[str]:
    """The lines of the drafted text that print a structured incident field (cause, origin,
    sub-processors, ongoing, measures): an edit at approval must keep them as they are."""
    ctx = notice.context or {}
    lang = notice.language if notice.language in ("fr", "en") else "fr"
    values = [
        wording.label(lang, vocab, ctx.get(name))
        for vocab, name in (
            ("cause", "cause"),
            ("origin", "origin"),
            ("yes_no", "subprocessors_involved"),
            ("yes_no", "breach_ongoing"),
        )
        if ctx.get(name)
    ]
    values += [
        f"- {m}" for m in (ctx.get("measures_taken") or []) + (ctx.get("measures_proposed") or [])
    ]
    return [
        line.strip()
        for line in notice.text_body.splitlines()
        if line.strip() and any(v in line for v in values)
    ]


def _refuse_contradictions(notice: Notice, text: str) -> None:
    kept = {line.strip() for line in text.splitlines()}
    changed = [line for line in _field_lines(notice) if line not in kept]
    if changed:
        raise InvalidNoticeTransition(
            f"notice {notice.id}: the edit changes {changed[0]!r}, which comes from the "
            "incident's fields: edit the fields instead (the notice is re-drafted from them)"
        )


def void_signatures(
    *, session: Session, notice: Notice, now: datetime, actor: str = SYSTEM_ACTOR
) -> None:
    """A draft whose facts changed after a first signature must be signed again; audited."""
    signed = [role for role, sig in signatures(notice).items() if sig is not None]
    if not signed:
        return
    notice.approved_by = notice.approved_at = None
    notice.dpo_approved_by = notice.dpo_approved_at = None
    _audit(session, notice, actor=actor, action="notice.signatures_voided", at=now, roles=signed)


def _check_signer(
    notice: Notice, user_role: str, edits: NoticeEdit | None, reasons: str | None
) -> tuple[Role, ...]:
    """The roles `notice` needs, once `user_role` may sign it now with `edits` and `reasons`
    (nothing may change the text after the other signature)."""
    needed = signers_needed(notice.kind)
    if user_role not in needed:
        who = " and the DPO" if len(needed) > 1 else ""
        raise ApprovalDenied(
            f"only the RSSI{who} may approve a {notice.kind} notice (role {user_role!r})"
        )
    _require_draft(notice, "approved")
    current = signatures(notice)
    if current.get(user_role) is not None:
        raise InvalidNoticeTransition(
            f"notice {notice.id} is already signed by the {user_role.upper()}"
        )
    other_signed = [r for r, sig in current.items() if r != user_role and sig is not None]
    if other_signed and (_has_edits(edits) or reasons):
        raise InvalidNoticeTransition(
            f"notice {notice.id} is already signed by the {other_signed[0].upper()}: edits "
            "would change the signed text (reject it, or sign it as it is)"
        )
    if notice.kind == NoticeKind.CNIL and edits is not None and edits.text is not None:
        raise InvalidNoticeTransition(
            "the CNIL notice and its form are rendered from the incident's fields: edit the "
            "fields (cause, origin, measures...) instead of the text"
        )
    return needed


def _has_edits(edits: NoticeEdit | None) -> bool:
    return edits is not None and (edits.subject is not None or edits.text is not None)


def _check_delay(notice: Notice, reasons: str | None, now: datetime, cnil_hours: float) -> None:
    """A CNIL notice approved after its deadline needs the reasons for the delay (Art. 33(1));
    reasons given re-render it."""
    if notice.kind != NoticeKind.CNIL:
        return
    incident = notice.incident
    due = incident_clocks.cnil_due(
        aware_at=incident.aware_at,
        policy=incident_clocks.ClockPolicy(cnil_hours=cnil_hours),
    )
    if now > due and not (reasons or notice.reasons_for_delay):
        raise ReasonsForDelayRequired(
            f"{incident.ref}: the CNIL deadline passed at {due.isoformat()}; Art. 33(1) "
            "requires the reasons for the delay"
        )
    if reasons:
        notice.reasons_for_delay = reasons
        _rerender_cnil(notice, reasons, now)


def _apply_edits(notice: Notice, edits: NoticeEdit | None) -> str:
    """Apply the edits made at approval, keeping the drafted parts in `Notice.original`;
    returns their unified diff ("" when nothing changed)."""
    if edits is None or not _has_edits(edits):
        return ""
    subject = edits.subject if edits.subject is not None else notice.subject
    text = edits.text if edits.text is not None else notice.text_body
    _refuse_contradictions(notice, text)
    diff = edit_diff(before=notice, subject=subject, text=text)
    if diff:
        notice.original = {
            "subject": notice.subject,
            "text": notice.text_body,
            "html": notice.html_body,
        }
        notice.subject = one_line(subject)[:250]
        notice.text_body = text if text.endswith("\n") else text + "\n"
        notice.html_body = text_to_html(
            notice.text_body, title=notice.subject, language=notice.language
        )
        notice.edited = True
    return diff


def _refuse_incomplete(notice: Notice) -> None:
    left = missing(notice)
    if left:
        raise NoticeIncomplete(
            f"notice {notice.id}: still « [à compléter] », cannot be approved: " + ", ".join(left)
        )


def _sign(notice: Notice, user_role: str, user_email: str, now: datetime) -> bool:
    """Record `user_email`'s signature in `user_role`; True once every signature is there."""
    if user_role == APPROVER_ROLE:
        notice.approved_by, notice.approved_at = user_email, now
    else:
        notice.dpo_approved_by, notice.dpo_approved_at = user_email, now
    notice.updated_at = now
    return all(sig is not None for sig in signatures(notice).values())


def approve(
    *,
    session: Session,
    notice: Notice,
    user_email: str,
    user_role: str,
    edits: NoticeEdit | None,
    reasons_for_delay: str | None,
    now: datetime,
    cnil_hours: float = incident_clocks.ClockPolicy.cnil_hours,
    recipients: Sequence[str] | None = None,
    message_domain: str = DEFAULT_MESSAGE_DOMAIN,
) -> Notice:
    """Sign a draft, applying `edits`; once every signature it needs is there (the RSSI's;
    also the DPO's for CNIL, data-subject and public notices, in either order) it is
    approved and its e-mail enqueued when it has one.

    Refused while a fact is still « [à compléter] ». Edits and reasons for delay are only
    accepted before the other signature (they would change what was signed). The text of a
    CNIL notice is not edited by hand: it and the form are rendered from the incident's
    fields. `recipients` are the data subjects' addresses for a data-subject notice (a
    customer notice goes to the customer's contact; a CNIL notice is filed by hand). A
    data-subject notice approved without recipients is communicated by other means
    (Art. 34(3)(c)). Not committed.
    """
    reasons = paragraph(reasons_for_delay) if reasons_for_delay else None
    needed = _check_signer(notice, user_role, edits, reasons)
    _check_delay(notice, reasons, now, cnil_hours)
    to = _recipients_for(session, notice, recipients) if notice.kind != NoticeKind.CNIL else []
    diff = _apply_edits(notice, edits)
    _refuse_incomplete(notice)
    if diff:
        _audit(
            session,
            notice,
            actor=user_email,
            action="notice.edited",
            at=now,
            tenant_id=notice.tenant_id,
            diff=diff,
        )
    complete = _sign(notice, user_role, user_email, now)
    if len(needed) > 1:
        _audit(
            session,
            notice,
            actor=user_email,
            action="notice.signed",
            at=now,
            role=user_role,
            complete=complete,
        )
    if complete:
        _mark_approved(
            session,
            notice,
            user_email=user_email,
            needed=needed,
            to=to,
            now=now,
            message_domain=message_domain,
        )
    session.flush()
    return notice


def _mark_approved(
    session: Session,
    notice: Notice,
    *,
    user_email: str,
    needed: Sequence[Role],
    to: Sequence[str],
    now: datetime,
    message_domain: str,
) -> None:
    """The last signature is there: the notice is approved, its e-mail enqueued (if it has
    recipients), audited."""
    notice.status = NoticeStatus.APPROVED
    if to:
        enqueue_notice(
            session=session, notice=notice, recipients=to, now=now, message_domain=message_domain
        )
    _audit(
        session,
        notice,
        actor=user_email,
        action="notice.approved",
        at=now,
        phase=notice.phase,
        tenant_id=notice.tenant_id,
        edited=notice.edited,
        reasons_for_delay=bool(notice.reasons_for_delay),
        recipients=len(to),
        signed_by=list(needed),
    )


def new_message_id(label: str, domain: str) -> str:
    return f"<tocsin.{label}.{secrets.token_hex(8)}@{domain}>"


def enqueue_notice(
    *,
    session: Session,
    notice: Notice,
    recipients: Sequence[str],
    now: datetime,
    message_domain: str = DEFAULT_MESSAGE_DOMAIN,
) -> OutboxMessage:
    """The outbox row of an approved notice version (one per version: unique `notice_id`)."""
    existing = session.scalar(select(OutboxMessage).where(OutboxMessage.notice_id == notice.id))
    if existing is not None:
        return existing
    row = OutboxMessage(
        purpose=OutboxPurpose.NOTICE.value,
        kind=notice.kind,
        notice_id=notice.id,
        incident_id=notice.incident_id,
        tenant_id=notice.tenant_id,
        reference=notice.incident.ref,
        message_id=new_message_id(f"n{notice.id}v{notice.version}", message_domain),
        recipients=list(recipients),
        subject=notice.subject,
        text_body=notice.text_body,
        html_body=notice.html_body,
        language=notice.language,
        state=OutboxState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def reject(
    *, session: Session, notice: Notice, user_email: str, user_role: str, reason: str, now: datetime
) -> Notice:
    """Reject a draft with a reason: the RSSI, or the DPO for the notices it co-signs. A later
    material change drafts anew."""
    if user_role not in signers_needed(notice.kind):
        raise ApprovalDenied(f"role {user_role!r} may not reject a {notice.kind} notice")
    _require_draft(notice, "rejected")
    reason = paragraph(reason)
    if not reason:
        raise InvalidNoticeTransition("a rejection needs a reason")
    mark_rejected(session=session, notice=notice, actor=user_email, reason=reason, now=now)
    session.flush()
    return notice


def mark_rejected(
    *, session: Session, notice: Notice, actor: str, reason: str, now: datetime
) -> None:
    """Record the rejection of a draft by `actor` (a person, or Tocsin itself), audited.
    Callers check who may reject; not flushed."""
    notice.status = NoticeStatus.REJECTED
    notice.rejected_by = actor
    notice.rejected_at = now
    notice.rejection_reason = reason
    notice.updated_at = now
    _audit(
        session,
        notice,
        actor=actor,
        action="notice.rejected",
        at=now,
        tenant_id=notice.tenant_id,
        reason=reason,
    )


def record_cnil_receipt(
    *,
    session: Session,
    notice: Notice,
    receipt: str,
    user_email: str,
    user_role: str,
    filed_at: datetime,
    now: datetime,
) -> Notice:
    """Record the teleservice receipt number of an approved CNIL notice: it is then `sent`
    (filed at `filed_at`) and the CNIL clock is met. RSSI or DPO."""
    if user_role not in RECEIPT_ROLES:
        raise ApprovalDenied(f"role {user_role!r} may not record a CNIL receipt")
    if notice.kind != NoticeKind.CNIL:
        raise InvalidNoticeTransition(f"notice {notice.id} is not a CNIL notice")
    if notice.status != NoticeStatus.APPROVED:
        raise InvalidNoticeTransition(
            f"notice {notice.id} is {notice.status}: approve it before filing"
        )
    receipt = one_line(receipt)
    if not _RECEIPT.match(receipt):
        raise InvalidNoticeTransition("receipt number: 1-64 letters, digits, space . _ / -")
    if filed_at > now:
        raise InvalidNoticeTransition("the filing time cannot be in the future")
    notice.cnil_receipt = receipt
    notice.cnil_receipt_at = filed_at
    notice.cnil_receipt_by = user_email
    notice.status = NoticeStatus.SENT
    notice.sent_at = filed_at
    notice.updated_at = now
    incident_clocks.mark_clock_met(
        session=session, incident=notice.incident, clock=Clock.CNIL, at=filed_at, actor=user_email
    )
    audit.append(
        session=session,
        actor=user_email,
        action="notice.cnil_filed",
        subject=notice.incident.ref,
        at=now,
        data={
            "notice_id": notice.id,
            "version": notice.version,
            "receipt": receipt,
            "filed_at": filed_at,
        },
    )
    session.flush()
    return notice
