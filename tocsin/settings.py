"""One `Settings` object, read from `TOCSIN_*` environment variables (and an optional `.env`).

Reached through `get_settings()`, never built at import time. Nested values use `__`:
`TOCSIN_CLOCKS__CNIL_HOURS=96`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from consumers.conventions import DEFAULT_TIMEZONE
from consumers.errors import ConfigError
from incidents.deadlines import ClockPolicy

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the placeholder itself, refused outside demo
MIN_SECRET_BYTES = 32
# Values found in examples, tutorials and leaked configurations (compared lower-cased).
COMMON_SECRETS = frozenset(
    {
        "",
        PLACEHOLDER_SECRET,
        "changeme",
        "change_me",
        "changethis",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "mysecret",
        "supersecret",
        "password",
        "default",
        "test",
        "development",
        "dev",
        "insecure",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "please-change-me",
        "replace-me",
        "todo",
        "tocsin",
        "avmup",
        "your-secret-key-here-change-it-in-production",
        "this-is-a-very-secret-key-change-it-in-production",
        "super-secret-key-change-me-in-production-please",
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
    }
)


class KafkaSecurity(BaseModel):
    """Passed through to kafka-python (`security_protocol`, `ssl_*`, `sasl_*`)."""

    model_config = ConfigDict(frozen=True)

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError("SASL protocols need sasl_mechanism, sasl_username and sasl_password")
        return self

    def client_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            opts["ssl_check_hostname"] = self.ssl_check_hostname
            if self.ssl_cafile:
                opts["ssl_cafile"] = str(self.ssl_cafile)
            if self.ssl_certfile:
                opts["ssl_certfile"] = str(self.ssl_certfile)
            if self.ssl_keyfile:
                opts["ssl_keyfile"] = str(self.ssl_keyfile)
            if self.ssl_password:
                opts["ssl_password"] = self.ssl_password.get_secret_value()
        if self.protocol.startswith("SASL"):
            opts["sasl_mechanism"] = self.sasl_mechanism
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return opts


_CLOCK_DEFAULTS = ClockPolicy()


class Clocks(BaseModel):
    """`TOCSIN_CLOCKS__*`; the legal delays default to `ClockPolicy`'s, their one home."""

    model_config = ConfigDict(frozen=True)

    cnil_hours: Annotated[float, Field(gt=0)] = _CLOCK_DEFAULTS.cnil_hours
    customer_hours_default: Annotated[float, Field(gt=0)] = _CLOCK_DEFAULTS.customer_hours_default
    escalate_hours: tuple[float, ...] = _CLOCK_DEFAULTS.escalate_hours
    due_soon_hours: Annotated[float, Field(gt=0)] = _CLOCK_DEFAULTS.due_soon_hours
    tick_seconds: Annotated[float, Field(gt=0)] = 30


