"""Stack frames to code: a real git repo (fixed dates, several authors), real tracebacks, the CLI, the stack view."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crashlens_core.knowledge.frames import RepoRef, map_frame, rank_suspects, resolve_frames, suspect_commits
from crashlens_core.signals.stacks import Frame, parse_stack
from crashlens_core.store import Workspace
from tests.conftest import run_cli

PRICING_V1 = '''"""Prices."""


def unit_price(catalog, sku):
    item = catalog[sku]
    return item["cents"]


def total(catalog, skus):
    return sum(unit_price(catalog, s) for s in skus)
'''
CART = '''from shop import pricing


def checkout(catalog, skus):
    if not skus:
        return 0
    return pricing.total(catalog, skus)
'''
RUN = '''import sys
from shop import cart

catalog = {"a": {"cents": 500, "qty": 1}, "b": {"cents": 300, "qty": 0}}
print(cart.checkout(catalog, sys.argv[1:]))
'''


def git(repo: Path, *args: str, author: str = "Alice Moreau", date: str = "2024-03-01T09:00:00+00:00") -> str:
    email = author.split()[0].lower() + "@shop.example"
    env = {"PATH": os.environ["PATH"], "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
           "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str, author: str, date: str) -> str:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, author=author, date=date)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The shop repo: a bug committed by Dana, reformatted by Carol (ignored for blame), and a real crash."""
    base = tmp_path_factory.mktemp("frames")
    repo = base / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    shas["alice"] = commit(repo, {"shop/__init__.py": "", "shop/pricing.py": PRICING_V1, "shop/cart.py": CART, "run.py": RUN},
                           "Initial shop", "Alice Moreau", "2024-03-01T09:00:00+00:00")
    shas["bob"] = commit(repo, {"shop/cart.py": CART.replace("if not skus:", "if not skus:  # empty cart")},
                         "Empty carts cost nothing", "Bob Rao", "2024-04-01T10:00:00+00:00")
    shas["dana"] = commit(repo, {"shop/pricing.py": PRICING_V1.replace('return item["cents"]', 'return item["cents"] / item["qty"]')},
                          "Price per unit for multipacks", "Dana Kowalski", "2024-05-08T13:27:00+00:00")
    shas["carol"] = commit(repo, {"shop/pricing.py": PRICING_V1.replace('return item["cents"]', "return item['cents'] / item['qty']")},
                           "Reformat: single quotes", "Carol Chen", "2024-05-10T08:00:00+00:00")
    shas["erin"] = commit(repo, {".git-blame-ignore-revs": f"# formatting only\n{shas['carol']}\nnot-a-commit\n"},
                          "Ignore the reformat in blame", "Erin Wu", "2024-05-11T08:00:00+00:00")
    # deploy the tree somewhere else, and crash it for real
    deploy = base / "deploy" / "srv" / "releases" / "42"
    shutil.copytree(repo, deploy, ignore=shutil.ignore_patterns(".git"))
    proc = subprocess.run([sys.executable, "run.py", "a", "b"], cwd=deploy, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    assert "ZeroDivisionError" in proc.stderr
    trace = base / "crash.txt"
    trace.write_text("2024-05-14 10:05:13 ERROR checkout failed\n" + proc.stderr)
    return {"repo": repo, "shas": shas, "trace": trace, "base": base}


WINDOW = (datetime(2024, 5, 14, 10, 5), datetime(2024, 5, 14, 10, 8))


def test_frames_map_to_repo_files_with_context_and_blame_through_ignored_revs(shop):
    st = parse_stack(shop["trace"].read_text())
    assert st.exception == "ZeroDivisionError" and "/srv/releases/42/shop/pricing.py" in st.frames[0].file
    rs = resolve_frames(st, [shop["repo"]], *WINDOW, context_lines=2)
    top = rs.frames[0]
    assert (top.repo, top.path, top.frame.line, top.revision) == ("shop", "shop/pricing.py", 6, None)
    assert [n for n, _ in top.context] == [4, 5, 6, 7, 8] and "item['qty']" in dict(top.context)[6]
    # Carol's reformat is in .git-blame-ignore-revs (next to a malformed line): blame sees Dana's change
    assert top.line_blame.commit == shop["shas"]["dana"] and top.line_blame.author == "Dana Kowalski"
    assert top.line_blame.time == datetime(2024, 5, 8, 13, 27)
    assert top.evidence_id() == f"code:shop@{shop['shas']['erin'][:7]}:shop/pricing.py#L4-L8"  # HEAD's tree
    assert {rf.path for rf in rs.resolved()} == {"shop/pricing.py", "shop/cart.py", "run.py"}
    raw = subprocess.run(["git", "blame", "-L", "6,6", "--porcelain", "--", "shop/pricing.py"], cwd=shop["repo"],
                         capture_output=True, text=True, check=True).stdout
    assert raw.startswith(shop["shas"]["carol"])  # plain blame would have blamed the reformat


def test_suspect_commits_rank_the_change_to_the_crash_line_first(shop):
    st = parse_stack(shop["trace"].read_text())
    commits = suspect_commits(resolve_frames(st, [shop["repo"]], *WINDOW), *WINDOW)
    assert commits[0].commit == shop["shas"]["dana"] and "last changed the frame line shop/pricing.py:6" in commits[0].why
    assert shop["shas"]["carol"] not in [c.commit for c in commits]
    assert commits[0].score > commits[1].score
    # an incident that ended before Dana's commit cannot have been caused by it
    early = (datetime(2024, 4, 20), datetime(2024, 4, 21))
    commits = suspect_commits(resolve_frames(st, [shop["repo"]], *early), *early)
    assert commits[0].commit != shop["shas"]["dana"]
    assert "after the incident window" in next(c.why for c in commits if c.commit == shop["shas"]["dana"])


def test_a_fix_committed_later_does_not_hide_the_code_that_ran(shop, tmp_path):
    repo = tmp_path / "shop"
    shutil.copytree(shop["repo"], repo)
    fixed = commit(repo, {"shop/pricing.py": PRICING_V1.replace('return item["cents"]', "return item['cents'] / max(item['qty'], 1)")},
                   "Fix division by zero", "Frank Li", "2024-05-15T09:00:00+00:00")
    st = parse_stack(shop["trace"].read_text())
    rs = resolve_frames(st, [repo], *WINDOW)
    top = rs.frames[0]
    assert rs.revisions["shop"] not in (None, fixed) and top.source_matches is True
    assert top.line_blame.commit == shop["shas"]["dana"]
    # an explicit revision is used as given
    rs = resolve_frames(st, [repo], revision=fixed)
    assert rs.frames[0].source_matches is False and rs.frames[0].line_blame.commit == fixed


def test_code_mapping_by_path_suffix(tmp_path):
    for rel in ("lib/helpers.py", "utils/helpers.py", "src/main/java/com/acme/Shop.java", "src/test/java/com/acme/Shop.java",
                "web/src/index.js"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    repos = [RepoRef("r", tmp_path)]

    def where(frame):
        hit = map_frame(frame, repos)
        return hit[1] if hit else None

    assert where(Frame(None, None, "f", "/deploy/lib/helpers.py", 1)) == "lib/helpers.py"
    assert where(Frame(None, None, "f", "/deploy/helpers.py", 1)) is None  # two candidates, only the name agrees
    assert where(Frame("com.acme", "Shop$1", "run", "Shop.java", 3)) == "src/main/java/com/acme/Shop.java"
    assert where(Frame(None, None, "f", "webpack:///./src/index.js", 1)) == "web/src/index.js"
    assert where(Frame(None, None, "f", "/other/index.js", 1)) is None  # a generic name alone is not enough


def test_suspects_from_the_trace_alone():
    failing_test = ("--- com.acme.CartTest::testTotal\njunit.framework.AssertionFailedError: expected:<3> but was:<2>\n"
                    "\tat junit.framework.Assert.fail(Assert.java:57)\n\tat com.acme.CartTest.testTotal(CartTest.java:30)\n"
                    "\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n")
    suspects = rank_suspects([parse_stack(failing_test)])
    assert suspects[0].name == "com.acme.Cart" and "failing test" in suspects[0].why
    crash = ("x\njava.lang.NullPointerException\n\tat com.acme.Money.add(Money.java:12)\n\tat com.acme.Cart.total(Cart.java:40)\n"
             "\tat com.acme.CartTest.testTotal(CartTest.java:30)\n")
    names = [s.name for s in rank_suspects([parse_stack(crash)])]
    # Cart is both in the stack and named by the failing test: two signals beat the crash site alone
    assert names[:2] == ["com.acme.Cart", "com.acme.Money"]
    assert names[-1] == "com.acme.CartTest"


_JUNIT_TAIL = """
\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
\tat java.lang.reflect.Method.invoke(Method.java:498)
\tat junit.framework.TestCase.runTest(TestCase.java:176)
\tat junit.framework.TestCase.runBare(TestCase.java:141)"""


def test_the_raising_frame_outranks_the_test_s_name_but_the_name_decides_a_bare_assertion():
    """A test's name is indirect evidence: it leads only when no application frame raised."""
    raised = parse_stack("java.lang.NullPointerException\n"
                         "\tat com.acme.Pricing.total(Pricing.java:40)\n"
                         "\tat com.acme.Checkout.run(Checkout.java:12)\n"
                         "\tat com.acme.Cart.sum(Cart.java:30)\n"
                         "\tat com.acme.CartTest.testSum(CartTest.java:22)" + _JUNIT_TAIL)
    assert [s.name for s in rank_suspects([raised])][:2] == ["com.acme.Pricing", "com.acme.Cart"]
    asserted = parse_stack("junit.framework.AssertionFailedError: expected:<2> but was:<3>\n"
                           "\tat junit.framework.Assert.fail(Assert.java:57)\n"
                           "\tat junit.framework.Assert.assertEquals(Assert.java:100)\n"
                           "\tat com.acme.CartTest.testSum(CartTest.java:22)" + _JUNIT_TAIL)
    top = rank_suspects([asserted])[0]
    assert top.name == "com.acme.Cart" and "named by the failing test" in top.why


def test_a_project_whose_package_is_on_the_library_list_is_ranked_by_its_test_s_package():
    """Mockito's own code is org.mockito.* (a library for everyone else): no frame is in-app."""
    st = parse_stack("java.lang.IndexOutOfBoundsException: Index: 1, Size: 1\n"
                     "\tat java.util.ArrayList.rangeCheck(ArrayList.java:657)\n"
                     "\tat java.util.ArrayList.get(ArrayList.java:433)\n"
                     "\tat org.mockito.internal.invocation.InvocationMatcher.argAt(InvocationMatcher.java:90)\n"
                     "\tat org.mockito.internal.verification.Times.verify(Times.java:40)\n"
                     "\tat org.mockito.VerificationTest.shouldVerify(VerificationTest.java:22)" + _JUNIT_TAIL)
    assert not any(f.in_app for f in st.frames)
    names = [s.name for s in rank_suspects([st])]
    assert names[0] == "org.mockito.internal.invocation.InvocationMatcher"
    assert not any(n.startswith(("java.", "sun.", "junit.")) for n in names)


def test_a_precondition_helper_that_raised_hands_the_crash_site_to_its_caller():
    st = parse_stack("java.lang.IllegalArgumentException: String must not be empty\n"
                     "\tat com.acme.helper.Validate.notEmpty(Validate.java:92)\n"
                     "\tat com.acme.nodes.DocumentType.<init>(DocumentType.java:20)\n"
                     "\tat com.acme.parser.TreeBuilder.process(TreeBuilder.java:120)\n"
                     "\tat com.acme.ParserApiTest.parsesDoctype(ParserApiTest.java:9)" + _JUNIT_TAIL)
    names = [s.name for s in rank_suspects([st])]
    assert names[:2] == ["com.acme.nodes.DocumentType", "com.acme.parser.TreeBuilder"]
    assert "com.acme.helper.Validate" in names


def test_a_root_cause_outranks_the_wrapper_that_re_threw_it():
    st = parse_stack("com.acme.ServiceException: lookup failed\n"
                     "\tat com.acme.Service.find(Service.java:50)\n"
                     "\tat com.acme.Service.handle(Service.java:20)\n"
                     "\tat com.acme.ApiTest.testFind(ApiTest.java:9)" + _JUNIT_TAIL + "\n"
                     "Caused by: java.lang.IllegalStateException: Expected a long\n"
                     "\tat com.acme.json.Reader.nextLong(Reader.java:965)\n"
                     "\tat com.acme.json.Parser.parse(Parser.java:48)\n"
                     "\t... 6 more")
    assert rank_suspects([st])[0].name == "com.acme.json.Reader"


def test_cli_frames_json_contract(shop):
    res = run_cli("frames", str(shop["trace"]), "--json", "--repo", str(shop["repo"]),
                  "--from", "2024-05-14T10:05:00Z", "--to", "2024-05-14T10:08:00Z", workspace=shop["base"] / "nows")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == {"language", "exception", "message", "frames", "suspects"}
    assert (doc["language"], doc["exception"], doc["message"]) == ("python", "ZeroDivisionError", "division by zero")
    assert set(doc["frames"][0]) == {"module", "class", "function", "file", "line", "in_app"}
    assert doc["frames"][0]["function"] == "unit_price" and doc["frames"][0]["line"] == 6
    top = doc["suspects"][0]
    assert set(top) == {"module", "function", "file", "line", "score", "why"} and top["function"] == "unit_price"
    assert top["score"] == 1.0 and "Dana Kowalski" in top["why"]
    res = run_cli("frames", "-", "--json", "--commits", "--repo", str(shop["repo"]), input=shop["trace"].read_text(),
                  workspace=shop["base"] / "nows")
    assert json.loads(res.stdout)["commits"][0]["commit"] == shop["shas"]["dana"]


def test_cli_uses_the_workspace_repos_and_reports_bad_input(shop, tmp_path):
    from crashlens_core.store import knowledge as kstore

    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        kstore.upsert_source(ws, "shop", "repo", "path", root=str(shop["repo"]))
    res = run_cli("frames", str(shop["trace"]), workspace=folder)
    assert res.returncode == 0, res.stderr
    assert "suspect commits:" in res.stdout and shop["shas"]["dana"][:10] in res.stdout
    res = run_cli("frames", "-", "--json", input="just a log line\nnothing else\n", workspace=folder)
    assert res.returncode == 2 and "no stack trace" in res.stderr and res.stdout == ""
    res = run_cli("frames", str(tmp_path / "missing.txt"), workspace=folder)
    assert res.returncode == 2 and "no such file" in res.stderr


def _stack_page():
    import os
    from datetime import datetime

    from pages import frames_view
    from crashlens_core.config import Settings
    from crashlens_core.store import Workspace

    settings = Settings.from_env()
    with Workspace.open(settings.workspace) as ws:
        frames_view.render_stack(ws, settings, open(os.environ["FRAMES_TRACE"]).read(),
                                 datetime(2024, 5, 14, 10, 5), datetime(2024, 5, 14, 10, 8), key="t")


def test_stack_view_shows_context_suspects_and_commits(shop, tmp_path, monkeypatch):
    from crashlens_core.store import knowledge as kstore

    folder = tmp_path / "ws"
    with Workspace.open(folder) as ws:
        kstore.upsert_source(ws, "shop", "repo", "path", root=str(shop["repo"]))
    trace = tmp_path / "t.txt"
    trace.write_text(shop["trace"].read_text().replace("division by zero", "division by **zero** <b>x</b>"))
    monkeypatch.setenv("CRASHLENS_HOME", str(folder))
    monkeypatch.setenv("FRAMES_TRACE", str(trace))
    at = AppTest.from_function(_stack_page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    codes = [c.value for c in at.code]
    assert any("ZeroDivisionError: division by **zero** <b>x</b>" == c for c in codes)  # inert, as written
    assert any("> " in c and "item['qty']" in c for c in codes)
    suspects, commits = at.dataframe[0].value, at.dataframe[1].value
    assert suspects["function"].iloc[0] == "unit_price"
    assert commits["commit"].iloc[0] == shop["shas"]["dana"][:10] and commits["author"].iloc[0] == "Dana Kowalski"
    trace.write_text("no trace here\n")
    at = AppTest.from_function(_stack_page, default_timeout=60).run()
    assert not at.exception and any("no stack trace" in e.value for e in at.error)


def test_cli_in_app_settings_and_the_exception_chain(tmp_path):
    text = ("x\njava.lang.RuntimeException: wrapped\n\tat com.acme.lib.Http.get(Http.java:5)\n\tat com.acme.app.Api.call(Api.java:9)\n"
            "Caused by: java.io.IOException: reset\n\tat com.acme.lib.Sock.read(Sock.java:77)\n\t... 2 more\n")
    res = run_cli("frames", "-", "--json", "--chain", input=text, workspace=tmp_path / "nows",
                  env={"CRASHLENS_FRAMES_NOT_IN_APP": "com.acme.lib."})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [f["in_app"] for f in doc["frames"]] == [False, True]
    assert doc["cause"]["exception"] == "java.io.IOException" and len(doc["cause"]["frames"]) == 3
    assert doc["suspects"][0]["class"] == "com.acme.app.Api"
    res = run_cli("frames", "-", "--json", "--in-app", "com.acme.lib.Sock", input=text, workspace=tmp_path / "nows",
                  env={"CRASHLENS_FRAMES_NOT_IN_APP": "com.acme.lib."})
    assert json.loads(res.stdout)["suspects"][0]["class"] == "com.acme.lib.Sock"  # include beats exclude
