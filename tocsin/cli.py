"""The single `tocsin` entry point. Sub-commands live in `tocsin/commands/*.py`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from consumers.errors import ConfigError, TocsinError

COMMAND_MODULES = (
    "tocsin.commands.core",
    "tocsin.commands.findings",
    "tocsin.commands.incidents",
    "tocsin.commands.notices",
    "tocsin.commands.users",
    "tocsin.commands.console",
    "tocsin.commands.convert",
    "tocsin.commands.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin",
        description="Breach detection and GDPR notification for AVM Up's SaaS services.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"tocsin: configuration error: {exc}", file=sys.stderr)
        return 2
    except TocsinError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
