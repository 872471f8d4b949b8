"""The repository's structure holds what docs/architecture.md says of it.

- Imports only point left in the flow
  `consumers ← detectors ← incidents ← notifiers ← console ← tocsin` (docs/architecture.md §2),
  with `accounts` beside `incidents` (it may import `consumers`, `detectors` and `incidents`;
  only `console` and `tocsin` import it): every Python file of a package is parsed, and every
  import in it counts, at module level, inside a function, or under `if TYPE_CHECKING:`.
  The console (pages, API, their read models) sits above every domain package and below the
  shell: only `tocsin` imports it.
- The repository describes itself: no file outside `tests/` cites a document that is not in
  the repository.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The flow, left to right. A package may import the packages to its left, never those to its
# right; `console` (pages and JSON API) comes after every domain package, and `tocsin` (the
# shell: settings, CLI, wiring, telemetry) is the last and may import all.
FLOW = ("consumers", "detectors", "incidents", "notifiers", "console", "tocsin")
# Beside the flow: `accounts` (users, roles, passwords, sessions, tokens, throttling) sits beside
# `incidents`. It may import what `incidents` may import, and `incidents` itself; only the
# console and the shell import it.
BESIDE = {"accounts": "incidents"}
PACKAGES = (*FLOW[:3], "accounts", *FLOW[3:])


# The packages that may import those beside the flow.
IMPORT_BESIDE = frozenset({"console", "tocsin"})


def forbidden_for(layer: str) -> set[str]:
    """The packages `layer` must not import."""
    if layer in BESIDE:
        beside = BESIDE[layer]
        return set(FLOW[FLOW.index(beside) + 1 :])
    right = set(FLOW[FLOW.index(layer) + 1 :])
    return right if layer in IMPORT_BESIDE else right | set(BESIDE)


def allowed_for(layer: str) -> list[str]:
    return [p for p in PACKAGES if p != layer and p not in forbidden_for(layer)]


# Known violations, as (file, imported module). Empty: the contract holds everywhere. A new
# entry would have to be justified here and removed once the code is fixed; the test fails both
# on a violation that is not listed and on a listed one that is gone.
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()

# Citations of a document outside the repository. Spelled in pieces, so that a search of the
# repository for them finds nothing, this file included.
_BRIEF = "design".upper()
_SHARED = "shared"
OUTSIDE_REFERENCES = (f"{_BRIEF} §", f"../{_SHARED}", f"{_SHARED}/{_BRIEF}")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Every module that `source` (the text of `module`) imports, wherever the import sits.

    Relative imports are resolved against `module`; `importlib.import_module("x")` and
    `__import__("x")` with a literal name count too.
    """
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.append(target)
            # `from tocsin import console` imports `tocsin.console`: its top package is what
            # the contract looks at, so the names need no resolution.
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append(first.value)
    return found


