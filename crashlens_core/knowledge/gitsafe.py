"""Running git safely: GitPython with a scrubbed environment, list arguments, time and output limits.

GitPython is the git layer (``knowledge.gitrepo`` reads log, blame and files through it;
``clone_repo`` clones through ``Repo.clone_from``); this module owns the sandbox every one
of its git children runs in, built by replacing ``Git.execute`` (``sandboxed_repo_class``).
GitPython is imported inside the functions (``import crashlens_core`` stays fast).
Repositories come from strangers, so git is run as if the repo were hostile:

- the environment is an allow-list (no API keys, tokens, ``GIT_*`` redirections or
  credential helpers are inherited); system and global git config are ignored;
- hooks, fsmonitor, submodule recursion and symlink checkout are switched off through
  ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` (which outranks any repo config);
- only the protocols the caller allows are usable (https and ssh by default), also for
  redirects and submodules; no terminal prompts, ssh in batch mode;
- arguments are a list (never a shell); user text goes after ``--`` or is checked with
  ``check_rev``; a timeout kills git and every helper it started;
- GitPython's own guards (``ext::`` and other remote helpers, ``--upload-pack``, ``-c``,
  ``--output``…) stay on: nothing here passes ``allow_unsafe_protocols/options``. They are
  a denylist, so URLs are validated by ``knowledge.acquire.validate_url`` first as well.

>>> env = scrubbed_env()
>>> env["GIT_TERMINAL_PROMPT"], env["GIT_CONFIG_NOSYSTEM"]
('0', '1')
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

from ..errors import CrashLensError

__all__ = ["GitError", "Limits", "scrubbed_env", "run_git", "check_rev", "redact_url", "DEFAULT_PROTOCOLS",
           "sandboxed_git", "sandboxed_repo_class", "open_repo", "clone_repo", "translate_errors"]

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
    """Run ``git <args>`` in ``cwd`` through the sandboxed GitPython wrapper; its stdout as text.

    For plumbing GitPython has no object API for (ls-files, rev-parse, reset); clone, log,
    blame and show have their own functions (``clone_repo``, ``knowledge.gitrepo``).
    Raises ``GitError`` (credentials removed from the message) when git exits non-zero,
    runs longer than ``timeout`` seconds (git and its helpers are killed), or prints more
    than ``max_output`` bytes. ``watch`` is polled twice a second while git runs; a text it
    returns stops git and becomes the error (e.g. a clone growing past a size limit).

    >>> import tempfile
    >>> run_git(["init", "-q", "."], Path(tempfile.mkdtemp())) == ""
    True
    """
    if not Path(cwd).is_dir():
        raise GitError(f"no such folder {cwd}", hint="check the path")
    g = sandboxed_git(cwd, timeout=timeout, protocols=protocols, max_output=max_output,
                      extra_config=extra_config, watch=watch)
    with translate_errors(g):
        out = g.execute(["git", *[str(a) for a in args]], strip_newline_in_stdout=False)
    return str(out)


# ---------------------------------------------------------------- GitPython, sandboxed
@dataclass(frozen=True)
class Limits:
    """What one sandboxed git wrapper allows its children: protocols, config, time, output."""

    timeout: float = 60
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS
    max_output: int = 64 * 1024 * 1024
    extra_config: tuple[tuple[str, str], ...] = ()
    watch: Callable[[], str | None] | None = None


def sandboxed_git(cwd: Path | str | None, **limits: Any) -> Any:
    """A ``git.Git`` command wrapper for ``cwd`` whose every child runs in the sandbox.

    ``limits`` are the fields of ``Limits``. See ``sandboxed_repo_class`` for what changes
    against plain GitPython.
    """
    return _git_class(_limits(**limits))(None if cwd is None else str(cwd))


def sandboxed_repo_class(**limits: Any) -> Any:
    """A ``git.Repo`` subclass whose command wrapper runs every git child in the sandbox.

    GitPython starts every child from a copy of ``os.environ`` and only *adds*
    ``update_environment`` values, so an inherited ``GIT_SSH_COMMAND``, ``GIT_CONFIG_*``,
    ``GIT_DIR`` or API key would reach git. Its ``execute`` is therefore replaced: the
    child's environment is exactly ``scrubbed_env`` (GitPython's own env additions are
    ignored), argv[0] is ``git`` from the scrubbed PATH (not ``GIT_PYTHON_GIT_EXECUTABLE``),
    no shell, a new process group killed on timeout, output capped. GitPython's
    unsafe-protocol and unsafe-option guards stay on: nothing here passes ``allow_unsafe_*``.
    """
    import git  # GitPython: ~0.3 s to import, only when git is really used

    lim = _limits(**limits)
    return type("SandboxedRepo", (git.Repo,), {"GitCommandWrapperType": _git_class(lim)})


def open_repo(root: Path, **limits: Any) -> Any:
    """The sandboxed ``git.Repo`` of the working tree ``root`` (GitError when it is none)."""
    import git

    try:
        return sandboxed_repo_class(**limits)(str(root))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{root} is not a git repository", hint="check the path") from None


def clone_repo(url: str, dest: Path, *, options: Sequence[str] = (), **limits: Any) -> Any:
    """``git clone <options> -- url dest`` through ``Repo.clone_from`` (its guards on); the Repo.

    ``options`` are fixed flags of ours (``--depth=N``, ``--no-tags``); GitPython still checks
    them and the URL (``ext::``, ``--upload-pack``, ``-c`` are refused with ``GitError``).
    """
    repo_cls = sandboxed_repo_class(**limits)
    with translate_errors(repo_cls.GitCommandWrapperType):
        return repo_cls.clone_from(url, str(dest), multi_options=list(options))


@contextmanager
def translate_errors(g: Any) -> Iterator[None]:
    """GitPython's exceptions as ``GitError`` with a hint, credentials removed."""
    import git

    try:
        yield
    except GitError:
        raise
    except git.UnsafeProtocolError as exc:
        raise GitError(f"refused by GitPython's guard: {redact_url(str(exc))[:300]}",
                       hint="that protocol is not allowed; use an https or ssh URL") from None
    except git.UnsafeOptionError as exc:
        raise GitError(f"refused by GitPython's guard: {redact_url(str(exc))[:300]}",
                       hint="git options that run commands or write files are not passed on") from None
    except git.GitCommandNotFound:
        raise GitError("git is not installed", hint="install git (apt-get install git)") from None
    except git.GitCommandError as exc:
        killed = getattr(g, "killed", None)
        if killed:  # our watchdog stopped a streaming child: its reason, not the bare exit status
            raise killed[0] from None
        err = exc.stderr if isinstance(exc.stderr, str) else (exc.stderr or b"").decode("utf-8", "replace")
        lines = [ln.strip() for ln in err.strip().strip("'").splitlines() if ln.strip()]
        detail = redact_url(lines[-1] if lines else f"exit {exc.status}").removeprefix("stderr: ").strip("'")
        verb = next((str(a) for a in (exc.command or [])[1:] if not str(a).startswith("-")), "")
        raise GitError(f"git {verb} failed: {detail[:300]}", hint=_hint_for(detail)) from None


