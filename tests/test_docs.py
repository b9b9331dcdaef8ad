"""The README's command line section shows every `crashlens` command the parser knows.

The sqlite-utils ``test_docs.py`` habit: walk the real argparse tree (subcommands, and the
actions a subcommand takes as its first positional choice, like ``incidents show``) and fail on
any command no README example runs, so a new command cannot ship undocumented.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crashlens_core.cli import COMMANDS, build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command: each subparser, and each choice of a subcommand's positional action argument."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out += command_paths(sub, (*prefix, name))
        elif prefix and not action.option_strings and action.choices:
            out += [(*prefix, str(choice)) for choice in action.choices]
    return out


def readme_commands(text: str) -> list[str]:
    """The `crashlens …` lines inside the README's fenced code blocks."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("crashlens ")]


PATHS = command_paths(build_parser())


def test_the_walk_finds_subcommands_and_their_actions():
    assert ("ingest", "logs") in PATHS
    assert ("incidents", "show") in PATHS
    assert ("traces", "summary") in PATHS
    assert set(COMMANDS) <= {p[0] for p in PATHS}  # every command module registered its parser


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_readme_shows_every_command(path):
    wanted = "crashlens " + " ".join(path)
    examples = [line for line in readme_commands(README.read_text(encoding="utf-8"))
                if line == wanted or line.startswith(wanted + " ")]
    assert examples, f"README.md has no example of `{wanted}` in a code block"


def test_readme_commands_are_real_commands():
    """The other way round: no README example runs a command that does not exist (any more)."""
    known = {" ".join(p) for p in PATHS}
    unknown = []
    for line in readme_commands(README.read_text(encoding="utf-8")):
        words = [w for w in line.split()[1:] if not w.startswith("-")]
        if words and words[0] not in known:
            unknown.append(line)
    assert unknown == []


@pytest.mark.parametrize("module", ["crashlens_core", "crashlens_core.cli"])
def test_python_dash_m_runs_the_same_command(module):
    from crashlens_core import __version__

    out = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"crashlens {__version__}"
