"""The next required action, step by step through the workflow (pure), and the summary band
that shows it at the top of the incident page."""

from __future__ import annotations

from typing import Any

from console.next_action import STEPS, NextAction, next_action, step_states
from detectors.finding import Severity
from tests.console.support import Console, draft_for, seed_incident


def _inc(
    status: str,
    *,
    source: str = "auto",
    notices: list[dict[str, Any]] | None = None,
    notify_cnil: bool | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "notices": notices or [],
        "severity": {"source": source, "notify_cnil": notify_cnil, "notify_customer": notify_cnil},
    }


def _notice(
    id_: int,
    status: str,
    *,
    kind: str = "customer",
    version: int = 1,
    body: str = "Madame, Monsieur",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id_,
        "kind": kind,
        "scope": "acme" if kind == "customer" else "*",
        "version": version,
        "status": status,
        "subject": "Violation",
        "text_body": body,
        **extra,
    }


def test_the_workflow_from_qualification_to_closure() -> None:
    def key(inc: dict[str, Any]) -> str | None:
        found = next_action(inc)
        return found.key if found else None

    assert key(_inc("detected")) == "qualify"
    assert key(_inc("triage")) == "assess"
    assert key(_inc("triage", source="manual")) == "confirm"
    assert key(_inc("confirmed")) == "assess"
    assert key(_inc("confirmed", source="manual")) == "decide"
    assert key(_inc("confirmed", source="manual", notify_cnil=True)) == "draft"
    drafted = [
        _notice(1, "draft", body="Nombre de personnes : [à compléter]. Mesures : [à compléter].")
    ]
    assert next_action(_inc("confirmed", source="manual", notices=drafted)) == NextAction(
        "fill", "notify", ("rssi",), "notices", 2
    )
    assert next_action(_inc("confirmed", notices=[_notice(1, "draft")])) == NextAction(
        "approve", "notify", ("rssi",), "notice-1", 1
    )
    dpo = [_notice(2, "approved", kind="cnil", awaiting_dpo=True)]
    assert next_action(_inc("confirmed", notices=dpo)) == NextAction(
        "dpo", "notify", ("dpo",), "notice-2", 1
    )
    cosigned = [
        _notice(
            2,
            "draft",
            kind="cnil",
            signers=["rssi", "dpo"],
            approved_by="rssi@avmup.test",
            dpo_approved_by=None,
            missing=[],
        )
    ]
    assert next_action(_inc("confirmed", notices=cosigned)) == NextAction(
        "dpo", "notify", ("dpo",), "notice-2", 1
    )
    unsigned = [{**cosigned[0], "approved_by": None}]
    assert key(_inc("confirmed", notices=unsigned)) == "approve"
    assert next_action(
        _inc("confirmed", notices=[{**unsigned[0], "missing": ["cause"]}])
    ) == NextAction("fill", "notify", ("rssi",), "notices", 1)
    assert key(_inc("confirmed", notices=[_notice(2, "approved", kind="cnil")])) == "file_cnil"
    assert key(_inc("confirmed", notices=[_notice(3, "approved")])) == "send"
    assert (
        key(_inc("confirmed", notices=[_notice(3, "approved", delivery="uncertain")])) == "delivery"
    )
    sent = [_notice(3, "sent", delivery="sent")]
    assert key(_inc("confirmed", source="manual", notices=sent)) == "mark_notified"
    assert key(_inc("notified", notices=sent)) == "close"
    assert key(_inc("closed", notices=sent)) is None
    assert key(_inc("dismissed")) is None


def test_only_the_latest_version_of_a_notice_counts() -> None:
    versions = [
        _notice(1, "sent", version=1),
        _notice(4, "draft", version=2),
        _notice(5, "rejected", kind="cnil"),
    ]
    found = next_action(_inc("notified", notices=versions))
    assert found is not None and (found.key, found.anchor) == ("approve", "notice-4")
    assert next_action(_inc("notified", notices=versions[:1] + versions[2:])) == NextAction(
        "close", "close", ("rssi",), "status"
    )


def test_step_states_mark_done_current_and_todo() -> None:
    action = next_action(_inc("triage"))
    assert step_states(_inc("triage"), action) == [
        ("qualify", "done"),
        ("assess", "current"),
        ("decide", "todo"),
        ("notify", "todo"),
        ("close", "todo"),
    ]
    assert step_states(_inc("closed"), None) == [(s, "done") for s in STEPS]


def test_the_band_follows_the_incident_through_its_steps(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    [notice_id] = draft_for(console.factory, ref)
    client = console.login("rssi")

    def band() -> str:
        page = client.get(f"/incidents/{ref}").text
        assert page.index('id="summary"') < page.index('id="status"')  # at the top
        return page.split('id="summary"', 1)[1].split("</section>", 1)[0]

    first = band()
    assert 'data-action="qualify"' in first
    assert "qualifier : violation ou simple tentative ?" in first
    assert "par analyste, RSSI" in first and "(vous pouvez la faire)" in first
    assert (
        '<li class="step step-current"><a href="#step-qualify" aria-current="step">'
        "Qualifier</a></li>"
    ) in first
    assert 'class="countdown" data-deadline="' in first
    token = console.csrf(client, f"/incidents/{ref}")
    for to in ("triage",):
        client.post(f"/incidents/{ref}/transition", data={"to": to, "csrf_token": token})
    assert 'data-action="assess"' in band()
    client.post(
        f"/incidents/{ref}/severity",
        data={
            "dpc": "2.0",
            "ei": "1.0",
            "cb_confidentiality": "0.5",
            "persons": "3",
            "justification": "comptes clients",
            "csrf_token": token,
        },
    )
    assert 'data-action="confirm"' in band()
    client.post(f"/incidents/{ref}/transition", data={"to": "confirmed", "csrf_token": token})
    assert 'data-action="approve"' in band() and f'href="#notice-{notice_id}"' in band()
    client.post(f"/notices/{notice_id}/approve", data={"csrf_token": token})
    assert 'data-action="send"' in band()
    dpo = console.login("dpo").get(f"/incidents/{ref}").text
    assert "(vous pouvez la faire)" not in dpo.split('id="summary"', 1)[1].split("</section>", 1)[0]