def _limits(timeout: float = 60, protocols: Iterable[str] = DEFAULT_PROTOCOLS, max_output: int = 64 * 1024 * 1024,
            extra_config: Sequence[tuple[str, str]] = (), watch: Callable[[], str | None] | None = None) -> Limits:
    return Limits(float(timeout), tuple(protocols), int(max_output), tuple(tuple(kv) for kv in extra_config), watch)  # type: ignore[misc]


def _git_class(lim: Limits) -> Any:
    """A ``git.Git`` subclass bound to ``lim``: GitPython builds its wrappers from a class
    (``Repo.GitCommandWrapperType(working_dir)``), so per-call limits live on a small subclass."""
    return type("SandboxedGit", (_base_class(),), {"limits": lim, "killed": []})


@functools.lru_cache(maxsize=1)
def _base_class() -> Any:
    import git

    class SandboxedGit(git.Git):
        """``git.Git`` with ``execute`` replaced (see ``sandboxed_repo_class``); Popen extras
        GitPython may pass are not forwarded."""

        limits: Limits = Limits()
        killed: list[GitError]  # declared only: each class sandboxed_repo_class makes has its own list

        def execute(self, command: Any, istream: Any = None, with_extended_output: bool = False,
                    with_exceptions: bool = True, as_process: bool = False, output_stream: Any = None,
                    stdout_as_string: bool = True, kill_after_timeout: float | None = None, with_stdout: bool = True,
                    universal_newlines: bool = False, shell: bool | None = None, env: Any = None,
                    max_chunk_size: int = 8192, strip_newline_in_stdout: bool = True, **popen_kwargs: Any) -> Any:
            lim = self.limits
            if shell or isinstance(command, str):
                raise GitError("refused to run git through a shell", hint="pass the arguments as a list")
            argv = ["git", *[str(a) for a in list(command)[1:]]]
            timeout = min(lim.timeout, kill_after_timeout) if kill_after_timeout else lim.timeout
            try:
                proc = subprocess.Popen(argv, cwd=self._working_dir or None, env=scrubbed_env(lim.protocols, extra_config=lim.extra_config),
                                        stdin=istream or subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        stdout=subprocess.PIPE if with_stdout else subprocess.DEVNULL,
                                        universal_newlines=universal_newlines, start_new_session=True)
            except FileNotFoundError as exc:
                raise git.GitCommandNotFound(argv, exc) from exc
            if as_process:
                # a streaming reader (clone, rev-list, cat-file --batch): the caller reads it;
                # one-shot commands still get the deadline and the watch, in a thread
                if argv[1:2] != ["cat-file"]:
                    _Watchdog(proc, timeout, lim.watch, type(self).killed).start()
                return self.AutoInterrupt(proc, argv)
            out, err, reason = _communicate(proc, timeout, lim.watch)
            if reason is not None:
                raise reason
            if len(out) > lim.max_output:
                raise GitError(f"git {argv[1] if len(argv) > 1 else ''} printed more than {lim.max_output // 2**20} MB",
                               hint="narrow the request")
            if output_stream is not None:
                output_stream.write(out)
            if strip_newline_in_stdout and out.endswith(b"\n"):
                out = out[:-1]
            if with_exceptions and proc.returncode != 0:
                raise git.GitCommandError(argv, proc.returncode, err, out)
            value: Any = out.decode("utf-8", "replace") if stdout_as_string else out
            if with_extended_output:
                return proc.returncode, value, err.decode("utf-8", "replace")
            return value

    return SandboxedGit


