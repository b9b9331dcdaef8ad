"""The sample shop's git repository, built from its history definition.

``data/demo/shop/history.json`` lists the commits (author, fixed date, message,
tag, files); ``data/demo/shop/versions/<commit id>/<path>`` holds the full
contents of every file a commit writes. Building replays them with fixed author
and committer dates, so every commit hash is the same on every machine.

git always runs with a scrubbed environment (no inherited tokens, no user or
system config, no hooks, no prompts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from crashlens_core.errors import InputError

__all__ = ["DEMO_SHOP", "build_sample_repo", "git", "resolve", "blame", "load_history", "Commit"]

DEMO_SHOP = Path(__file__).resolve().parents[2] / "data" / "demo" / "shop"
_MARKER = "crashlens-sample"  # file inside .git: fingerprint of the history it was built from


@dataclass(frozen=True)
class Commit:
    id: str
    author: str
    email: str
    date: str
    message: str
    files: tuple[str, ...]
    delete: tuple[str, ...]
    tag: str | None


def load_history(source: Path = DEMO_SHOP) -> list[Commit]:
    """The commits defined in source/history.json, oldest first."""
    path = source / "history.json"
    if not path.is_file():
        raise InputError(f"sample repository history not found: {path}",
                         hint="run from a CrashLens checkout that has data/demo/shop")
    spec = json.loads(path.read_text(encoding="utf-8"))
    authors = spec["authors"]
    return [
        Commit(id=c["id"], author=authors[c["author"]]["name"], email=authors[c["author"]]["email"],
               date=c["date"], message=c["message"], files=tuple(c.get("files", ())),
               delete=tuple(c.get("delete", ())), tag=c.get("tag"))
        for c in spec["commits"]
    ]


def _fingerprint(source: Path, commits: list[Commit]) -> str:
    digest = hashlib.sha256((source / "history.json").read_bytes())
    for commit in commits:
        for name in commit.files:
            digest.update(f"\0{commit.id}/{name}\0".encode())
            digest.update((source / "versions" / commit.id / name).read_bytes())
    return digest.hexdigest()


def _env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
    env.update(extra or {})
    return env


@overload
def git(repo_dir: Path, *args: str, env: dict[str, str] | None = None, binary: Literal[False] = False) -> str: ...
@overload
def git(repo_dir: Path, *args: str, env: dict[str, str] | None = None, binary: Literal[True]) -> bytes: ...


def git(repo_dir: Path, *args: str, env: dict[str, str] | None = None, binary: bool = False) -> bytes | str:
    """Run git in repo_dir with a scrubbed environment; returns stdout."""
    with tempfile.TemporaryDirectory(prefix="crashlens-git-home-") as home:
        command = ["git", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false",
                   "-c", "tag.gpgsign=false", "-c", "core.autocrlf=false",
                   "-c", "init.defaultBranch=main", *args]
        try:
            done = subprocess.run(command, cwd=repo_dir, env=_env(home, env),
                                  capture_output=True, check=False)
        except FileNotFoundError as exc:
            raise InputError("git is not installed", hint="install git (apt-get install git)") from exc
    if done.returncode != 0:
        raise InputError(f"git {args[0]} failed in {repo_dir}: {done.stderr.decode(errors='replace').strip()}",
                         hint="check that the directory is a sample repository built by CrashLens")
    return done.stdout if binary else done.stdout.decode("utf-8")


def resolve(repo_dir: Path, rev: str) -> str:
    """Full sha of rev (a tag, branch or HEAD)."""
    return str(git(repo_dir, "rev-parse", "--verify", f"{rev}^{{commit}}")).strip()


def blame(repo_dir: Path, rev: str, path: str, line: int) -> str:
    """Full sha of the commit that last changed path:line as of rev."""
    out = str(git(repo_dir, "blame", "-L", f"{line},{line}", "--porcelain", rev, "--", path))
    return out.split(None, 1)[0]


def build_sample_repo(target: Path, source: Path = DEMO_SHOP) -> str:
    """Create the sample shop repository in target; return its HEAD sha.

    Idempotent: a target already built from the same history is left as is.

    >>> head = build_sample_repo(Path("/tmp/shop-repo"))  # doctest: +SKIP
    """
    target = Path(target)
    commits = load_history(source)
    fingerprint = _fingerprint(source, commits)
    marker = target / ".git" / _MARKER
    if marker.is_file():
        if marker.read_text().strip() == fingerprint and _clean(target):
            return resolve(target, "HEAD")
        # Our own sample repository, built from an older history or edited: rebuild.
        shutil.rmtree(target)
    elif target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} is not empty and is not a sample repository built by CrashLens",
                         hint="give an empty or new directory for the sample repository")
    target.mkdir(parents=True, exist_ok=True)
    git(target, "init", "-q", "-b", "main")
    shas: dict[str, str] = {}
    for commit in commits:
        for name in commit.delete:
            (target / name).unlink()
        for name in commit.files:
            dest = target / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes((source / "versions" / commit.id / name).read_bytes())
        identity = {
            "GIT_AUTHOR_NAME": commit.author, "GIT_AUTHOR_EMAIL": commit.email,
            "GIT_AUTHOR_DATE": commit.date,
            "GIT_COMMITTER_NAME": commit.author, "GIT_COMMITTER_EMAIL": commit.email,
            "GIT_COMMITTER_DATE": commit.date,
        }
        git(target, "add", "-A")
        # Messages may name earlier commits, e.g. "This reverts commit {sha:16}."
        message = commit.message
        for cid, sha in shas.items():
            message = message.replace("{sha:%s}" % cid, sha)
        git(target, "commit", "-q", "--no-verify", "-m", message, env=identity)
        shas[commit.id] = resolve(target, "HEAD")
        if commit.tag:
            git(target, "tag", commit.tag)
    marker.write_text(fingerprint + "\n")
    return shas[commits[-1].id]


def _clean(target: Path) -> bool:
    try:
        return str(git(target, "status", "--porcelain")).strip() == ""
    except InputError:
        return False
