"""The commands of deploy/README.md run as written and produce what the services expect."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "deploy" / "README.md"


def _shell_block(section: str) -> str:
    text = RUNBOOK.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", body, re.DOTALL)
    assert match, section
    return match.group(1)


def test_the_broker_certificate_commands_make_an_encrypted_pem(tmp_path: Path) -> None:
    script = _shell_block("2. ").replace("/tmp/external", str(tmp_path / "external"))
    result = subprocess.run(
        ["bash", "-euc", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    password = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", password)
    pem = (tmp_path / "deploy" / "kafka" / "tls" / "external.pem").read_bytes()
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem
    assert b"-----BEGIN PRIVATE KEY-----" not in pem
    key = load_pem_private_key(pem, password=password.encode())
    cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE-----") :])
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka.avmup.internal"]
    parsed = subprocess.run(
        ["openssl", "asn1parse", "-in", "/dev/stdin"],
        input=pem,
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert b"pbeWithSHA1And3-KeyTripleDES-CBC" in parsed  # what Java's PEM reader decrypts
    assert not (tmp_path / "external.key").exists() and not (tmp_path / "external.p8").exists()
    mode = (tmp_path / "deploy" / "kafka" / "tls").stat().st_mode & 0o777
    assert mode == 0o700


def test_the_secret_commands_make_one_random_file_each(tmp_path: Path) -> None:
    block = _shell_block("1. ")
    secrets_part = block.split("\n\n", 1)[0]  # the Docker secrets, before the env files
    assert "openssl rand -hex 32" in secrets_part
    result = subprocess.run(
        ["bash", "-euc", secrets_part],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "deploy" / "secrets"
    values = {p.name: p.read_text().strip() for p in folder.iterdir()}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(values) == set(compose["secrets"])  # every secret the services mount
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values.values())
    assert len(set(values.values())) == len(values)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir())
