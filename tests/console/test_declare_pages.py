"""The declaration form and the decision form in the console: CSRF, roles, a bad form shown
again with its message and what was typed, the advice shown beside the decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents.db import transaction
from notifiers.customers import CustomerRow, import_rows
from tests.console.support import Console, csrf_from


def _customer(console: Console) -> None:
    with transaction(console.factory) as session:
        import_rows(
            session=session,
            rows=[
                CustomerRow(
                    tenant_id="acme",
                    name="ACME SA",
                    contact_email="dpo@acme.test",
                    language="fr",
                    notify_delay_hours=24.0,
                    role="processor",
                )
            ],
        )


def test_declare_form_reshows_errors_then_declares(console: Console) -> None:
    _customer(console)
    client = console.login("analyst")
    page = client.get("/declare")
    assert page.status_code == 200 and 'name="tenant_ids"' in page.text
    token = csrf_from(page.text)
    summary = "<script>alert('x')</script> fax envoyé au mauvais numéro"
    bad = client.post(
        "/declare",
        data={
            "csrf_token": token,
            "tenant_ids": "acme, ghost",
            "source": "customer_report",
            "nature": "confidentiality",
            "summary": summary,
        },
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert "tenant_ids: unknown tenant &#39;ghost&#39;" in bad.text
    assert "acme, ghost" in bad.text  # what was typed is kept
    assert "<script>alert" not in bad.text and "&lt;script&gt;" in bad.text
    empty = client.post(
        "/declare",
        data={"csrf_token": token, "tenant_ids": "acme", "source": "customer_report"},
        follow_redirects=False,
    )
    assert empty.status_code == 422 and "nature: at least one" in empty.text
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    ahead = client.post(
        "/declare",
        data={
            "csrf_token": token,
            "tenant_ids": "acme",
            "source": "customer_report",
            "nature": "confidentiality",
            "aware_at": future,
            "aware_justification": "x",
        },
        follow_redirects=False,
    )
    assert ahead.status_code == 422 and "aware_at: cannot be in the future" in ahead.text
    no_csrf = client.post(
        "/declare",
        data={"tenant_ids": "acme", "source": "other", "nature": "confidentiality"},
        follow_redirects=False,
    )
    assert no_csrf.status_code == 403
    ok = client.post(
        "/declare",
        data={
            "csrf_token": token,
            "tenant_ids": "acme",
            "source": "customer_report",
            "nature": "confidentiality",
            "data_categories": ["content", "identification"],
            "services": "faxbis",
            "persons": "2",
            "records": "5",
            "summary": summary,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    location = ok.headers["location"]
    assert location.startswith("/incidents/INC-")
    shown = client.get(location.split("?")[0])
    assert shown.status_code == 200
    assert 'data-source="customer_report"' in shown.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; fax envoyé" in shown.text
    assert 'data-advice-customer="yes"' in shown.text
    assert 'data-informative="1"' in shown.text  # the CNIL clock is the customer's
    assert 'data-role="processor"' in shown.text


def test_only_the_rssi_decides_and_the_decision_sits_beside_the_advice(
    console: Console,
) -> None:
    _customer(console)
    client = console.login("rssi")
    token = csrf_from(client.get("/declare").text)
    ok = client.post(
        "/declare",
        data={
            "csrf_token": token,
            "source": "staff_report",
            "nature": "confidentiality",
            "data_categories": "identification",
            "persons": "12",
            "confirmed": "on",
        },
        follow_redirects=False,
    )
    ref = ok.headers["location"].split("/")[2].split("?")[0]
    form = {
        "dpc": "1.0",
        "ei": "1.0",
        "cb_confidentiality": "0.25",
        "cb_integrity": "0",
        "cb_availability": "0",
        "persons": "12",
        "art34_exemption": "",
        "notify_cnil": "yes",
        "notify_subjects": "advice",
        "justification": "the list was posted on a forum",
    }
    analyst = console.login("analyst")
    denied = analyst.post(
        f"/incidents/{ref}/assess",
        data={**form, "csrf_token": csrf_from(analyst.get("/declare").text)},
        follow_redirects=False,
    )
    assert denied.status_code == 403
    missing = client.post(
        f"/incidents/{ref}/assess",
        data={**form, "justification": "", "csrf_token": token},
        follow_redirects=False,
    )
    assert missing.status_code == 422
    done = client.post(
        f"/incidents/{ref}/assess", data={**form, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    page = client.get(f"/incidents/{ref}").text
    assert 'data-advice-cnil="no"' in page  # low band, no intent: the advice said no
    assert 'data-decision-cnil="yes"' in page and 'data-overridden="yes"' in page
    assert "the list was posted on a forum" in page
    assert 'data-factor="intent"' in page and 'data-factor="role"' in page
    assert 'data-kind="cnil"' in page  # the CNIL notice follows the decision
    assert 'data-role="controller"' in page  # no tenant: AVM Up's own processing
