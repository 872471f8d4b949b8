"""`tocsin` sub-commands, one module per domain. Each exposes `register(subparsers)`."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What `tocsin.cli` hands every `register`: the `add_subparsers()` of its parser (or of a
# command's own, for `incidents` actions). A string, so nothing is subscripted at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
