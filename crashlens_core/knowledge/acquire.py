"""Getting a repository's files safely: clone by URL, copy a local path, extract an archive.

Everything here assumes hostile input:
- URLs: only ``https://`` and ssh (``ssh://`` or ``user@host:path``) to hosts on the
  allow-list (setting ``knowledge_allowed_hosts``); ``ext::``, ``file:``, ``http:``, options
  (leading ``-``), control characters and odd host names are refused; credentials are
  stripped from everything stored or shown (an https password is used for the one clone
  through an ``http.extraHeader``, never written to ``.git/config``).
- git runs through GitPython in the ``gitsafe`` sandbox (scrubbed environment, no hooks, no
  submodules, no symlinks; GitPython's own ``ext::``/``--upload-pack`` guards on), user text
  always after ``--``, with a time limit and a size watch.
- archives (zip, tar, tar.gz/bz2/xz): entries that would land outside the target, links,
  devices and ``.git`` folders are skipped; total size, entry count and the
  compression ratio are capped while extracting (the declared sizes are not trusted).

>>> validate_url("https://bob:pw@github.com/acme/shop.git", "github.com").display
'https://github.com/acme/shop.git'
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import unquote

from ..config import Settings
from ..errors import InputError
from .gitrepo import head as _git_head
from .gitsafe import GitError, check_rev, clone_repo, open_repo, redact_url, translate_errors

__all__ = ["RepoUrl", "validate_url", "derive_name", "clone_url", "clone_local", "copy_tree", "extract_archive",
           "head_commit", "fetch_update", "tree_size", "ARCHIVE_SUFFIXES"]

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_SCP_RE = re.compile(r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[^:/\s]+):(?P<path>[^\s]+)")
_SKIP_DIRS = {".git", ".hg", ".svn"}

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RepoUrl:
    """A validated clone URL: ``url`` to give git (no credentials), ``display`` to store and show."""

    url: str
    display: str
    host: str
    scheme: str                         # https | ssh
    auth_header: str = ""               # for https user:password, used for one clone only


def validate_url(text: str, allowed_hosts: str) -> RepoUrl:
    """Check a repository URL against the rules above; ``InputError`` says why it is refused."""
    raw = (text or "").strip()
    shown = redact_url(raw)[:200]
    if not raw:
        raise InputError("no repository URL given", hint="e.g. https://github.com/owner/repo.git")
    if raw.startswith("-"):
        raise InputError(f"refused repository URL {shown!r}: it looks like a git option", hint="give an https:// or ssh URL")
    low = raw.lower()
    if "::" in raw.split("/")[0] or low.startswith(("ext:", "fd:")):
        raise InputError(f"refused repository URL {shown!r}: git remote helpers (ext::, fd::) can run commands",
                         hint="give an https:// or ssh URL")
    if any(ord(c) < 32 or c in " \\\x7f" for c in raw):
        raise InputError(f"refused repository URL {shown!r}: it contains spaces, backslashes or control characters",
                         hint="give a plain https:// or ssh URL")
    if low.startswith("file:") or raw.startswith(("/", ".", "~")):
        raise InputError(f"refused repository URL {shown!r}: file URLs are not cloned from a URL field",
                         hint="add a local folder as a local path instead")
    user = password = ""
    if low.startswith("https://") or low.startswith("ssh://"):
        scheme, rest = raw.split("://", 1)
        scheme = scheme.lower()
        netloc, _, path = rest.partition("/")
        if "@" in netloc:
            userinfo, netloc = netloc.rsplit("@", 1)
            user, _, password = userinfo.partition(":")
            user, password = unquote(user), unquote(password)
        host, _, port = netloc.partition(":")
        if port and not port.isdigit():
            raise InputError(f"refused repository URL {shown!r}: bad port", hint="e.g. ssh://git@host:2222/owner/repo.git")
        path = "/" + path
    elif low.startswith(("http://", "git://")):
        raise InputError(f"refused repository URL {shown!r}: unencrypted protocols are not allowed",
                         hint="use the https:// (or ssh) URL of the repository")
    elif "://" in raw:
        raise InputError(f"refused repository URL {shown!r}: only https and ssh are allowed", hint="use the https:// URL")
    else:
        m = _SCP_RE.fullmatch(raw)
        if not m:
            raise InputError(f"refused repository URL {shown!r}: not an https or ssh URL",
                             hint="e.g. https://github.com/owner/repo.git or git@github.com:owner/repo.git")
        scheme, user, host, port, path = "ssh", m["user"], m["host"], "", m["path"]
    if not _HOST_RE.fullmatch(host):
        raise InputError(f"refused repository URL {shown!r}: bad host name", hint="check the URL")
    if path.lstrip("/").startswith("-") or ".." in PurePosixPath(path).parts or len(path.strip("/")) == 0:
        raise InputError(f"refused repository URL {shown!r}: bad repository path", hint="e.g. /owner/repo.git")
    allowed = {h.strip().lower() for h in allowed_hosts.split(",") if h.strip()}
    if "*" not in allowed and host.lower() not in allowed:
        raise InputError(f"refused repository URL {shown!r}: host {host} is not on the allow-list",
                         hint=f"allowed: {', '.join(sorted(allowed)) or 'none'}; add it to knowledge_allowed_hosts (CRASHLENS_KNOWLEDGE_ALLOWED_HOSTS)")
    hostport = f"{host}:{port}" if port else host
    if scheme == "https":
        url = f"https://{hostport}{path}"
        auth = ""
        if user or password:
            auth = "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return RepoUrl(url=url, display=url, host=host.lower(), scheme="https", auth_header=auth)
    if user.startswith("-"):
        raise InputError(f"refused repository URL {shown!r}: bad user name", hint="e.g. git@host:owner/repo.git")
    who = f"{user}@" if user else ""
    if raw.lower().startswith("ssh://"):
        url = f"ssh://{who}{hostport}{path}"
    else:
        url = f"{who}{host}:{path}"
    return RepoUrl(url=url, display=url, host=host.lower(), scheme="ssh")


def derive_name(text: str) -> str:
    """A source name from a URL, path or archive name: ``shop`` from ``…/acme/shop.git``."""
    base = re.split(r"[/:\\]", redact_url(text).rstrip("/\\"))[-1]
    for suffix in (*ARCHIVE_SUFFIXES, ".git"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-")[:60]
    return name or "repo"


def tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _size_watch(dest: Path, limit_bytes: int) -> Callable[[], str | None]:
    state = {"n": 0}

    def check() -> str | None:
        state["n"] += 1
        if state["n"] % 4 or not dest.exists():  # every ~2 s: walking a big clone is not free
            return None
        size = tree_size(dest)
        return f"the repository is larger than {limit_bytes // 2**20} MB" if size > limit_bytes else None

    return check


def clone_url(repo: RepoUrl, dest: Path, settings: Settings, progress: Progress | None = None) -> str | None:
    """Clone ``repo`` into ``dest`` (which must not exist); the HEAD commit (None: no commits yet)."""
    if progress:
        progress(0.0, f"cloning {repo.display}")
    extra = [("http.extraHeader", repo.auth_header)] if repo.auth_header else []
    _run_clone(repo.url, dest, settings, protocols=(repo.scheme,), extra_config=extra)
    return head_commit(dest)


def clone_local(src: Path, dest: Path, settings: Settings) -> str | None:
    """Clone a local git repository (committed history only, fresh config); the HEAD commit (None: no commits).

    ``--no-local`` through a ``file://`` URL: objects are copied, never hard-linked or
    followed through symlinks of the source, and ``--depth`` applies.
    """
    _run_clone(src.resolve().as_uri(), dest, settings, protocols=("file",), local=True)
    return head_commit(dest)


def _run_clone(url: str, dest: Path, settings: Settings, protocols: tuple[str, ...],
               extra_config: list[tuple[str, str]] | None = None, local: bool = False) -> None:
    """``Repo.clone_from`` with our fixed flags, in the sandbox, under the time and size limits."""
    limit = settings.knowledge_max_repo_mb * 2**20
    options = ["--no-tags", "--single-branch", "--no-recurse-submodules"] + (["--no-local"] if local else [])
    if settings.knowledge_clone_depth > 0:
        options.append(f"--depth={int(settings.knowledge_clone_depth)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        clone_repo(url, dest, options=options, timeout=settings.knowledge_git_timeout_s, protocols=protocols,
                   extra_config=extra_config or (), watch=_size_watch(dest, limit)).close()
    except GitError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    if tree_size(dest) > limit:
        shutil.rmtree(dest, ignore_errors=True)
        raise InputError(f"the repository is larger than {settings.knowledge_max_repo_mb} MB",
                         hint="raise knowledge_max_repo_mb (CRASHLENS_KNOWLEDGE_MAX_REPO_MB) if this is expected")


def head_commit(root: Path) -> str | None:
    """The commit checked out in ``root``, or None when it has no git history."""
    return _git_head(root)


def fetch_update(root: Path, settings: Settings, protocols: tuple[str, ...], auth_header: str = "") -> str:
    """Bring a clone to its remote's latest commit (re-sync); the new HEAD commit."""
    kwargs: dict = {"no_tags": True, "recurse_submodules": "no"}
    if settings.knowledge_clone_depth > 0:
        kwargs["depth"] = int(settings.knowledge_clone_depth)
    extra = [("http.extraHeader", auth_header)] if auth_header else []
    repo = open_repo(root, timeout=settings.knowledge_git_timeout_s, protocols=protocols, extra_config=extra)
    try:
        with translate_errors(repo.git):
            repo.remote("origin").fetch(**kwargs)  # GitPython's fetch guards (--upload-pack …) stay on
            target = check_rev(repo.git.rev_parse("--verify", "FETCH_HEAD^{commit}").strip())
            repo.git.reset("-q", "--hard", target)
    finally:
        repo.close()
    return target