def violations_of(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """The imports of `module` that point right in the flow."""
    forbidden = forbidden_for(module.split(".")[0])
    return sorted(
        {
            target
            for target in imported_modules(source, module, is_package=is_package)
            if target.split(".")[0] in forbidden
        }
    )


def _python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_checker_sees_every_kind_of_import() -> None:
    source = """
from __future__ import annotations
import importlib
from typing import TYPE_CHECKING

import consumers.events
from detectors.finding import Finding
from . import service
from .models import Incident

if TYPE_CHECKING:
    from notifiers.models import Notice

def late() -> None:
    import tocsin.settings
    from tocsin import console
    importlib.import_module("notifiers.flows")

class Inner:
    def method(self) -> None:
        __import__("tocsin.pipeline")
"""
    assert violations_of(source, "incidents.flows") == [
        "notifiers.flows",
        "notifiers.models",
        "tocsin",
        "tocsin.pipeline",
        "tocsin.settings",
    ]
    assert violations_of(source, "notifiers.flows") == [
        "tocsin",
        "tocsin.pipeline",
        "tocsin.settings",
    ]
    # Relative imports resolve inside the package, including from an `__init__`.
    assert imported_modules("from . import x\nfrom ..y import z", "incidents.sub.mod") == [
        "incidents.sub",
        "incidents.y",
    ]
    assert imported_modules("from .kinds import k", "detectors", is_package=True) == [
        "detectors.kinds"
    ]
    # Imports to the left, and of third-party packages, are allowed.
    assert violations_of("import consumers\nimport sqlalchemy", "detectors.engine") == []


def test_accounts_sit_beside_incidents() -> None:
    assert forbidden_for("accounts") == {"notifiers", "console", "tocsin"}
    assert allowed_for("accounts") == ["consumers", "detectors", "incidents"]
    for lower in ("consumers", "detectors", "incidents", "notifiers"):
        assert "accounts" in forbidden_for(lower)
    assert forbidden_for("tocsin") == set()
    assert violations_of("from notifiers import flows\nimport incidents", "accounts.users") == [
        "notifiers"
    ]
    assert violations_of("from accounts.models import User", "notifiers.service") == [
        "accounts.models"
    ]


def test_the_console_sits_between_the_domain_and_the_shell() -> None:
    assert forbidden_for("console") == {"tocsin"}
    assert allowed_for("console") == [
        "consumers",
        "detectors",
        "incidents",
        "accounts",
        "notifiers",
    ]
    for lower in ("consumers", "detectors", "incidents", "accounts", "notifiers"):
        assert "console" in forbidden_for(lower)
        assert violations_of("from console import views", f"{lower}.mod") == ["console"]
    assert violations_of("from tocsin.settings import Settings", "console.app") == [
        "tocsin.settings"
    ]
    assert violations_of("from console.app import create_app", "tocsin.commands.x") == []
    assert not list((ROOT / "tocsin" / "console").rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES[:-1])
def test_imports_only_point_left(package: str) -> None:
    files = _python_files(package)
    assert files, f"no Python file under {package}/"
    found: set[tuple[str, str]] = set()
    for path in files:
        for target in violations_of(
            path.read_text(encoding="utf-8"),
            _module_name(path),
            is_package=path.name == "__init__.py",
        ):
            found.add((path.relative_to(ROOT).as_posix(), target))
    known = {v for v in KNOWN_VIOLATIONS if v[0].startswith(f"{package}/")}
    assert sorted(found - known) == [], (
        f"{package}/ imports packages to its right in the flow "
        f"(allowed: {', '.join(allowed_for(package)) or 'none of ours'})"
    )
    assert sorted(known - found) == [], "fixed violations: remove them from KNOWN_VIOLATIONS"


SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        "build",
        "artifacts",
        "var",
    }
)


def _repository_files() -> list[Path]:
    """The repository's files outside `tests/`: git's view (tracked and untracked, ignored
    files left out), or a walk of the tree where git is not available."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            p
            for p in ROOT.rglob("*")
            if p.is_file()
            and p.relative_to(ROOT).parts[0] != "tests"
            and not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
        )
    return [
        ROOT / name
        for name in listed.split("\0")
        if name and not name.startswith(("tests/", ".git/")) and (ROOT / name).is_file()
    ]


def test_no_file_cites_a_document_outside_the_repository() -> None:
    files = _repository_files()
    assert any(p.name == "architecture.md" for p in files), "docs/architecture.md is missing"
    offenders: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary assets
        for number, line in enumerate(text.splitlines(), start=1):
            if any(marker in line for marker in OUTSIDE_REFERENCES):
                offenders.append(f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()}")
    assert offenders == []


def test_architecture_sections_cited_in_the_code_exist() -> None:
    """Every `docs/architecture.md §N` cited in the repository names a numbered section."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    sections = {
        line.split()[1].rstrip(".")
        for line in doc.splitlines()
        if line.startswith("## ") and line.split()[1].rstrip(".").isdigit()
    }
    cited: set[str] = set()
    for path in _repository_files() + sorted((ROOT / "tests").rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        marker = "architecture.md §"
        start = text.find(marker)
        while start != -1:
            digits = ""
            for char in text[start + len(marker) :]:
                if not char.isdigit():
                    break
                digits += char
            if digits:
                cited.add(digits)
            start = text.find(marker, start + 1)
    assert cited, "nothing cites docs/architecture.md"
    assert sorted(cited - sections, key=int) == []
