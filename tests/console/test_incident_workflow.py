"""The incident page as a guided workflow: five step panels in order, each with its state and
its forms, the current one open and the status form inside it; the case file folded; notice
previews as the e-mail's HTML part in a sandboxed frame, served with a policy of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from console.next_action import NextAction, open_steps
from console.rule_wording import FR, finding_summary
from detectors.finding import Severity
from tests.console.support import Console, draft_for, seed_incident

STEPS = ("qualify", "assess", "decide", "notify", "close")


def _panels(page: str) -> dict[str, str]:
    """Each step's panel, from its opening tag to the next step (or the end of the list)."""
    starts = [(m.group(1), m.start()) for m in re.finditer(r'<details id="step-(\w+)"', page)]
    end = page.index("</ol>", starts[-1][1]) if starts else 0
    bounds = [*(s for _, s in starts[1:]), end]
    return {name: page[start:stop] for (name, start), stop in zip(starts, bounds, strict=True)}


def _is_open(panel: str) -> bool:
    return panel.split(">", 1)[0].endswith(" open")


def test_the_steps_hold_their_forms_and_only_the_current_one_is_open(console: Console) -> None:
    ref = seed_incident(console.factory, severity=Severity.CRITICAL)
    client = console.login("analyst")
    page = client.get(f"/incidents/{ref}").text
    panels = _panels(page)
    assert list(panels) == list(STEPS)  # in the workflow's order
    assert [s for s in STEPS if _is_open(panels[s])] == ["qualify"]
    assert 'data-state="current"' in panels["qualify"]
    assert all('data-state="todo"' in panels[s] for s in STEPS[1:])
    # Each step opens its forms; the status form sits in the current step.
    assert 'id="status"' in panels["qualify"] and 'action="/incidents/' in panels["qualify"]
    assert page.count('id="status"') == 1 and page.count('id="to"') == 1
    assert 'id="clocks"' in panels["qualify"]
    assert f'action="/incidents/{ref}/severity"' in panels["assess"]
    assert 'id="assess-form"' in panels["decide"]
    assert 'id="notices"' in panels["notify"]
    # The case file is folded: findings and evidence, tenants, timeline, audit trail.
    for section in ("findings", "evidence", "tenants", "timeline", "audit"):
        before = page[: page.index(f'id="{section}"')]
        assert before.rfind('<details id="more-') > before.rfind("</details>"), section
    assert not re.search(r'<details id="more-[\w-]+" class="record-panel" open', page)

    # Moving on: the status form follows the incident to its current step.
    token = console.csrf(client, f"/incidents/{ref}")
    client.post(f"/incidents/{ref}/transition", data={"to": "triage", "csrf_token": token})
    panels = _panels(client.get(f"/incidents/{ref}").text)
    assert [s for s in STEPS if _is_open(panels[s])] == ["assess"]
    assert 'id="status"' in panels["assess"] and 'id="status"' not in panels["qualify"]
    assert 'data-state="done"' in panels["qualify"]


def test_a_form_shown_again_with_an_error_opens_its_step(console: Console) -> None:
    ref = seed_incident(console.factory)
    client = console.login("rssi")
    token = console.csrf(client, f"/incidents/{ref}")
    resp = client.post(
        f"/incidents/{ref}/aware-at",
        follow_redirects=False,
        data={"aware_at": "not a date", "justification": "", "csrf_token": token},
    )
    assert resp.status_code == 422
    resp = client.post(
        f"/incidents/{ref}/decision",
        follow_redirects=False,
        data={"decision": "Informer le client", "justification": "   ", "csrf_token": token},
    )
    assert resp.status_code == 422
    panels = _panels(resp.text)
    assert _is_open(panels["decide"]) and 'value="' in panels["decide"]


def test_open_steps() -> None:
    action = NextAction("qualify", "qualify", ("analyst", "rssi"), "status")
    draft = {
        "id": 1,
        "kind": "customer",
        "scope": "acme",
        "version": 1,
        "status": "draft",
        "signers": ["rssi"],
        "approved_by": None,
        "dpo_approved_by": None,
    }
    inc = {"status": "detected", "notices": [draft]}
    assert open_steps(inc, action, role="analyst") == {"qualify"}
    assert open_steps(inc, action, role="rssi") == {"qualify", "notify"}  # a draft to sign
    assert open_steps(inc, action, form={"field_cause": "x"}) == {"qualify", "notify"}
    assert open_steps(inc, action, form={"decision": "x"}) == {"qualify", "decide"}
    assert open_steps({"status": "closed"}, None) == {"close"}


@pytest.mark.parametrize("fresh_db_url", ["sqlite"], indirect=True)
def test_the_notice_preview_is_the_mail_html_in_a_sandboxed_frame(console: Console) -> None:
    ref = seed_incident(
        console.factory, severity=Severity.CRITICAL, actor='"><script>alert(1)</script>'
    )
    [notice_id, *_] = draft_for(console.factory, ref)
    client = console.login("analyst")
    page = client.get(f"/incidents/{ref}").text
    frame = re.search(
        rf'<iframe class="mail-preview" src="/notices/{notice_id}/preview"'
        r"([^>]*)>",
        page,
    )
    assert frame is not None and 'sandbox=""' in frame.group(1)
    assert 'title="' in frame.group(1)
    # The text part, one click away.
    assert '<details class="text-part"><summary>' in page
    resp = client.get(f"/notices/{notice_id}/preview")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "frame-ancestors 'self'" in csp
    assert resp.headers["x-frame-options"] == "SAMEORIGIN"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.text.lstrip().lower().startswith("<!doctype html>")
    assert "<script>" not in resp.text  # the hostile actor id stays text
    assert client.get("/notices/999999/preview").status_code == 404
    # The console's own pages still refuse to be framed.
    assert client.get(f"/incidents/{ref}").headers["x-frame-options"] == "DENY"


def test_rule_summaries_in_the_console_language() -> None:
    finding = {
        "rule_id": "AUTH-001",
        "count": 12,
        "records": 0,
        "actor_ids": ["a1"],
        "summary": "Brute force: 12 failed logins on account a1 of tenant acme",
    }
    assert finding_summary("fr", finding) == (
        "Force brute : 12 échecs de connexion sur le compte a1"
    )
    assert finding_summary("en", finding) == finding["summary"]
    # A rule the catalogue does not ship keeps its author's summary.
    own = {**finding, "rule_id": "LOCAL-1", "summary": "Règle maison"}
    assert finding_summary("fr", own) == "Règle maison"
    # Every rule of the catalogue has its French wording.
    catalogue = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "detectors" / "rules" / "default.yaml").read_text(
            encoding="utf-8"
        )
    )
    assert {r["id"] for r in catalogue["rules"]} == set(FR)