def copy_tree(src: Path, dest: Path, settings: Settings, exclude: Path | None = None) -> int:
    """Copy a plain folder (no git) into ``dest``: regular files only, no links; bytes copied.

    ``exclude`` (the workspace) is never copied, so adding a folder that contains the
    workspace does not copy the workspace into itself.
    """
    limit = settings.knowledge_max_repo_mb * 2**20
    total = 0
    src = src.resolve()
    skip = {Path(exclude).resolve(), Path(dest).resolve()} if exclude else {Path(dest).resolve()}
    for dirpath, dirs, files in os.walk(src, followlinks=False):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d))
                   and Path(dirpath, d).resolve() not in skip]
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            p = Path(dirpath) / f
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            total += st.st_size
            if total > limit:
                shutil.rmtree(dest, ignore_errors=True)
                raise InputError(f"{src} holds more than {settings.knowledge_max_repo_mb} MB",
                                 hint="point at the source folder of the project, or raise knowledge_max_repo_mb")
            shutil.copyfile(p, dest / rel / f, follow_symlinks=False)
    return total


# ---------------------------------------------------------------- archives
def _safe_member(name: str) -> PurePosixPath | None:
    """The relative path an archive entry may be written to, or None if it must be skipped."""
    name = name.replace("\\", "/")
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or any(p in _SKIP_DIRS for p in parts):
        return None
    return PurePosixPath(*parts)


