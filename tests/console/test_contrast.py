"""The deadline and severity colours of the console's stylesheet keep a WCAG AA contrast
(4.5:1 for text) against the page background, whichever state they mark."""

from __future__ import annotations

import re
from pathlib import Path

CSS = Path(__file__).resolve().parents[2] / "console" / "static" / "console.css"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _variables() -> dict[str, str]:
    root = re.search(r":root\s*\{([^}]*)\}", CSS.read_text(encoding="utf-8"))
    assert root is not None
    found = re.findall(r"--([\w-]+)\s*:\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", root.group(1))
    return {
        name: "#" + (value if len(value) == 6 else "".join(c * 2 for c in value))
        for name, value in found
    }


def test_state_colours_are_readable_on_the_background() -> None:
    colours = _variables()
    background = colours["bg"]
    for name in ("bad", "warn", "ok", "muted", "accent", "fg"):  # overdue, due soon, met…
        ratio = contrast(colours[name], background)
        assert ratio >= 4.5, f"--{name} {colours[name]}: {ratio:.2f}:1"


def test_the_contrast_formula_tells_bad_from_good() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert contrast("#ffbf47", "#ffffff") < 4.5  # the focus ring colour: not for text
