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

from consumers.errors import ConfigError

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the placeholder itself, refused outside demo


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
            raise ValueError(
                "SASL protocols need sasl_mechanism, sasl_username and sasl_password"
            )
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


class Clocks(BaseModel):
    model_config = ConfigDict(frozen=True)

    cnil_hours: Annotated[float, Field(gt=0)] = 72
    customer_hours_default: Annotated[float, Field(gt=0)] = 24
    escalate_hours: tuple[float, ...] = (48, 24, 6)
    due_soon_hours: Annotated[float, Field(gt=0)] = 12
    tick_seconds: Annotated[float, Field(gt=0)] = 30

    @property
    def cnil_delay(self) -> timedelta:
        return timedelta(hours=self.cnil_hours)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOCSIN_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    database_url: str = "sqlite:///./tocsin.db"
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
    timezone: str = "Europe/Paris"
    smtp_url: SecretStr | None = None
    smtp_from: str = "Tocsin AVM Up <securite@avmup.com>"
    smtp_allow_plaintext: bool = False
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "production"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9464
    retention_days: Annotated[int, Field(ge=1)] = 180
    clocks: Clocks = Clocks()
    draft_on_critical: bool = True
    notice_language: Literal["fr", "en"] = "fr"
    notice_override_dir: Path | None = None
    demo: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def max_event_age(self) -> timedelta | None:
        """How old an input event may be (`TOCSIN_MAX_EVENT_AGE_DAYS`, by default the
        retention period; `0` lifts the limit, for replays of old logs)."""
        days = self.retention_days if self.max_event_age_days is None else self.max_event_age_days
        return timedelta(days=days) if days > 0 else None

    def require_production_secrets(self) -> None:
        """A placeholder secret outside the demo is a start-up error."""
        if not self.demo and self.secret_key.get_secret_value() in ("", PLACEHOLDER_SECRET):
            raise ConfigError(
                "TOCSIN_SECRET_KEY: still the placeholder; set a random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )


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