def extract_archive(archive: Path, dest: Path, settings: Settings) -> dict[str, int]:
    """Extract a zip or tar into ``dest`` within the limits; counts of written and skipped entries.

    A single top-level folder is unwrapped (``shop-main/…`` becomes the root).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InputError(f"no such archive: {archive}", hint="check the path")
    packed = max(archive.stat().st_size, 1)
    limit = settings.knowledge_max_repo_mb * 2**20
    ratio = settings.knowledge_max_archive_ratio
    max_entries = settings.knowledge_max_archive_files
    counts = {"files": 0, "skipped": 0, "bytes": 0}
    dest.mkdir(parents=True, exist_ok=False)

    def budget(n: int) -> None:
        counts["bytes"] += n
        if counts["bytes"] > limit:
            raise InputError(f"{archive.name} unpacks to more than {settings.knowledge_max_repo_mb} MB",
                             hint="raise knowledge_max_repo_mb if this is expected")
        if counts["bytes"] > packed * ratio and counts["bytes"] > 2**20:
            raise InputError(f"{archive.name} expands more than {ratio}x (a zip bomb?)",
                             hint="raise knowledge_max_archive_ratio if this archive is genuine")

    def write(rel: PurePosixPath, fh) -> None:
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            while True:
                block = fh.read(1 << 16)
                if not block:
                    break
                budget(len(block))
                out.write(block)
        counts["files"] += 1

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                if len(infos) > max_entries:
                    raise InputError(f"{archive.name} has {len(infos)} entries (limit {max_entries})", hint="raise knowledge_max_archive_files")
                for info in infos:
                    mode = info.external_attr >> 16
                    rel = _safe_member(info.filename)
                    if info.is_dir():
                        continue
                    ftype = stat.S_IFMT(mode)   # many zips carry no type bits: those are plain files
                    if rel is None or (ftype and ftype != stat.S_IFREG) or info.flag_bits & 0x1:
                        counts["skipped"] += 1  # escaping path, symlink/device, or encrypted entry
                        continue
                    with zf.open(info) as fh:
                        write(rel, fh)
        elif _is_tar(archive):
            with tarfile.open(archive, "r:*") as tf:
                n = 0
                for member in tf:
                    n += 1
                    if n > max_entries:
                        raise InputError(f"{archive.name} has more than {max_entries} entries", hint="raise knowledge_max_archive_files")
                    if member.isdir():
                        continue
                    rel = _safe_member(member.name)
                    if rel is None or not member.isreg():
                        counts["skipped"] += 1  # escaping path, symlink, hard link or device
                        continue
                    data = tf.extractfile(member)
                    if data is not None:
                        write(rel, data)
        else:
            raise InputError(f"{archive.name} is not a zip or tar archive", hint=f"upload one of {', '.join(ARCHIVE_SUFFIXES)}")
    except InputError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise InputError(f"cannot read archive {archive.name}: {exc}", hint="check the file is a complete zip or tar") from None
    if counts["files"] == 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise InputError(f"{archive.name} contains no usable files", hint="upload an archive of the source tree")
    _unwrap_single_folder(dest)
    return counts


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _unwrap_single_folder(dest: Path) -> None:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        tmp = dest.with_name(dest.name + ".unwrap")
        inner.rename(tmp)
        dest.rmdir()
        tmp.rename(dest)
