"""Attempts are not breaches, through the real broker and `tocsin ingest`: a password-spraying
run (failures only) opens an incident of nature `attempt` that drafts no notice even once
confirmed; an account takeover (failures, then a success and reads) is a breach whose customer
notice says « à déterminer », never « environ 0 », for what Tocsin could not count."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import Env, make_env, produce, run_ingest, simulated, tocsin, tocsin_json
from tocsin.dev.broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(600)


def _cli(env: Env, *args: str) -> str:
    return tocsin(env, *args).stdout


def _with_rule(incidents: list[dict[str, Any]], rule: str) -> dict[str, Any]:
    [found] = [i for i in incidents if rule in i["rule_ids"]]
    return found


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_spraying_is_an_attempt_and_a_takeover_a_breach(
    broker: EmbeddedBroker, fresh_db_url: str
) -> None:
    env = make_env(broker, fresh_db_url)
    produce(env, simulated(3000, ["password_spraying", "account_takeover"]))
    run_ingest(env)
    incidents = tocsin_json(env, "incidents", "list", "--json")

    spraying = _with_rule(incidents, "AUTH-002")
    assert spraying["nature"] == ["attempt"]
    _cli(env, "incidents", "transition", spraying["ref"], "triage")
    _cli(env, "incidents", "transition", spraying["ref"], "confirmed")
    assert tocsin_json(env, "notices", "draft", spraying["ref"]) == []
    assert tocsin_json(env, "notices", "list", "--incident", spraying["ref"], "--json") == []

    takeover = _with_rule(incidents, "AUTH-003")
    assert takeover["nature"] == ["confidentiality"]
    _cli(env, "incidents", "transition", takeover["ref"], "triage")
    _cli(env, "incidents", "transition", takeover["ref"], "confirmed")
    written = tocsin_json(env, "notices", "draft", takeover["ref"])
    assert written and {n["kind"] for n in written} == {"customer"}
    text = _cli(env, "notices", "show", str(written[0]["id"]))
    assert "Enregistrements concernés : à déterminer" in text
    assert "environ 0" not in text
    assert "Cause : [à compléter]" in text  # nobody has entered it yet
