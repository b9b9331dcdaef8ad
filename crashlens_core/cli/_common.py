"""What every subcommand shares: settings, opening the workspace, JSON output, progress, argument parsing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from ..canonical import json_default
from ..config import Settings
from ..errors import InputError

EXIT_USER_ERROR = 2


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=json_default, ensure_ascii=False) + "\n")


def settings_for(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "workspace", None):
        settings = settings.replace(workspace=Path(args.workspace))
    if getattr(args, "tz", None):
        settings = settings.replace(log_tz=args.tz)
    return settings


def open_workspace(args: argparse.Namespace, read_only: bool = False):
    from ..store import Workspace

    settings = settings_for(args)
    return Workspace.open(settings.workspace, read_only=read_only, lock_timeout=settings.lock_timeout_s), settings


def progress_printer(enabled: bool) -> Callable[[float, str], None] | None:
    if not enabled or not sys.stderr.isatty():
        return None

    def show(frac: float, msg: str) -> None:
        sys.stderr.write(f"\r{frac:6.1%}  {msg[:100]:<100}")
        sys.stderr.flush()
        if frac >= 1.0:
            sys.stderr.write("\n")

    return show


_Given = TypeVar("_Given")


def require_argument(value: _Given | None, usage: str) -> _Given:
    """``value`` when given; else an InputError naming the command's usage (``usage``: "replay FILE|RUN_ID")."""
    if value is None or value == "":
        raise InputError(f"missing argument for `crashlens {usage}`", hint=f"crashlens {usage.split()[0]} --help")
    return value


# The old, unclear name: the other command modules still import it; each switches with a one-line change.
need = require_argument


def parse_time(text: str | None) -> datetime | None:
    from ..ingest.normalize import parse_iso_time

    return parse_iso_time(text)


def parse_details(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--detail {item!r} is not KEY=VALUE", hint="e.g. --detail order_id=A-1001")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