class Organisation(BaseModel):
    """AVM Up's identity printed on notices (`TOCSIN_ORG__NAME`...); unset values are printed
    « [à compléter] » and block the approval of the notices that need them."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    siren: Annotated[str, Field(pattern=r"^\d{3} ?\d{3} ?\d{3}$")] | None = None
    address: str | None = None
    representative: str | None = None
    dpo_name: str | None = None
    dpo_email: str | None = "dpo@avmup.com"
    dpo_phone: str | None = None
    rssi_email: str | None = "rssi@avmup.com"
    privacy_email: str | None = "privacy@avmup.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOCSIN_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    database_url: str = "sqlite:///./tocsin.db"
    database_password_file: Path | None = None
    kafka_bootstrap: str | None = None
    kafka_security: KafkaSecurity = KafkaSecurity()
    topic_auth: str = "saas.auth.v1"
    topic_access: str = "saas.access.v1"
    topic_dlq: str = "tocsin.dlq.v1"
    topic_by_ip: str = "tocsin.by-ip.v1"
    topic_partitions: Annotated[int, Field(ge=1, le=1024)] = 6
    topic_replication: Annotated[int, Field(ge=1, le=16)] = 1
    consumer_group: str = "tocsin-ingest"
    batch_max_records: Annotated[int, Field(ge=1, le=100_000)] = 2000
    poll_timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = 500
    checkpoint_seconds: Annotated[float, Field(gt=0)] = 10.0
    allowed_lateness_seconds: Annotated[float, Field(ge=0)] = 60.0
    max_future_seconds: Annotated[float, Field(ge=0)] = 300.0
    max_event_age_days: Annotated[float, Field(ge=0)] | None = None  # None: retention; 0: off
    dedup_horizon_seconds: Annotated[float, Field(ge=0)] = 600.0
    rules: Path | None = None
    geoip_file: Path | None = None
    timezone: str = DEFAULT_TIMEZONE
    smtp_url: SecretStr | None = None
    smtp_from: str = "Tocsin AVM Up <securite@avmup.com>"
    smtp_allow_plaintext: bool = False
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 8
    session_idle_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 30
    token_days: Annotated[int, Field(ge=1, le=3650)] = 90
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    metrics_token: SecretStr | None = None
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "production"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    metrics_host: str | None = None
    retention_days: Annotated[int, Field(ge=1)] = 180
    clocks: Clocks = Clocks()
    draft_on_critical: bool = True
    notice_language: Literal["fr", "en"] = "fr"
    notice_override_dir: Path | None = None
    org: Organisation = Organisation()
    demo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def max_event_age(self) -> timedelta | None:
        """How old an input event may be (`TOCSIN_MAX_EVENT_AGE_DAYS`, by default the
        retention period; `0` lifts the limit, for replays of old logs)."""
        days = self.retention_days if self.max_event_age_days is None else self.max_event_age_days
        return timedelta(days=days) if days > 0 else None

    @model_validator(mode="before")
    @classmethod
    def _database_password_from_file(cls, data: Any) -> Any:
        """`TOCSIN_DATABASE_PASSWORD_FILE` (a Docker secret) completes the database URL, so the
        password is written once, in its secret file, and never in an env file or a URL."""
        if not isinstance(data, dict) or not data.get("database_password_file"):
            return data
        path = Path(str(data["database_password_file"]))
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"TOCSIN_DATABASE_PASSWORD_FILE: cannot read {path} ({exc.strerror})"
            ) from None
        if password in ("", PLACEHOLDER_SECRET):
            raise ConfigError(
                f"TOCSIN_DATABASE_PASSWORD_FILE: {path} is empty or still the placeholder; "
                "generate one (openssl rand -hex 32)"
            )
        url = make_url(str(data.get("database_url") or cls.model_fields["database_url"].default))
        if url.password is not None:
            raise ConfigError(
                "TOCSIN_DATABASE_URL: holds a password and TOCSIN_DATABASE_PASSWORD_FILE is set; "
                "keep the password in one place"
            )
        url = url.set(password=password)
        return {**data, "database_url": url.render_as_string(hide_password=False)}

    def require_smtp_url(self) -> None:
        """An unset SMTP URL, or one left at the placeholder, is a start-up error for the
        processes that deliver mail."""
        url = self.smtp_url.get_secret_value().strip() if self.smtp_url else ""
        if url in ("", PLACEHOLDER_SECRET):
            raise ConfigError(
                "TOCSIN_SMTP_URL: not set or still the placeholder; give the relay "
                "(smtps://user:password@relay:465, or smtp://…:587 with STARTTLS; the staging "
                "sink: smtp+plain://mailpit:1025 with TOCSIN_SMTP_ALLOW_PLAINTEXT=true)"
            )

    def require_production_secrets(self) -> None:
        """A weak session secret is a start-up error, in the demo too (it makes its own)."""
        problem = weak_secret(self.secret_key.get_secret_value())
        if problem is not None:
            raise ConfigError(
                f"TOCSIN_SECRET_KEY: {problem}; set a random value of at least "
                f"{MIN_SECRET_BYTES} bytes "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )

    @property
    def metrics_bind(self) -> str:
        """`TOCSIN_METRICS_HOST`, else all interfaces in a container (where the port is only
        reachable through the container network) and loopback everywhere else."""
        return self.metrics_host or default_metrics_host()


def default_metrics_host() -> str:
    """All interfaces inside a container (Docker or Podman), loopback anywhere else."""
    in_container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    return "0.0.0.0" if in_container else "127.0.0.1"  # noqa: S104 - container only


def weak_secret(value: str) -> str | None:
    """Why `value` is not fit to sign sessions, or None."""
    if value.strip().lower() in COMMON_SECRETS:
        return "a well-known value"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes"
    for size in range(1, 5):  # "kkkk…", "abab…": one short unit repeated
        if len(value) % size == 0 and value == value[:size] * (len(value) // size):
            return "a short pattern repeated"
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into a `ConfigError` naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = "__".join(str(p) for p in err["loc"]).upper()
            lines.append(f"TOCSIN_{path}: {err['msg']}")
        raise ConfigError(
            "invalid configuration (environment or .env):\n  " + "\n  ".join(lines)
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
