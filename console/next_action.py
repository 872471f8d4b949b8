"""The next required action on an incident, and who can take it: what the summary band at the
top of the incident page says. Pure: reads the incident's read model (`views.detail` plus its
`notices`), no database, no clock.

The workflow is qualify → assess → decide → notify → close; the first step not done yet is the
next action. Notices are read by their latest version per (kind, scope); a draft the RSSI has
signed and the DPO must co-sign (`signers`, `approved_by`, `dpo_approved_by`, or a read model's
`awaiting_dpo` flag) makes "DPO approval awaited" the next action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from accounts.roles import Role

# Facts nobody has entered yet, as the notice templates write them.
PLACEHOLDERS = ("[à compléter]", "[to be completed]")
CLOSED = frozenset({"closed", "dismissed"})
# Deliveries that need the RSSI's attention.
TROUBLE = ("failed", "uncertain")
STEPS = ("qualify", "assess", "decide", "notify", "close")
# The panel of the incident page where each step is done.
STEP_ANCHORS = {s: f"step-{s}" for s in STEPS}
# Fields a form of each step sends back when it is shown again with an error: that step's
# panel opens with it.
STEP_FORM_KEYS = {
    "qualify": ("aware_at", "aware_justification", "clock_justification", "qualify_justification"),
    "assess": ("dpc", "ei"),
    "decide": (
        "art34_exemption",
        "art34_justification",
        "notify_cnil",
        "notify_subjects",
        "decision",
        "decision_justification",
    ),
    "notify": ("field_",),
    "close": ("title", "consequences", "measures"),
}


@dataclass(frozen=True)
class NextAction:
    key: str  # message key of the sentence (`na_<key>`)
    step: str  # one of STEPS
    roles: tuple[str, ...]  # who can do it
    anchor: str  # the section of the page where it is done
    count: int = 0  # how many (fields to fill, notices to send…), when it matters


def latest_notices(notices: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The latest version of each (kind, scope)."""
    best: dict[tuple[str, str], Mapping[str, Any]] = {}
    for n in notices:
        key = (str(n.get("kind")), str(n.get("scope") or n.get("tenant_id") or "*"))
        if key not in best or int(n.get("version") or 0) > int(best[key].get("version") or 0):
            best[key] = n
    return list(best.values())


def placeholders(notice: Mapping[str, Any]) -> int:
    """How many facts of a notice are still to be completed: its `missing` list when the
    read model has one, else the markers left in its text."""
    if notice.get("missing") is not None:
        return len(notice["missing"])
    text = f"{notice.get('subject') or ''}\n{notice.get('text_body') or ''}"
    return sum(text.count(p) for p in PLACEHOLDERS)


def awaiting_dpo(notice: Mapping[str, Any]) -> bool:
    """Signed by the RSSI, waiting for the DPO's co-signature (read models that list the
    `signers` a notice needs), or flagged so (`awaiting_dpo`)."""
    if notice.get("awaiting_dpo"):
        return True
    return (
        notice.get("status") == "draft"
        and Role.DPO in (notice.get("signers") or ())
        and bool(notice.get("approved_by"))
        and not notice.get("dpo_approved_by")
    )


def _notice_queues(
    notices: list[Mapping[str, Any]],
) -> tuple[tuple[str, tuple[str, ...], list[Mapping[str, Any]], bool], ...]:
    """The notices that wait on someone, most blocking first: (message key, who can act,
    the notices, whether the band counts them)."""
    drafts = [n for n in notices if n.get("status") == "draft"]
    approved = [n for n in notices if n.get("status") == "approved"]
    return (
        ("approve", (Role.RSSI,), [n for n in drafts if not awaiting_dpo(n)], True),
        ("dpo", (Role.DPO,), [n for n in notices if awaiting_dpo(n)], True),
        ("delivery", (Role.RSSI,), [n for n in notices if n.get("delivery") in TROUBLE], True),
        (
            "file_cnil",
            (Role.RSSI, Role.DPO),
            [n for n in approved if n.get("kind") == "cnil"],
            False,
        ),
        ("send", (Role.RSSI,), [n for n in approved if n.get("kind") != "cnil"], True),
    )


