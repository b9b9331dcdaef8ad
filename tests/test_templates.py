"""Log-template miner: masking, grouping, stable ids, multi-line, incremental add, JSONL output.

Self-contained: synthetic messages whose true templates are known, real DuckDB (in memory,
and a real workspace for the batch labelling).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pyarrow as pa
import pytest

from crashlens_core.signals import templates as tpl_mod
from crashlens_core.signals.templates import (
    DEFAULT_MASKS, Template, TemplateMiner, label_log_batch, mine_templates, template_id, templates_jsonl,
)
from crashlens_core.store.masksql import mask_distinct, masked_messages_for_batch

# Each test seeds it (autouse fixture below), so every test sees the same messages alone or in a suite.
RNG = random.Random()


@pytest.fixture(autouse=True)
def _seed():
    RNG.seed(1234)


def _ip() -> str:
    return ".".join(str(RNG.randrange(1, 255)) for _ in range(4))


def _hex(n: int) -> str:
    return "".join(RNG.choice("0123456789abcdef") for _ in range(n))


# Known shapes: each generator returns one message of its shape with fresh variables.
SHAPES = {
    "login": lambda: (f"Accepted password for {RNG.choice(['root', 'alice', 'bob', 'deploy'])} from {_ip()} "
                      f"port {RNG.randrange(1024, 65535)} ssh2"),
    "fail": lambda: (f"Failed password for invalid user {RNG.choice(['admin', 'test', 'oracle'])} from {_ip()} "
                     f"port {RNG.randrange(1024, 65535)} ssh2"),
    "block": lambda: f"Received block blk_{RNG.randrange(-10**18, 10**18)} of size {RNG.randrange(1, 10**8)} from /{_ip()}",
    "session": lambda: f"Expiring session 0x{_hex(15)}, timeout of {RNG.randrange(1000, 60000)}ms exceeded",
    "request": lambda: f"request {_hex(8)}-{_hex(4)}-{_hex(4)}-{_hex(4)}-{_hex(12)} served in {RNG.randrange(1, 900)}ms",
    "file": lambda: f"cannot open /var/lib/app/{_hex(6)}/data.db: permission denied",
    "gc": lambda: f"GC pause {RNG.uniform(0.1, 900):.2f} ms, heap {RNG.randrange(64, 4096)}MB",
    "state": lambda: f"worker {RNG.randrange(1, 64)} changed state",
}


def _sample(n: int) -> tuple[list[str], list[str]]:
    names = [RNG.choice(list(SHAPES)) for _ in range(n)]
    return [SHAPES[name]() for name in names], names


def _groups_match(pred: list, truth: list) -> bool:
    """Same partition: every predicted group is exactly one true group."""
    pairs = set(zip(pred, truth))
    return len(pairs) == len(set(pred)) == len(set(truth))


# ---------------------------------------------------------------------- grouping and ids
def test_same_shape_same_id_different_shape_different_id():
    messages, names = _sample(600)
    ids, templates = mine_templates(messages)
    assert len(ids) == len(messages)
    assert _groups_match(ids, names)
    assert len(templates) == len(SHAPES)
    assert sum(t.count for t in templates) == len(messages)
    by_name = {name: i for i, name in zip(ids, names)}
    text = {t.id: t.template for t in templates}
    assert text[by_name["login"]] == "Accepted password for <*> from <*> port <*> ssh2"
    assert text[by_name["block"]] == "Received block <*> of size <*> from <*>"
    assert text[by_name["session"]] == "Expiring session <*>, timeout of <*> exceeded"
    assert text[by_name["gc"]] == "GC pause <*> ms, heap <*>"
    assert text[by_name["state"]] == "worker <*> changed state"


def test_phrases_that_differ_are_not_merged():
    # Same length, same prefix, but a different phrase: Drain at its default threshold merges
    # these; CrashLens must not (two adjacent constants differing is not a variable).
    messages = ["Received disconnect from 10.0.0.1: 11: Bye Bye [preauth]",
                "Received disconnect from 10.0.0.2: 11: disconnected by user"] * 3
    ids, templates = mine_templates(messages)
    assert ids[0] != ids[1] and ids[0] == ids[2] and ids[1] == ids[3]
    assert len(templates) == 2


def test_key_with_and_without_value_are_different_templates():
    messages = ["auth failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.1.1.1",
                "auth failure; logname= uid=0 euid=0 tty=ssh ruser= rhost="]
    ids, _ = mine_templates(messages)
    assert ids[0] != ids[1]


def test_word_variables_generalise_into_the_template():
    messages = [f"session opened for user {u} by (uid={n})" for u, n in
                [("root", 0), ("news", 9), ("cyrus", 76), ("test", 509), ("root", 0)]]
    ids, templates = mine_templates(messages)
    assert len(set(ids)) == 1
    assert templates[0].template == "session opened for user <*> by (uid=<*>)"
    assert templates[0].count == 5
    assert templates[0].example == messages[0]


def test_ids_are_stable_and_readable():
    messages, _ = _sample(300)
    ids_a, templates_a = mine_templates(messages)
    ids_b, _ = mine_templates(list(messages))
    assert ids_a == ids_b
    for t in templates_a:
        assert t.id == "T" + hashlib.sha1(t.template.encode()).hexdigest()[:8]
    # The id depends on the template only: the same shape mined among other logs keeps it.
    login = [m for m in messages if m.startswith("Accepted")]
    other_ids, other = mine_templates(["something else entirely 42"] + login[:5])
    assert other_ids[1] == ids_a[messages.index(login[0])]
    assert template_id("worker <*> changed state") == "T" + hashlib.sha1(b"worker <*> changed state").hexdigest()[:8]


def test_arrow_and_list_input_agree():
    messages, _ = _sample(200)
    a = TemplateMiner().fit(messages)
    b = TemplateMiner().fit(pa.array(messages))
    c = TemplateMiner().fit(pa.chunked_array([messages[:50], messages[50:]]))
    assert a.dtype == np.int32
    assert a.tolist() == b.tolist() == c.tolist()


def test_empty_none_and_non_ascii_messages():
    miner = TemplateMiner()
    assert miner.fit([]).tolist() == []
    idx = miner.fit(["", None, "größe 12 überschritten", "größe 13 überschritten"])
    assert idx[0] == idx[1]  # None counts as an empty message
    assert idx[2] == idx[3]
    assert miner.templates[idx[2]].template == "größe <*> überschritten"


def test_id_collision_gets_a_longer_id(monkeypatch):
    real = tpl_mod.template_id
    monkeypatch.setattr(tpl_mod, "template_id",
                        lambda text, digits=8: "T00000000" if digits == 8 else real(text, digits))
    _, templates = mine_templates(["alpha beta gamma", "one two three four"])
    assert [len(t.id) for t in templates] == [9, 11]
    assert templates[1].id == real("one two three four", 10)


# ---------------------------------------------------------------------- masks
@pytest.mark.parametrize("message, masked", [
    ("connect to 10.0.0.12:5432 failed", "connect to <*> failed"),
    ("peer /192.168.1.20:50010 closed", "peer <*> closed"),
    ("addr fe80::1ff:fe23:4567:890a up", "addr <*> up"),
    ("request 3f2504e0-4f89-11d3-9a0c-0305e82c3301 done", "request <*> done"),
    ("ptr 0x7ffe12ab at 0xDEADBEEF", "ptr <*> at <*>"),
    ("commit 9c1e4b7a2f3d in repo", "commit <*> in repo"),
    ("retry -3 of 5, load 0.75", "retry <*> of <*>, load <*>"),
    ("open /var/log/app/server.log failed", "open <*> failed"),
    ("read ~/conf/app.yaml and ./run.sh", "read <*> and <*>"),
    ("loading C:\\Program Files", "loading <*> Files"),
    ("took 125ms then 1.5s and 3m", "took <*> then <*> and <*>"),
    ("heap 512MB free 16.0 KB", "heap <*> free <*>"),
    ("mail alice.smith+x@example.co.uk bounced", "mail <*> bounced"),
    ("GET https://api.example.com/v1/items?id=3 ok", "GET <*> ok"),
    ("reverse lookup ns1.foo-bar.example.com failed", "reverse lookup <*> failed"),
    ("at Sat Jul  9 22:53:22 2005 login", "at <*> login"),
    ("ts 2024-05-14T10:03:21.123Z ok", "ts <*> ok"),
    ("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user", "<*> LabSZ sshd[<*>]: Invalid user"),
    ("mac 00:1A:2B:3C:4D:5E up", "mac <*> up"),
    # two or more variables in a row are one (a list of any length, issue 14)
    ("job attempt_1445144423722_0020_m_000000_0 blk_-695229586848", "job <*>"),
    ("delete blk_1 blk_2 blk_3 blk_4 now", "delete <*> now"),
    ("uid=0 euid=0 tty=ssh user=root", "uid=<*> euid=<*> tty=ssh user=root"),
    # constants that look a little like variables stay
    ("ssh2 L3 TCP/IP java.io.File mapred.job.id jk2_init() x86_64",
     "ssh2 L3 TCP/IP java.io.File mapred.job.id jk2_init() x86_64"),
])
def test_masks(message, masked):
    codes, distinct = mask_distinct([message], DEFAULT_MASKS)
    assert distinct[codes[0]] == masked


def test_variable_patterns_capture_no_group():
    # A group in the one big alternation would make RE2 track submatches on every line.
    import re

    assert re.compile(DEFAULT_MASKS[0][0]).groups == 0
    assert all(re.compile(p).groups == 0 for _, p in tpl_mod.VARIABLE_PATTERNS)


def test_mask_distinct_numbers_shapes_in_first_occurrence_order():
    messages = ["b 1", "a 2", "b 3", None, "a 4", "b 5\nstack line"]
    codes, distinct = mask_distinct(messages, DEFAULT_MASKS)
    assert distinct == ["b <*>", "a <*>", ""]
    assert codes.tolist() == [0, 1, 0, 2, 1, 0]


def test_extra_masks_apply_after_the_defaults():
    plain = TemplateMiner()
    plain.fit(["order ABC-XYZ shipped", "order QRS-TUV shipped", "order done shipped"])
    masked = TemplateMiner(extra_masks=[(r"\b[A-Z]{3}-[A-Z]{3}\b", "<*>")])
    idx = masked.fit(["order ABC-XYZ shipped", "order QRS-TUV shipped", "order done shipped"])
    assert idx[0] == idx[1]
    assert masked.templates[idx[0]].template == "order <*> shipped"


# ---------------------------------------------------------------------- multi-line
def test_multiline_messages_use_the_first_line():
    a = ("Unhandled error in checkout 42\nTraceback (most recent call last):\n"
         "  File \"a.py\", line 3, in f\nValueError: x")
    b = "Unhandled error in checkout 77\n\tat com.shop.Pay.charge(Pay.java:40)\n\tat com.shop.Api.post(Api.java:12)"
    c = "Unhandled error in checkout 9"
    ids, templates = mine_templates([a, b, c])
    assert ids[0] == ids[1] == ids[2]
    assert templates[0].template == "Unhandled error in checkout <*>"
    assert "\n" not in templates[0].example


# ---------------------------------------------------------------------- incremental
def test_add_keeps_published_ids_and_mines_new_shapes():
    first, first_names = _sample(300)
    miner = TemplateMiner()
    idx = miner.fit(first)
    before = [(t.id, t.template) for t in miner.templates]
    counts_before = sum(t.count for t in miner.templates)

    more, more_names = _sample(200)
    more += ["disk quota exceeded for volume data7", "disk quota exceeded for volume logs2"]
    more_names += ["quota", "quota"]
    idx2 = miner.add(more)

    # published templates are unchanged and in place; new ones are appended
    assert [(t.id, t.template) for t in miner.templates[: len(before)]] == before
    assert len(miner.templates) == len(before) + 1
    assert miner.templates[-1].template == "disk quota exceeded for volume <*>"
    assert miner.templates[-1].example == "disk quota exceeded for volume data7"  # its first message
    # a known shape gets the id it had
    id_of = {name: miner.templates[k].id for k, name in zip(idx.tolist(), first_names)}
    for k, name in zip(idx2.tolist(), more_names):
        if name != "quota":
            assert miner.templates[k].id == id_of[name]
    assert sum(t.count for t in miner.templates) == counts_before + len(more)


def test_widening_a_published_template_makes_a_new_one_and_records_it():
    miner = TemplateMiner()
    first = miner.fit(["session opened for user root by (uid=0)"] * 3)
    old = miner.templates[0]
    assert old.template == "session opened for user root by (uid=<*>)"
    idx = miner.add(["session opened for user news by (uid=9)", "session opened for user cyrus by (uid=76)",
                     "session opened for user root by (uid=0)"])
    assert idx[0] == idx[1] == idx[2] != first[0]
    new = miner.templates[idx[0]]
    assert new.template == "session opened for user <*> by (uid=<*>)"
    # the published text and id are untouched; the old template points at its successor
    assert miner.templates[0] is old and old.template == "session opened for user root by (uid=<*>)"
    assert old.replaced_by == new.id and new.replaced_by is None
    assert miner.replacements() == {old.id: new.id}
    assert (old.count, new.count) == (3, 3)
    # from now on the old shape lands on the new template
    assert miner.add(["session opened for user root by (uid=0)"]).tolist() == [idx[0]]
    assert miner.match("session opened for user root by (uid=0)").id == new.id


def test_prefix_tree_keeps_messages_with_different_first_words_apart():
    # Drain's prior, kept on purpose: the first tokens route the message (see TemplateMiner),
    # once they recur: a word written on one line only is taken for a value.
    ids, _ = mine_templates(["Accepted password for root from 1.2.3.4 port 22 ssh2",
                             "Failed password for root from 1.2.3.4 port 22 ssh2"] * 3)
    assert ids[0] != ids[1]


def test_restore_gives_known_shapes_their_ids_back():
    messages, _ = _sample(200)
    first = TemplateMiner()
    idx = first.fit(messages)
    saved = [Template(t.id, t.template, t.count, t.example) for t in first.templates]
    saved.append(Template("Tdeadbeef", "an old narrow <*> template", 4, "an old narrow x template",
                          replaced_by=saved[0].id))
    later = TemplateMiner()
    later.restore(saved)
    again = later.add(messages)
    assert [later.templates[k].id for k in again.tolist()] == [first.templates[k].id for k in idx.tolist()]
    assert len(later.templates) == len(saved)
    assert later.template_of(saved[0].id).template == saved[0].template
    assert later.replacements() == {"Tdeadbeef": saved[0].id}
    assert later.match("an old narrow x template") is None  # replaced: takes no new messages
    assert later.match(messages[0]).id == first.templates[idx[0]].id
    assert later.match("nothing like the others at all") is None


# ---------------------------------------------------------------------- JSONL / CLI contract
def test_templates_jsonl_order_and_shape():
    messages, names = _sample(120)
    lines = [m + "\n" for m in messages]
    lines[5] = lines[5].rstrip("\n") + "\r\n"
    rows = list(templates_jsonl(iter(lines)))
    assert len(rows) == len(lines)
    assert all(set(r) == {"template_id", "template"} for r in rows)
    assert _groups_match([r["template_id"] for r in rows], names)
    expected_ids, templates = mine_templates(messages)
    assert [r["template_id"] for r in rows] == expected_ids
    text = {t.id: t.template for t in templates}
    assert all(r["template"] == text[r["template_id"]] for r in rows)


def test_templates_jsonl_in_small_chunks():
    messages, names = _sample(140)
    rows = list(templates_jsonl(messages, chunk=7))
    assert len(rows) == 140
    # every line's template covers that line
    codes, masked = mask_distinct(messages, DEFAULT_MASKS)
    for row, code in zip(rows, codes.tolist()):
        assert tpl_mod.matches(row["template"].split(), masked[code].split())
        assert row["template_id"] == template_id(row["template"])
    # early chunks may give a narrower template; once a shape's template stopped widening,
    # its lines share one id
    tail = rows[-35:]
    assert _groups_match([r["template_id"] for r in tail], names[-35:])
    assert list(templates_jsonl([])) == []


# ---------------------------------------------------------------------- workspace batches
def test_label_log_batch_sets_template_ids_in_sql(ws):
    messages, names = _sample(150)
    messages[3] = messages[3] + "\n  at frame one\n  at frame two"
    tbl = pa.table({"id": pa.array(range(len(messages)), pa.int64()), "message": messages})
    ws.con.register("cl_test_in", tbl)
    ws.con.execute("INSERT INTO logs (id, message, batch_id) SELECT id, message, 1 FROM cl_test_in")
    ws.con.execute("INSERT INTO logs (id, message, batch_id) VALUES (1000, 'other batch 5', 2)")
    ws.con.unregister("cl_test_in")

    distinct = masked_messages_for_batch(ws.con, 1, DEFAULT_MASKS)
    assert sum(n for _, n, _, _ in distinct) == len(messages)
    assert all(isinstance(e, str) and e for *_, e in distinct)

    miner = TemplateMiner()
    assert label_log_batch(ws.con, 1, miner) == len(messages)
    rows = ws.con.execute("SELECT id, template_id FROM logs WHERE batch_id = 1 ORDER BY id").fetchall()
    assert _groups_match([r[1] for r in rows], names)
    assert ws.con.execute("SELECT template_id FROM logs WHERE id = 1000").fetchall() == [(None,)]
    # the same ids as mining the messages directly
    assert [r[1] for r in rows] == mine_templates(messages)[0]
    assert sum(t.count for t in miner.templates) == len(messages)


def test_label_log_batch_relabels_rows_of_a_widened_template(ws):
    ws.con.execute("""INSERT INTO logs (id, message, batch_id) VALUES
        (1, 'session opened for user root by (uid=0)', 1), (2, 'session opened for user root by (uid=0)', 1),
        (3, 'session opened for user news by (uid=9)', 2), (4, 'disk full on /dev/sda1', 2)""")
    miner = TemplateMiner()
    assert label_log_batch(ws.con, 1, miner) == 2
    narrow = ws.con.execute("SELECT DISTINCT template_id FROM logs WHERE batch_id = 1").fetchall()
    assert narrow == [(template_id("session opened for user root by (uid=<*>)"),)]
    assert label_log_batch(ws.con, 2, miner) == 2
    wide = template_id("session opened for user <*> by (uid=<*>)")
    rows = dict(ws.con.execute("SELECT id, template_id FROM logs").fetchall())
    assert rows[1] == rows[2] == rows[3] == wide
    assert rows[4] == template_id("disk full on <*>")


def test_one_add_call_never_splits_a_shape():
    miner = TemplateMiner()
    miner.fit(["job 1 finished on node alpha"])
    # The first message fits the published template; the second widens it in the same call.
    idx = miner.add(["job 2 finished on node alpha", "job 3 finished on node beta"])
    assert idx[0] == idx[1]
    assert miner.templates[idx[0]].template == "job <*> finished on node <*>"
    assert miner.templates[0].replaced_by == miner.templates[idx[0]].id


def test_templates_command_prints_one_object_per_input_line(tmp_path):
    from .conftest import jsonl, run_cli

    lines = ["Connection reset by peer from 10.0.0.1:5432", "Connection reset by peer from 10.0.0.7:6543", "disk /dev/sda1 full"]
    out = run_cli("templates", "-", "--jsonl", input="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    rows = jsonl(out.stdout)
    assert len(rows) == 3 and rows[0]["template_id"] == rows[1]["template_id"] != rows[2]["template_id"]
    assert all(set(r) == {"template_id", "template"} for r in rows)
    p = tmp_path / "m.txt"
    p.write_text("\n".join(lines) + "\n")
    assert jsonl(run_cli("templates", str(p), "--jsonl").stdout) == rows


# ---------------------------------------------------------------------- general shapes (issue 14)
# Each test builds lines of one general property (no system's real lines) and checks that one
# shape gets one template while a different phrase still gets another.
def test_lists_of_varying_length_are_one_template():
    messages = ["removing blocks 17 now", "removing blocks 17 18 now", "removing blocks 17 18 19 20 now",
                "removing blocks 3, 4, 5 now", "removing blocks 9; 10 now"]
    ids, templates = mine_templates(messages)
    assert len(set(ids)) == 1
    assert templates[0].template == "removing blocks <*> now"


def test_ids_mixed_of_letters_and_digits_are_values():
    # "u0"/"t761" and "node-A7"/"node-C12" are ids the masks leave (they also keep "ssh2", "L3"):
    # two different words with digits in one position are values of one slot.
    messages = [f"task {t} on node-{n} finished as {u}" for t, n, u in
                [("t761", "A7", "u0"), ("t12", "C12", "u3"), ("k9", "B1", "u10")]]
    ids, templates = mine_templates(messages)
    assert len(set(ids)) == 1
    assert templates[0].template == "task <*> on node-<*> finished as <*>"


def test_key_value_pairs_with_word_values_are_one_template():
    messages = ["set ringer mode=silent level=low for call", "set ringer mode=normal level=high for call",
                "set ringer mode=vibrate level=low for call"]
    ids, templates = mine_templates(messages)
    assert len(set(ids)) == 1
    assert templates[0].template == "set ringer mode=<*> level=<*> for call"
    # a different key is another field, not a value (each line written 3 times, as a program's
    # own words recur: a word seen on one line only is as good as a value)
    other, _ = mine_templates((messages[:1] + ["set ringer tone=silent volume=low for call"]) * 3)
    assert other[0] != other[1]


def test_a_dotted_first_token_routes_as_a_variable():
    # The program or component that wrote a line often comes first ("app.exe - ..."); a prefix
    # tree routed by it would never let two programs meet.
    messages = [f"{p} - {h}:443 close, {n} bytes sent" for p, h, n in
                [("chrome.exe", "www.example.com", 10), ("Skype.exe", "api.example.org", 7),
                 ("svchost.exe", "cdn.example.net", 99)]]
    ids, templates = mine_templates(messages)
    assert len(set(ids)) == 1
    assert templates[0].template == "<*>.exe - <*> close, <*> bytes sent"


def test_words_that_differ_without_a_value_shape_stay_apart():
    # Plain words are the program's own words: "Accepted"/"Failed", "(reserved)"/"(usable)"
    # are different events, even when all else is equal, once they recur (each line 3 times).
    messages = ["Accepted password for root from 10.0.0.1 port 22 ssh2",
                "Failed password for root from 10.0.0.2 port 22 ssh2",
                "region 0x10 - 0x20 (reserved)", "region 0x30 - 0x40 (usable)"] * 3
    ids, _ = mine_templates(messages)
    assert len(set(ids)) == 4


def test_words_written_once_are_values_words_on_every_line_are_not():
    # A program's own words recur on every line of their template; the names it inserts (a
    # partition, a user, a queue) mostly do not: two different words that each occur on one
    # or two lines only are values, even as the second word, where they would route the line.
    rng = random.Random(5)

    def name() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3))

    parts = [f"Partition {name()} not found, computing it" for _ in range(40)]
    users = [f"worker pool {name()} assigned to {name()} queue" for _ in range(40)]
    states = [f"task moved from {a} to {b}" for a, b in
              [("RUNNING", "DONE"), ("QUEUED", "STARTED"), ("PAUSED", "FAILED")] for _ in range(10)]
    ids, templates = mine_templates(parts + users + states)
    text = {t.id: t.template for t in templates}
    assert len(set(ids[:40])) == 1 and text[ids[0]] == "Partition <*> not found, computing it"
    assert len(set(ids[40:80])) == 1 and text[ids[40]] == "worker pool <*> assigned to <*> queue"
    # state names recur: each transition stays its own template
    assert len(set(ids[80:])) == 3


def test_a_rare_word_as_first_token_does_not_split_a_template():
    rng = random.Random(9)
    names = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3)) for _ in range(30)]
    messages = [f"{n} connected to the broker" for n in names] + ["Broker restarted after failure"] * 5
    ids, templates = mine_templates(messages)
    assert len(set(ids[:30])) == 1 and ids[30] != ids[0]
    assert {t.template for t in templates} == {"<*> connected to the broker", "Broker restarted after failure"}


def test_token_counts_stay_bounded_and_keep_their_answers(monkeypatch):
    monkeypatch.setattr(tpl_mod, "_FREQ_CAP", 50)
    miner = TemplateMiner()
    letters = "bcdfghjklmnpqrstvwxz"
    for k in range(5):
        names = [a + b + c + letters[k] for a in letters[:4] for b in letters[4:9] for c in letters[9:14]]
        idx = miner.add([f"user {n} login ok" for n in names] + ["disk full"] * 3)
        assert len(set(idx[:-3].tolist())) == 1  # the names are values, every batch
    assert len(miner._freq) <= 50 + 100 + 3  # pruned after each call that passed the cap
    assert not miner._rare("login") and not miner._rare("disk") and miner._rare(names[0])


def test_a_restored_miner_knows_the_words_of_its_templates():
    # Session 1 mined "pool up alpha" from 50 lines; in session 2 one "pool up beta" arrives.
    # "alpha" is a word of the program (50 lines), not a rare value: a new template, as a
    # single run over all 51 lines gives, not a widened "pool up <*>".
    first = TemplateMiner()
    first.fit(["pool up alpha"] * 50)
    again = TemplateMiner()
    again.restore(first.templates)
    idx = again.add(["pool up beta"])
    assert again.templates[int(idx[0])].template == "pool up beta"
    assert not again.replacements()
    one_run = TemplateMiner()
    one_idx = one_run.fit(["pool up alpha"] * 50 + ["pool up beta"])
    assert one_run.templates[int(one_idx[-1])].template == "pool up beta"


# ---------------------------------------------------------------------- literal alternatives
def _block_lines(rng: random.Random, how: str, n: int) -> list[str]:
    return [f"Block broadcast_{rng.randrange(99)}_piece{rng.randrange(3)} stored as {how} in memory "
            f"(estimated size {rng.randrange(1, 999)}.{rng.randrange(10)} KB, free {rng.randrange(1, 999)}.0 MB)"
            for _ in range(n)]


def test_two_recurring_words_in_one_slot_are_two_templates():
    # A program that writes one of two literal words ("stored as bytes" / "stored as values")
    # writes two events, though the lines differ in that one word only.
    rng = random.Random(3)
    lines = _block_lines(rng, "bytes", 30) + _block_lines(rng, "values", 10)
    rng.shuffle(lines)
    ids, templates = mine_templates(lines)
    text = {t.id: t.template for t in templates}
    by_word = {w: {i for i, m in zip(ids, lines) if f" {w} " in m} for w in ("bytes", "values")}
    assert all(len(s) == 1 for s in by_word.values()) and by_word["bytes"] != by_word["values"]
    assert text[next(iter(by_word["bytes"]))] == \
        "Block <*> stored as bytes in memory (estimated size <*>, free <*>)"
    assert text[next(iter(by_word["values"]))] == \
        "Block <*> stored as values in memory (estimated size <*>, free <*>)"


def test_alternatives_that_are_rare_named_elsewhere_or_keyed_stay_a_variable():
    rng = random.Random(4)
    # one of the two words on two lines only: a value, as in Drain
    rare = _block_lines(rng, "bytes", 30) + _block_lines(rng, "values", 2)
    ids, _ = mine_templates(rare)
    assert len(set(ids)) == 1
    # users named in two messages are entities of the log, not words of one message
    users = [f"session {ev} for user {u}" for ev in ("opened", "closed") for u in ("cyrus", "news") for _ in range(5)]
    ids, templates = mine_templates(users)
    assert {t.template for t in templates} == {"session opened for user <*>", "session closed for user <*>"}
    # a key names a field whose value varies
    keyed = [f"the switch is in mode={m} after {rng.randrange(9)} tries" for m in ("silent", "normal")
             for _ in range(5)]
    ids, templates = mine_templates(keyed)
    assert [t.template for t in templates] == ["the switch is in mode=<*> after <*> tries"]
    # three or more words in one slot are as likely a handful of users as a choice of the program
    three = [f"Failed password for {u} from 10.0.0.{k} port 22 ssh2" for u in ("admin", "test", "oracle")
             for k in range(5)]
    ids, _ = mine_templates(three)
    assert len(set(ids)) == 1


def test_alternatives_split_keeps_the_ids_of_later_calls():
    # Mined in one call, then met again: each alternative keeps its template and id.
    rng = random.Random(6)
    miner = TemplateMiner()
    first = miner.add(_block_lines(rng, "bytes", 20) + _block_lines(rng, "values", 20)).tolist()
    assert len(set(first)) == 2
    again = miner.add(_block_lines(rng, "values", 3) + _block_lines(rng, "bytes", 3)).tolist()
    assert again == [first[-1]] * 3 + [first[0]] * 3
    assert not miner.replacements()


def test_a_lone_early_line_joins_the_template_that_later_covers_it():
    # The first line's values ("alpha", "beta") are words of other lines, so it cannot join the
    # next one (two adjacent words differ); the lines after it make "child init <*> <*>",
    # which covers the first one: one template. A shape that recurs keeps its own.
    rng = random.Random(8)

    def name() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3))

    lines = ["mod_jk child init alpha beta"] + [f"mod_jk child init {name()} {name()}" for _ in range(12)]
    lines += ["queue alpha drained", "queue beta drained"] * 3
    ids, templates = mine_templates(lines)
    text = {t.id: t.template for t in templates}
    assert len(set(ids[:13])) == 1 and text[ids[0]] == "mod_jk child init <*> <*>"
    # the same, after four lines of "gamma delta": those recur, and keep their template
    ids, templates = mine_templates(["mod_jk child init gamma delta"] * 4 + lines)
    text = {t.id: t.template for t in templates}
    assert ids[0] != ids[4] and text[ids[0]] == "mod_jk child init gamma delta"
    assert len(set(ids[4:17])) == 1


def test_key_fields_of_different_shapes_stay_apart_whatever_their_values():
    # "(uid=<value>)" and "LOGIN(uid=<value>)" are two messages of the program; with numbers the
    # masks make two field shapes of them, with values the masks do not know (letters and
    # digits) the field's own text must keep them apart just the same.
    rng = random.Random(12)

    def value() -> str:
        return "".join(rng.choice("klmnst") for _ in range(3)) + str(rng.randrange(100, 999)) + "x"

    opened = [f"session opened for user {value()} by (uid={value()})" for _ in range(20)]
    login = [f"session opened for user {value()} by LOGIN(uid={value()})" for _ in range(2)]
    ids, templates = mine_templates(opened + login)
    assert len(set(ids[:20])) == 1 and len(set(ids[20:])) == 1 and ids[0] != ids[20]
    # the same key in the same shape is one field: its values vary
    ids, _ = mine_templates([f"lease renewed (uid={value()})" for _ in range(5)])
    assert len(set(ids)) == 1


def test_a_key_value_field_near_the_start_routes_as_a_variable():
    # Routed by "(id=alpha)" itself, every value would get its own branch of the prefix tree.
    rng = random.Random(13)
    values = ["alpha", "beta", "gamma", "delta"]
    lines = [f"Launching (id={v})" for v in values for _ in range(3)]
    lines += [f"switch mode={m} after {rng.randrange(9)} tries" for m in ("silent", "normal") for _ in range(5)]
    ids, templates = mine_templates(lines)
    assert len(set(ids[:12])) == 1 and len(set(ids[12:])) == 1
    assert {t.template for t in templates} == {"Launching (id=<*>)", "switch mode=<*> after <*> tries"}


def test_a_lone_line_routed_by_a_recurring_value_joins_its_template():
    # "dife" also names a queue on other lines, so it is no rare word and routes the first line,
    # "Launching dife", down a branch of its own; the template of the other launches covers it.
    rng = random.Random(14)

    def name() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(3))

    lines = ["Launching dife"] + [f"Launching {name()}" for _ in range(8)]
    lines += [f"queue dife drained after {k} s" for k in range(4)]
    ids, templates = mine_templates(lines)
    assert len(set(ids[:9])) == 1
    assert {t.template for t in templates} == {"Launching <*>", "queue dife drained after <*> s"}