def _communicate(proc: subprocess.Popen, timeout: float, watch: Callable[[], str | None] | None
                 ) -> tuple[bytes, bytes, GitError | None]:
    deadline = time.monotonic() + timeout
    while True:
        step = min(0.5, max(deadline - time.monotonic(), 0.01)) if watch else max(deadline - time.monotonic(), 0.01)
        try:
            out, err = proc.communicate(timeout=step)
            return out or b"", err or b"", None
        except subprocess.TimeoutExpired:
            reason = watch() if watch else None
            if reason:
                _kill_group(proc)
                return b"", b"", GitError(reason, hint="raise the limit in the settings if this repository is expected")
            if time.monotonic() < deadline:
                continue
        _kill_group(proc)
        verb = proc.args[1] if isinstance(proc.args, list) and len(proc.args) > 1 else ""
        return b"", b"", GitError(f"git {verb} timed out after {timeout:g} s",
                                  hint="the repository may be too large or the host unreachable; raise knowledge_git_timeout_s")


class _Watchdog(threading.Thread):
    """Kills a streaming git child (and its helpers) past its deadline or when the watch says so.

    The reason goes to the wrapper class's ``killed`` list, so ``translate_errors`` reports it
    instead of a bare exit status.
    """

    def __init__(self, proc: subprocess.Popen, timeout: float, watch: Callable[[], str | None] | None,
                 killed: list[GitError]) -> None:
        super().__init__(daemon=True)
        self.proc, self.deadline, self.watch = proc, time.monotonic() + timeout, watch
        self.timeout, self.killed = timeout, killed

    def run(self) -> None:
        while self.proc.poll() is None:
            reason = self.watch() if self.watch else None
            if not reason and time.monotonic() >= self.deadline:
                argv = cast(list[str], self.proc.args)  # started from the argv list execute built
                reason = f"git {argv[1]} timed out after {self.timeout:g} s"
            if reason:
                self.killed.append(GitError(reason, hint="raise the limit in the settings if this is expected"))
                _kill_group(self.proc, wait=False)
                return
            time.sleep(0.5)


def _kill_group(proc: subprocess.Popen, wait: bool = True) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    if wait:
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