def _notice_step(notices: list[Mapping[str, Any]]) -> NextAction | None:
    """What the notices still need, most blocking first; None when they are all out."""
    missing = sum(placeholders(n) for n in notices if n.get("status") == "draft")
    if missing:
        return NextAction("fill", "notify", (Role.RSSI,), "notices", missing)
    for key, roles, waiting, counted in _notice_queues(notices):
        if waiting:
            count = len(waiting) if counted else 0
            return NextAction(key, "notify", roles, f"notice-{waiting[0]['id']}", count)
    return None


def next_action(inc: Mapping[str, Any]) -> NextAction | None:
    """The next step of `inc` (the page's read model), or None when it is closed."""
    status = str(inc.get("status"))
    if status in CLOSED:
        return None
    if status == "detected":
        return NextAction("qualify", "qualify", (Role.ANALYST, Role.RSSI), "status")
    severity: Mapping[str, Any] = inc.get("severity") or {}
    assessed = severity.get("source") == "manual"
    if status == "triage":
        if not assessed:
            return NextAction("assess", "assess", (Role.ANALYST, Role.RSSI), "severity")
        return NextAction("confirm", "decide", (Role.ANALYST, Role.RSSI), "status")
    notices = latest_notices(inc.get("notices") or [])
    pending = _notice_step([n for n in notices if n.get("status") != "rejected"])
    if pending is not None:
        return pending
    if status == "confirmed":
        if not assessed:
            return NextAction("assess", "assess", (Role.ANALYST, Role.RSSI), "severity")
        if not notices:
            if severity.get("notify_cnil") is None and severity.get("notify_customer") is None:
                return NextAction("decide", "decide", (Role.RSSI,), "decision")
            return NextAction("draft", "notify", (Role.RSSI,), "notices")
        return NextAction("mark_notified", "notify", (Role.RSSI,), "status")
    return NextAction("close", "close", (Role.RSSI,), "status")


def step_states(inc: Mapping[str, Any], action: NextAction | None) -> list[tuple[str, str]]:
    """(step, "done" | "current" | "todo") for each step of the workflow."""
    if action is None:
        return [(s, "done") for s in STEPS]
    current = STEPS.index(action.step)
    return [
        (s, "done" if i < current else "current" if i == current else "todo")
        for i, s in enumerate(STEPS)
    ]


def status_step(action: NextAction | None) -> str:
    """The step whose panel holds the status form: the one the incident is at."""
    return action.step if action is not None else "close"


def _for_user(notice: Mapping[str, Any], role: str) -> bool:
    """Whether `role` has something to do on this notice: sign it, or send it (RSSI)."""
    if notice.get("status") == "draft":
        signed: dict[str, Any] = {
            Role.RSSI: notice.get("approved_by"),
            Role.DPO: notice.get("dpo_approved_by"),
        }
        return role in (notice.get("signers") or (Role.RSSI,)) and not signed.get(role)
    return role == Role.RSSI and notice.get("status") == "approved" and notice.get("kind") != "cnil"


def open_steps(
    inc: Mapping[str, Any],
    action: NextAction | None,
    *,
    form: Mapping[str, Any] | None = None,
    role: str = "",
) -> frozenset[str]:
    """The steps whose panel is open when the page is shown: the current one, the one whose
    form comes back with an error, and "notify" while a notice waits for this reader."""
    opened = {status_step(action)}
    for step, keys in STEP_FORM_KEYS.items():
        if any(k.startswith(keys) for k in (form or {})):
            opened.add(step)
    if (form or {}).get("justification") is not None:
        opened.add("assess")
    notices = latest_notices(inc.get("notices") or [])
    if role and any(_for_user(n, role) for n in notices):
        opened.add("notify")
    return frozenset(opened)
