"""No function or method in the product ranks above C for cyclomatic complexity (radon)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("consumers", "detectors", "incidents", "accounts", "notifiers", "console", "tocsin")


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return [p for p in files if "migrations" not in p.parts]


def test_every_package_is_read() -> None:
    assert len(_sources()) > 100


def test_no_function_ranks_above_c() -> None:
    too_complex = []
    for path in _sources():
        for block in cc_visit(path.read_text()):  # functions, classes and their methods
            if cc_rank(block.complexity) > "C":
                where = f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname}"
                too_complex.append(f"{where} {cc_rank(block.complexity)} ({block.complexity})")
    assert not too_complex, "\n".join(too_complex)
