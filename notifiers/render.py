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
from markupsafe import Markup

from consumers.conventions import DEFAULT_TIMEZONE
from notifiers import wording
from notifiers.enums import LANGUAGES, NoticeKind
from notifiers.exceptions import TemplateError
from notifiers.schemas import NoticeContext, RenderedNotice, one_line

TEMPLATES = Path(__file__).resolve().parent / "templates"
_TENANT_DIR = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

MONTHS = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def fmt_int(value: int, language: str = "fr") -> str:
    """12345 -> '12 345' (fr, no-break space) or '12,345' (en)."""
    text = f"{value:,}"
    return text.replace(",", "\u00a0") if language == "fr" else text


def day_in_words(local: datetime, language: str) -> str:
    """The day of `local` as it stands (no time zone change): « 1er décembre 2026 » (fr) or
    "1 December 2026" (any other language); the month names do not depend on the locale."""
    if language == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        return f"{day} {MONTHS['fr'][local.month - 1]} {local.year}"
    return f"{local.day} {MONTHS['en'][local.month - 1]} {local.year}"


def fmt_datetime(value: datetime, language: str, tz: str, *, offset: bool = True) -> str:
    """A date and time in words, local to `tz`; with the UTC offset unless `offset` is False
    (the plain wording of data-subject notices)."""
    local = value.astimezone(ZoneInfo(tz))
    code = local.strftime("%z")
    suffix = f" (UTC{code[:3]}:{code[3:]})" if offset else ""
    if language == "fr":
        return f"{day_in_words(local, language)} à {local:%H:%M}{suffix}"
    return f"{local.day:02d} {MONTHS['en'][local.month - 1]} {local.year}, {local:%H:%M}{suffix}"


def fmt_day(value: datetime, language: str, tz: str) -> str:
    """The day only, in words: « 20 novembre 2026 » / "20 November 2026"."""
    return day_in_words(value.astimezone(ZoneInfo(tz)), language)


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
    env.filters["plain_dt"] = lambda value: fmt_datetime(value, language, tz, offset=False)
    env.filters["day"] = lambda value: fmt_day(value, language, tz)
    env.filters["as_html"] = text_as_html
    env.globals["label"] = lambda vocabulary, key: wording.label(language, vocabulary, key)
    env.globals["TBC"] = wording.TBC.get(language, wording.TBC["fr"])
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


def render_notice(context: NoticeContext, *, override_dir: Path | None = None) -> RenderedNotice:
    """Render subject, plain text and HTML for `context` (its `kind` and `language`)."""
    kind = NoticeKind(context.kind)
    tenant = getattr(context, "tenant_id", None) if kind is NoticeKind.CUSTOMER else None
    env = _environment(
        search_path(language=context.language, tenant_id=tenant, override_dir=override_dir),
        context.language,
        context.timezone,
    )
    values: dict[str, object] = {"n": context}
    try:
        subject = env.get_template(f"{kind.value}.subject.txt").render(values)
        text = env.get_template(f"{kind.value}.txt").render(values)
        # The HTML part is the same text, structured and escaped (`as_html`): one source.
        body = env.get_template(f"{kind.value}.html").render({**values, "body_text": text})
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{kind.value} notice: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{kind.value} notice: {type(exc).__name__}: {exc}") from None
    return RenderedNotice(subject=clean_subject(subject), text=text, html=body)


_HEADING = re.compile(r"^(\d+\.\s+[A-ZÀ-Ý]{3}|[^a-z]*[A-ZÀ-Ý]{3}[^a-z]*$)")


def text_as_html(text: str) -> Markup:
    """A notice's plain text as HTML: upper-case lines become headings, "- " lines list items,
    other lines paragraphs. Every piece of text is escaped."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            out.append("<p>" + "<br>\n".join(para) + "</p>")
            para.clear()
        if items:
            out.append("<ul>\n" + "\n".join(f"<li>{i}</li>" for i in items) + "\n</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("- "):
            if para:
                flush()
            items.append(html.escape(line[2:]))
        elif _HEADING.match(line):
            flush()
            out.append(f"<h2>{html.escape(line)}</h2>")
        else:
            if items:
                flush()
            para.append(html.escape(line))
    flush()
    return Markup("\n".join(out) + "\n")  # noqa: S704 - built from escaped pieces only


def clean_subject(subject: str) -> str:
    """One line, at most 250 characters: a subject can never carry a header break."""
    return one_line(subject)[:250]


def text_to_html(text: str, *, title: str, language: str) -> str:
    """The HTML part of an edited notice: the edited text, escaped, paragraph by paragraph."""
    paras = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>" for p in paras
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n</head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def render_escalation(
    *, values: dict[str, object], language: str = "fr", tz: str = DEFAULT_TIMEZONE
) -> tuple[str, str]:
    """Subject and text of a deadline escalation e-mail to the RSSI."""
    env = _environment(
        search_path(language=language, tenant_id=None, override_dir=None), language, tz
    )
    try:
        subject = env.get_template("escalation.subject.txt").render(values)
        text = env.get_template("escalation.txt").render(values)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"escalation: {type(exc).__name__}: {exc}") from None
    return clean_subject(subject), text
