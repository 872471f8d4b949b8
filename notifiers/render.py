"""Rendering notices: one sandboxed Jinja2 environment per template search path.

Templates live in `notifiers/templates/<lang>/<kind>.{subject.txt,txt,html}`. A per-customer
override folder `<override_dir>/<tenant_id>/<lang>/` is searched first for customer notices.
The environment is sandboxed, autoescapes `.html` files and uses `StrictUndefined`: a missing
field fails the draft loudly (`TemplateError`).
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from notifiers.enums import LANGUAGES, NoticeKind
from notifiers.exceptions import TemplateError
from notifiers.schemas import NoticeContext, RenderedNotice, one_line

TEMPLATES = Path(__file__).resolve().parent / "templates"
_TENANT_DIR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
    "octobre", "novembre", "décembre",
)


def fmt_int(value: int, language: str = "fr") -> str:
    """12345 -> '12 345' (fr, no-break space) or '12,345' (en)."""
    text = f"{value:,}"
    return text.replace(",", "\u00a0") if language == "fr" else text


def fmt_datetime(value: datetime, language: str, tz: str) -> str:
    local = value.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}"
    if language == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        return (
            f"{day} {MONTHS_FR[local.month - 1]} {local.year} à {local:%H:%M} "
            f"({offset})"
        )
    return f"{local:%d %B %Y, %H:%M} ({offset})"


@lru_cache(maxsize=32)
def _environment(search_path: tuple[str, ...], language: str, tz: str) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(list(search_path)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dt"] = lambda value: fmt_datetime(value, language, tz)
    env.filters["num"] = lambda value: fmt_int(int(value), language)
    return env


def search_path(
    *, language: str, tenant_id: str | None, override_dir: Path | None
) -> tuple[str, ...]:
    if language not in LANGUAGES:
        raise TemplateError(f"unsupported notice language {language!r}")
    paths: list[str] = []
    if override_dir is not None and tenant_id is not None and _TENANT_DIR.match(tenant_id):
        custom = override_dir / tenant_id / language
        if custom.is_dir():
            paths.append(str(custom))
    paths.append(str(TEMPLATES / language))
    return tuple(paths)


def render_notice(
    context: NoticeContext, *, override_dir: Path | None = None
) -> RenderedNotice:
    """Render subject, plain text and HTML for `context` (its `kind` and `language`)."""
    kind = NoticeKind(context.kind)
    tenant = getattr(context, "tenant_id", None) if kind is NoticeKind.CUSTOMER else None
    env = _environment(
        search_path(language=context.language, tenant_id=tenant, override_dir=override_dir),
        context.language,
        context.timezone,
    )
    values = {"n": context}
    try:
        subject = env.get_template(f"{kind.value}.subject.txt").render(values)
        text = env.get_template(f"{kind.value}.txt").render(values)
        body = env.get_template(f"{kind.value}.html").render(values)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{kind.value} notice: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{kind.value} notice: {type(exc).__name__}: {exc}") from None
    return RenderedNotice(subject=clean_subject(subject), text=text, html=body)


def clean_subject(subject: str) -> str:
    """One line, at most 250 characters: a subject can never carry a header break."""
    return one_line(subject)[:250]


def text_to_html(text: str, *, title: str, language: str) -> str:
    """The HTML part of an edited notice: the edited text, escaped, paragraph by paragraph."""
    paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paras
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def render_escalation(*, values: dict[str, object], language: str = "fr",
                      tz: str = "Europe/Paris") -> tuple[str, str]:
    """Subject and text of a deadline escalation e-mail to the RSSI."""
    env = _environment(search_path(language=language, tenant_id=None, override_dir=None),
                       language, tz)
    try:
        subject = env.get_template("escalation.subject.txt").render(values)
        text = env.get_template("escalation.txt").render(values)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"escalation: {type(exc).__name__}: {exc}") from None
    return clean_subject(subject), text
