"""`tocsin db upgrade --wait`: the connection is retried, then refused with the variable."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from consumers.errors import ConfigError
from incidents.db import make_engine
from tocsin.cli import main
from tocsin.dbschema import wait_for_database
from tocsin.dev.broker import free_port
from tocsin.settings import get_settings


@pytest.fixture
def clear_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_wait_gives_up_naming_the_variable() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"TOCSIN_DATABASE_URL: no connection after 1\.5 s"):
        wait_for_database(url, timeout=1.5, interval=0.5)
    assert time.monotonic() - started >= 1.0  # it did retry rather than fail at once


class _Relay:
    """A TCP port that refuses connections until `open()`, then relays to PostgreSQL, like a
    server that finishes starting while the migration waits."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()


@pytest.mark.parametrize("fresh_db_url", ["postgresql"], indirect=True)
def test_db_upgrade_waits_for_a_database_that_starts_late(
    fresh_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    clear_settings: None,
    tmp_path: Path,
) -> None:
    real = make_url(fresh_db_url)
    relay = _Relay((real.host or "127.0.0.1", real.port or 5432))
    late = real.set(host="127.0.0.1", port=relay.port)
    monkeypatch.setenv("TOCSIN_DATABASE_URL", late.render_as_string(hide_password=False))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OperationalError):  # without --wait: the closed port fails at once
        main(["db", "upgrade"])
    timer = threading.Timer(2.0, relay.open)
    timer.start()
    try:
        assert main(["db", "upgrade", "--wait", "30"]) == 0
        engine = make_engine(fresh_db_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        engine.dispose()
    finally:
        timer.cancel()
        relay.close()


def test_a_negative_wait_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    clear_settings: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert main(["db", "upgrade", "--wait", "-1"]) == 2
    assert "--wait" in capsys.readouterr().err
