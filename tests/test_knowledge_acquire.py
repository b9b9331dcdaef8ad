"""Safe acquisition: URL validation, the git sandbox, local clones, archive extraction."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from crashlens_core.config import Settings
from crashlens_core.errors import CrashLensError, InputError
from crashlens_core.knowledge.acquire import clone_local, derive_name, extract_archive, validate_url
from crashlens_core.knowledge.gitsafe import GitError, check_rev, redact_url, run_git, scrubbed_env

from .data_helpers import git as _git
from .data_helpers import make_repo

HOSTS = "github.com,gitlab.com"


@pytest.mark.parametrize("url, why", [
    ("ext::sh -c touch% /tmp/pwned", "remote helpers"),
    ("file:///etc/passwd", "file URLs"),
    ("/etc", "file URLs"),
    ("--upload-pack=touch /tmp/x", "git option"),
    ("-oProxyCommand=evil", "git option"),
    ("http://github.com/a/b.git", "unencrypted"),
    ("git://github.com/a/b.git", "unencrypted"),
    ("ftp://github.com/a/b.git", "only https and ssh"),
    ("https://evil.example.com/a/b.git", "not on the allow-list"),
    ("ssh://-oProxyCommand=x/a", "bad host"),
    ("https://github.com/-a", "bad repository path"),
    ("https://github.com/a/../../b", "bad repository path"),
    ("https://github.com/a b", "spaces"),
    ("fd::17", "remote helpers"),
])
def test_unsafe_urls_are_refused_with_the_reason(url, why):
    with pytest.raises(InputError) as err:
        validate_url(url, HOSTS)
    assert why in err.value.message
    assert err.value.hint


def test_good_urls_are_accepted_and_credentials_never_stored():
    r = validate_url("https://alice:s3cr3t@github.com/acme/shop.git", HOSTS)
    assert r.url == r.display == "https://github.com/acme/shop.git"
    assert "s3cr3t" not in r.display and r.auth_header.startswith("Authorization: Basic ")
    assert validate_url("git@github.com:acme/shop.git", HOSTS).scheme == "ssh"
    assert validate_url("ssh://git@gitlab.com:2222/acme/shop.git", HOSTS).url == "ssh://git@gitlab.com:2222/acme/shop.git"
    assert validate_url("https://any.host/x/y", "*").host == "any.host"
    assert derive_name("https://github.com/acme/shop.git") == "shop"
    assert derive_name("/tmp/shop-main.tar.gz") == "shop-main"
    assert redact_url("fatal: https://bob:pw@h/x failed") == "fatal: https://h/x failed"


def test_scrubbed_env_drops_secrets_and_switches_off_hooks_submodules_symlinks(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_live_secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("GIT_DIR", "/somewhere/else")
    env = scrubbed_env()
    assert not {"GROQ_API_KEY", "GITHUB_TOKEN", "GIT_DIR"} & set(env)
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    config = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert config["core.hooksPath"] == "/dev/null" and config["core.symlinks"] == "false"
    assert config["submodule.recurse"] == "false" and config["protocol.allow"] == "never"
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert "secret" not in " ".join(env.values())


def test_hooks_never_run_and_symlinks_check_out_as_files(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "hello\n"})
    os.symlink("/etc/passwd", repo / "link")
    _git(repo, "add", "link")
    _git(repo, "commit", "-q", "-m", "link")
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    (repo / "link").unlink()
    run_git(["checkout", "--", "link"], repo)
    run_git(["checkout", "-q", "-b", "other"], repo)
    assert not marker.exists()
    assert (repo / "link").is_file() and not (repo / "link").is_symlink()
    assert (repo / "link").read_text() == "/etc/passwd"


def test_run_git_reports_failures_and_timeouts(tmp_path):
    with pytest.raises(GitError) as err:
        run_git(["log", "-1"], tmp_path)
    assert "failed" in err.value.message and err.value.hint
    with pytest.raises(GitError) as err:
        run_git(["clone", "ext::sh -c true", "x"], tmp_path)
    assert "not allowed" in err.value.message
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # git blocks opening it: a stand-in for a hung clone
    with pytest.raises(GitError) as err:
        run_git(["hash-object", str(fifo)], tmp_path, timeout=1)
    assert "timed out after 1 s" in err.value.message
    with pytest.raises(GitError) as err:
        run_git(["hash-object", str(fifo)], tmp_path, timeout=30, watch=lambda: "stopped by the size watch")
    assert err.value.message == "stopped by the size watch"
    with pytest.raises(GitError):
        check_rev("--output=/tmp/x")


def test_local_clone_keeps_history_to_the_configured_depth(tmp_path):
    repo = make_repo(tmp_path / "src", {"m.py": "x = 1\n"})
    for i in range(3):
        (repo / "m.py").write_text(f"x = {i + 2}\n")
        _git(repo, "commit", "-qam", f"c{i}")
    dest = tmp_path / "dest"
    commit = clone_local(repo, dest, Settings(knowledge_clone_depth=2))
    assert commit == _git(repo, "rev-parse", "HEAD").strip()
    assert len(run_git(["log", "--format=%H"], dest).split()) == 2
    assert "file://" in run_git(["remote", "get-url", "origin"], dest)


def _zip(entries: list[tuple[str, bytes, int | None]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def test_zip_extraction_skips_escapes_links_and_git_folders(tmp_path):
    archive = tmp_path / "shop-main.zip"
    archive.write_bytes(_zip([
        ("shop-main/app.py", b"print('hi')\n", 0o100644),
        ("shop-main/../../escape.py", b"bad", None),
        ("/abs.py", b"bad", None),
        ("shop-main/link", b"/etc/passwd", 0o120777),
        ("shop-main/.git/config", b"[core]\n\tfsmonitor = touch /tmp/pwn\n", None),
    ]))
    dest = tmp_path / "out"
    counts = extract_archive(archive, dest, Settings())
    assert (dest / "app.py").read_text() == "print('hi')\n"      # single top folder unwrapped
    assert counts["files"] == 1 and counts["skipped"] == 4
    assert not (tmp_path / "escape.py").exists() and not (dest / "link").exists() and not (dest / ".git").exists()


def test_tar_links_and_bombs_are_refused(tmp_path):
    archive = tmp_path / "t.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = b"def f():\n    pass\n"
        info = tarfile.TarInfo("src/ok.py")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        for kind, name in ((tarfile.SYMTYPE, "src/sym"), (tarfile.LNKTYPE, "src/hard")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, "/etc/passwd"
            tf.addfile(link)
    dest = tmp_path / "t"
    assert extract_archive(archive, dest, Settings())["skipped"] == 2
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == ["ok.py"]

    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_zip([("zeros.txt", b"\0" * (8 * 2**20), None)]))
    with pytest.raises(InputError) as err:
        extract_archive(bomb, tmp_path / "b", Settings(knowledge_max_archive_ratio=20))
    assert "zip bomb" in err.value.message
    assert not (tmp_path / "b").exists()
    with pytest.raises(InputError, match="more than 1 MB"):
        extract_archive(bomb, tmp_path / "b2", Settings(knowledge_max_repo_mb=1, knowledge_max_archive_ratio=100000))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(CrashLensError, match="not a zip or tar"):
        extract_archive(junk, tmp_path / "j", Settings())


def test_a_relative_workspace_folder_works_like_make_run_s_default(tmp_path, monkeypatch):
    """`make run` uses the relative data/workspace; git runs with another cwd, so paths must be absolute."""
    from crashlens_core.config import Settings
    from crashlens_core.knowledge.sources import add_repo, list_repos
    from crashlens_core.store import Workspace

    src = make_repo(tmp_path / "src", {"shop/app.py": "def handler():\n    raise ValueError('boom')\n"})
    monkeypatch.chdir(tmp_path)
    with Workspace.open("data/workspace") as ws:
        assert ws.folder.is_absolute()
        add_repo(ws, Settings(), str(src))
        (repo,) = list_repos(ws)
        assert repo.root == tmp_path / "data" / "workspace" / "repos" / repo.name
        assert (repo.root / "shop" / "app.py").exists() and repo.commit
    assert not (tmp_path / "data" / "workspace" / "repos" / "data").exists()


# ---------------------------------------------------------------- GitPython in the sandbox
def test_a_hostile_parent_environment_does_not_reach_gitpython_s_children(tmp_path, monkeypatch):
    """GitPython starts children from os.environ; the sandbox hands them the scrubbed env only."""
    from crashlens_core.knowledge.gitrepo import log
    from crashlens_core.knowledge.gitsafe import clone_repo, open_repo

    repo = make_repo(tmp_path / "r", {"a.txt": "hello\n"})
    other = make_repo(tmp_path / "other", {"b.txt": "elsewhere\n"})
    marker = tmp_path / "ssh-ran"
    monkeypatch.setenv("GIT_SSH_COMMAND", f"touch {marker}; false")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(tmp_path / "evil-hooks"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'user.name'='hostile'")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    # the repo's own .git, not the GIT_DIR of the parent
    assert [c.files for c in log(repo)] == [("a.txt",)]
    g = open_repo(repo).git
    assert g.config("--get", "core.hooksPath") == "/dev/null"
    with pytest.raises(Exception):   # user.name from GIT_CONFIG_PARAMETERS is not set
        g.config("--get", "user.name")
    assert "ghp_secret" not in run_git(["config", "--list"], repo)
    # the ssh command of the parent never runs (ours does, in batch mode, and fails to connect)
    with pytest.raises(GitError):
        clone_repo("ssh://git@127.0.0.1:1/x.git", tmp_path / "c", protocols=("ssh",), timeout=20)
    assert not marker.exists()
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


@pytest.mark.parametrize("url, options, why", [
    ("ext::sh -c touch% /tmp/crashlens-pwned", (), "ext::"),
    ("https://github.com/a/b.git", ("--upload-pack=touch /tmp/crashlens-pwned",), "--upload-pack"),
    ("https://github.com/a/b.git", ("-c core.sshCommand=touch",), "-c"),
])
def test_gitpython_s_own_guard_stays_on_behind_our_url_check(tmp_path, url, options, why):
    """Even a URL or option that slipped past validate_url is refused by GitPython before git runs."""
    from crashlens_core.knowledge.gitsafe import clone_repo

    with pytest.raises(GitError) as err:
        clone_repo(url, tmp_path / "dest", options=options, protocols=("https", "ext"))
    assert "GitPython's guard" in err.value.message and why in err.value.message
    assert err.value.hint
    assert not (tmp_path / "dest").exists()


def test_log_reads_commits_with_author_time_summary_and_files(tmp_path):
    from datetime import datetime

    from crashlens_core.knowledge.gitrepo import commit_diff, head, log

    repo = make_repo(tmp_path / "r", {"a.py": "x = 1\n", "pkg/b c.py": "y = 2\n"})
    (repo / "a.py").write_text("x = 3\n")
    env_date = {"GIT_AUTHOR_DATE": "2024-05-08T13:27:00+02:00"}
    subprocess.run(["git", "commit", "-qam", "Fix x\n\nlonger body"], cwd=repo, check=True,
                   env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
                        "GIT_AUTHOR_NAME": "Dana K", "GIT_AUTHOR_EMAIL": "dana@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x", **env_date})
    newest, first = log(repo)
    assert newest.sha == head(repo) and newest.parents == (first.sha,)
    assert (newest.author, newest.email, newest.summary) == ("Dana K", "dana@x", "Fix x")
    assert newest.time == datetime(2024, 5, 8, 11, 27)          # naive UTC
    assert newest.files == ("a.py",) and set(first.files) == {"a.py", "pkg/b c.py"}
    assert [c.sha for c in log(repo, paths=["pkg/b c.py"])] == [first.sha]
    assert log(repo, max_count=1, files=False)[0].files == ()
    assert "+x = 3" in commit_diff(repo, newest.sha)
    with pytest.raises(GitError):
        log(repo, rev="--output=/tmp/x")
    assert log(tmp_path) == []


def test_fetch_update_brings_a_clone_to_its_remote_s_new_commit(tmp_path):
    from crashlens_core.knowledge.acquire import fetch_update

    src = make_repo(tmp_path / "src", {"m.py": "x = 1\n"})
    dest = tmp_path / "dest"
    first = clone_local(src, dest, Settings(knowledge_clone_depth=1))
    (src / "m.py").write_text("x = 2\n")
    _git(src, "commit", "-qam", "two")
    new = fetch_update(dest, Settings(knowledge_clone_depth=1), ("file",))
    assert new != first and new == _git(src, "rev-parse", "HEAD").strip()
    assert (dest / "m.py").read_text() == "x = 2\n"
