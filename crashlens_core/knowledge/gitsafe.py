"""Running git safely: a scrubbed environment, list arguments, time and output limits.

Every git child process of CrashLens (clone, fetch, log, blame) goes through ``run_git``.
Repositories come from strangers, so git is run as if the repo were hostile:

- the environment is an allow-list (no API keys, tokens, ``GIT_*`` redirections or
  credential helpers are inherited); system and global git config are ignored;
- hooks, fsmonitor, submodule recursion and symlink checkout are switched off through
  ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` (which outranks any repo config);
- only the protocols the caller allows are usable (https and ssh by default), also for
  redirects and submodules; no terminal prompts, ssh in batch mode;
- arguments are a list (never a shell); user text goes after ``--`` or is checked with
  ``check_rev``; a timeout kills git and every helper it started.

>>> env = scrubbed_env()
>>> env["GIT_TERMINAL_PROMPT"], env["GIT_CONFIG_NOSYSTEM"]
('0', '1')
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ..errors import CrashLensError

__all__ = ["GitError", "scrubbed_env", "run_git", "check_rev", "redact_url", "DEFAULT_PROTOCOLS"]

DEFAULT_PROTOCOLS = ("https", "ssh")

# Inherited only if set: what git and ssh need to find programs, keys and proxies.
_KEEP_ENV = ("PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "SSH_AUTH_SOCK", "SYSTEMROOT",
             "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
             "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO")

# Config that outranks the repository's own .git/config (command-line scope).
_SAFE_CONFIG = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.symlinks", "false"),
    ("core.askPass", ""),
    ("core.pager", "cat"),
    ("credential.helper", ""),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("protocol.allow", "never"),
    ("transfer.fsckObjects", "true"),
    ("http.followRedirects", "initial"),
    ("advice.detachedHead", "false"),
    ("init.defaultBranch", "main"),
)

_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>[^/@\s]+@)")


class GitError(CrashLensError):
    """A git command failed, timed out, or was refused before it ran."""


def redact_url(text: str) -> str:
    """``text`` with any ``user:password@`` in URLs removed (for messages and storage).

    >>> redact_url("fatal: https://bob:s3cret@example.com/r.git not found")
    'fatal: https://example.com/r.git not found'
    """
    return _CRED_RE.sub(lambda m: m.group("scheme"), text)


def scrubbed_env(protocols: Iterable[str] = DEFAULT_PROTOCOLS, base: Mapping[str, str] | None = None,
                 extra_config: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment for a git child: an allow-list of the parent's plus safety settings.

    ``extra_config`` adds command-scope config (e.g. an ``http.extraHeader`` carrying
    credentials for one clone, which then never land in ``.git/config`` or a process list).
    """
    base = os.environ if base is None else base
    env = {k: base[k] for k in _KEEP_ENV if base.get(k)}
    env.setdefault("PATH", os.defpath)
    protocols = [p for p in protocols if re.fullmatch(r"[a-z][a-z0-9+.-]*", p)]
    env.update({
        "LC_ALL": "C",
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_PAGER": "cat",
        "GIT_EDITOR": "true",
        "GIT_ALLOW_PROTOCOL": ":".join(protocols),
        # No agent prompts, no waiting forever on a dead host; new host keys are accepted
        # once (there is no one to ask) and then pinned in known_hosts.
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=20 -o StrictHostKeyChecking=accept-new",
        "GIT_LFS_SKIP_SMUDGE": "1",
    })
    config = list(_SAFE_CONFIG) + [(f"protocol.{p}.allow", "always") for p in protocols] + list(extra_config)
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def check_rev(text: str) -> str:
    """``text`` if it is safe to pass as a revision (not an option, no range tricks), else GitError.

    >>> check_rev("3f2a1c9")
    '3f2a1c9'
    """
    if not text or text.startswith("-") or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/^~@{}-]{0,200}", text) or ".." in text:
        raise GitError(f"not a usable git revision: {text[:60]!r}", hint="give a commit id, branch or tag name")
    return text


def run_git(args: Sequence[str], cwd: Path, timeout: float = 60, *, protocols: Iterable[str] = DEFAULT_PROTOCOLS,
            max_output: int = 64 * 1024 * 1024, extra_config: Sequence[tuple[str, str]] = (),
            watch: Callable[[], str | None] | None = None) -> str:
    """Run ``git <args>`` in ``cwd`` with the scrubbed environment; its stdout as text.

    Raises ``GitError`` (credentials removed from the message) when git exits non-zero,
    runs longer than ``timeout`` seconds (git and its helpers are killed), or prints more
    than ``max_output`` bytes. ``watch`` is polled twice a second while git runs; a text it
    returns stops git and becomes the error (e.g. a clone growing past a size limit).

    >>> import tempfile
    >>> run_git(["init", "-q", "."], Path(tempfile.mkdtemp())) == ""
    True
    """
    argv = ["git", *[str(a) for a in args]]
    try:
        proc = subprocess.Popen(argv, cwd=str(cwd), env=scrubbed_env(protocols, extra_config=extra_config), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except FileNotFoundError as exc:
        missing = "git is not installed" if exc.filename in ("git", None) else f"no such folder {cwd}"
        raise GitError(missing, hint="install git (apt-get install git)" if "git is" in missing else "check the path") from None
    deadline = time.monotonic() + timeout
    while True:
        step = min(0.5, max(deadline - time.monotonic(), 0.01)) if watch else max(deadline - time.monotonic(), 0.01)
        try:
            out, err = proc.communicate(timeout=step)
            break
        except subprocess.TimeoutExpired:
            reason = watch() if watch else None
            if reason:
                _kill_group(proc)
                raise GitError(reason, hint="raise the limit in the settings if this repository is expected") from None
            if time.monotonic() < deadline:
                continue
        _kill_group(proc)
        raise GitError(f"git {args[0] if args else ''} timed out after {timeout:g} s",
                       hint="the repository may be too large or the host unreachable; raise knowledge_git_timeout_s") from None
    if len(out) > max_output:
        raise GitError(f"git {args[0]} printed more than {max_output // 2**20} MB", hint="narrow the request")
    if proc.returncode != 0:
        detail = redact_url(err.decode("utf-8", "replace").strip().splitlines()[-1:][0] if err.strip() else f"exit {proc.returncode}")
        raise GitError(f"git {args[0] if args else ''} failed: {detail[:300]}", hint=_hint_for(detail))
    return out.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.communicate()


def _hint_for(detail: str) -> str:
    low = detail.lower()
    if "could not read username" in low or "authentication" in low or "permission denied" in low:
        return "the repository needs credentials; CrashLens does not pass any: clone it yourself and add the local path"
    if "transport" in low and "not allowed" in low:
        return "that protocol is not allowed; use an https or ssh URL"
    if "not found" in low or "does not exist" in low or "not a git repository" in low:
        return "check the URL or path"
    if "could not resolve host" in low or "unable to access" in low:
        return "check the network and the host name"
    return "see the git message above"
