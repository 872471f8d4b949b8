"""The sshd log converter (`tocsin convert sshd`): every attempt once, nothing guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.events import AuthEvent, parse_event
from consumers.sshd import convert_lines
from tocsin.cli import main

H = "Dec 10 07:13:{s:02d} LabSZ sshd[{pid}]: "


def line(second: int, pid: int, msg: str) -> str:
    return H.format(s=second, pid=pid) + msg


def convert(lines: list[str], *, year: int = 2025) -> list[AuthEvent]:
    return convert_lines(lines, tenant="lab", year=year, source="auth.log").events


def test_failed_and_accepted_passwords() -> None:
    events = convert(
        [
            line(1, 10, "Failed password for root from 5.36.59.76 port 42393 ssh2"),
            line(2, 10, "Failed password for invalid user oracle from 2001:db8::7 port 1 ssh2"),
            line(3, 11, "Accepted publickey for fztu from 119.137.62.142 port 49116 ssh2"),
        ]
    )
    assert [(e.action.value, e.failure_reason, e.actor.id, e.source_ip) for e in events] == [
        ("login_failure", "bad_password", "root", "5.36.59.76"),
        ("login_failure", "unknown_account", "oracle", "2001:db8::7"),
        ("login_success", None, "fztu", "119.137.62.142"),
    ]
    assert events[0].occurred_at == datetime(2025, 12, 10, 7, 13, 1, tzinfo=UTC)
    assert all(e.tenant_id == "lab" and e.country is None for e in events)


def test_repeated_messages_and_pam_counts_are_the_same_attempts() -> None:
    # the session of the log: PAM counts 1 + 5 failures, sshd logs 1 + 5 repeats
    events = convert(
        [
            line(
                31,
                24227,
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                "tty=ssh ruser= rhost=5.36.59.76.dynamic-dsl-ip.omantel.net.om  user=root",
            ),
            line(43, 24227, "Failed password for root from 5.36.59.76 port 42393 ssh2"),
            line(
                56,
                24227,
                "message repeated 5 times: [ Failed password for root from "
                "5.36.59.76 port 42393 ssh2]",
            ),
            line(56, 24227, "Disconnecting: Too many authentication failures for root [preauth]"),
            line(
                56,
                24227,
                "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh "
                "ruser= rhost=5.36.59.76.dynamic-dsl-ip.omantel.net.om  user=root",
            ),
        ]
    )
    assert len(events) == 6
    assert len({e.event_id for e in events}) == 6
    assert {(e.actor.id, e.source_ip) for e in events} == {("root", "5.36.59.76")}


def test_pam_failures_without_sshd_lines_take_the_connection_address() -> None:
    events = convert(
        [
            line(1, 20, "Invalid user webmaster from 173.234.31.186"),
            line(
                1,
                20,
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                "tty=ssh ruser= rhost=ns.example.com",
            ),
            line(
                9,
                20,
                "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh "
                "ruser= rhost=ns.example.com",
            ),
        ]
    )
    assert [(e.actor.id, e.source_ip, e.failure_reason) for e in events] == [
        ("webmaster", "173.234.31.186", "unknown_account")
    ] * 3
    assert events[0].occurred_at.second == 9


def test_an_invalid_user_counts_once_with_or_without_its_password_line() -> None:
    probe = convert([line(1, 30, "Invalid user admin from 103.99.0.122")])
    assert [(e.actor.id, e.failure_reason) for e in probe] == [("admin", "unknown_account")]
    attempt = convert(
        [
            line(1, 31, "Invalid user admin from 103.99.0.122"),
            line(3, 31, "Failed password for invalid user admin from 103.99.0.122 port 2 ssh2"),
        ]
    )
    assert len(attempt) == 1
    assert attempt[0].occurred_at.second == 3


def test_unusable_attempts_are_counted_not_guessed() -> None:
    result = convert_lines(
        [
            line(1, 40, "Failed password for invalid user  from 1.2.3.4 port 1 ssh2"),
            line(
                2,
                41,
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                "tty=ssh ruser= rhost=host.example.com  user=root",
            ),
            line(3, 42, "Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]"),
            "Dec 10 07:13:04 LabSZ CRON[5]: pam_unix(cron:session): session opened for user root",
            "not syslog at all",
        ],
        tenant="lab",
        year=2025,
        source="auth.log",
    )
    assert result.events == []
    assert result.summary() == {
        "lines": 5,
        "events": 0,
        "login_failure": 0,
        "login_success": 0,
        "unusable": {"PAM failure without a source address": 1, "empty user name": 1},
        "other_lines": 3,
    }


def test_the_year_moves_on_after_december() -> None:
    events = convert(
        [
            "Dec 31 23:59:59 h sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2",
            "Jan  1 00:00:01 h sshd[2]: Failed password for root from 1.2.3.4 port 1 ssh2",
        ],
        year=2024,
    )
    assert [e.occurred_at.year for e in events] == [2024, 2025]


def test_a_process_id_used_again_later_is_another_connection() -> None:
    events = convert(
        [
            "Mar 27 10:00:00 h sshd[7]: Failed password for root from 1.2.3.4 port 1 ssh2",
            "Mar 27 12:00:00 h sshd[7]: Invalid user pi from 5.6.7.8",
        ]
    )
    assert [(e.actor.id, e.source_ip) for e in events] == [("root", "1.2.3.4"), ("pi", "5.6.7.8")]


def test_conversion_is_stable() -> None:
    lines = [line(1, 10, "Failed password for root from 5.36.59.76 port 42393 ssh2")]
    assert convert(lines) == convert(lines)
    other = convert_lines(lines, tenant="other", year=2025, source="auth.log").events
    assert other[0].event_id != convert(lines)[0].event_id


def test_command_writes_contract_events_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "auth.log"
    log.write_text(
        "\n".join(
            [
                line(1, 10, "Failed password for root from 5.36.59.76 port 42393 ssh2"),
                line(2, 11, "Failed password for invalid user  from 1.2.3.4 port 1 ssh2"),
                line(3, 12, "Accepted password for fztu from 2a01:e0a::1 port 1 ssh2"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "events.jsonl"
    assert (
        main(["convert", "sshd", str(log), "--tenant", "acme", "--year", "2025", "--out", str(out)])
        == 0
    )
    events = [
        parse_event(raw.encode(), AuthEvent) for raw in out.read_text(encoding="utf-8").splitlines()
    ]
    assert [(e.tenant_id, e.action.value) for e in events] == [
        ("acme", "login_failure"),
        ("acme", "login_success"),
    ]
    assert events[1].country == "FR"  # looked up when read, as the ingest stage does
    report = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert report["events"] == 2
    assert report["unusable"] == {"empty user name": 1}


def test_command_refuses_a_bad_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "auth.log"
    log.write_text("", encoding="utf-8")
    assert main(["convert", "sshd", str(log), "--tenant", "a b", "--year", "2025"]) == 2
    assert "--tenant" in capsys.readouterr().err
    assert (
        main(["convert", "sshd", str(tmp_path / "missing.log"), "--tenant", "a", "--year", "2025"])
        == 1
    )
    assert "missing.log" in capsys.readouterr().err


def test_command_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO(line(1, 10, "Failed password for root from 5.36.59.76 port 42393 ssh2") + "\n"),
    )
    assert main(["convert", "sshd", "-", "--tenant", "acme", "--year", "2025"]) == 0
    out = capsys.readouterr()
    (event,) = [parse_event(raw.encode(), AuthEvent) for raw in out.out.splitlines()]
    assert (event.tenant_id, event.actor.id, event.source_ip) == ("acme", "root", "5.36.59.76")
    assert json.loads(out.err.splitlines()[-1])["events"] == 1


def test_rfc3339_times_and_sshd_session_lines() -> None:
    events = convert(
        [
            "2025-03-27T13:06:56.123456+01:00 web1 sshd-session[77]: Failed password for root "
            "from 2a01:e0a::1 port 22 ssh2",
            "2025-03-27T12:07:00Z web1 sshd[78]: Accepted publickey for deploy from 10.0.0.5 "
            "port 22 ssh2",
        ],
        year=1999,
    )
    assert [(e.occurred_at, e.action.value) for e in events] == [
        (datetime(2025, 3, 27, 12, 6, 56, 123456, tzinfo=UTC), "login_failure"),
        (datetime(2025, 3, 27, 12, 7, 0, tzinfo=UTC), "login_success"),
    ]
