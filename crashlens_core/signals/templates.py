"""Log templates: every message gets a stable template id.

Three stages, split by cost:

1. **Masking, per line, in bulk** (``store.masksql``): DuckDB keeps the first line of each
   message and replaces the variable parts (URLs, e-mails, UUIDs, dates, IPs, MACs, paths,
   hex, numbers with units, numbers, identifiers with digits) by ``<*>``, joins variables in a
   row (a list of any length is one ``<*>``), then numbers the distinct masked messages. A
   million lines typically collapse to a few thousand shapes.
2. **Clustering, per distinct masked message, in Python**: a Drain-class online clusterer.
   A message is routed by its token count and first tokens through a prefix tree and joins
   the most similar template of the leaf; positions that differ become ``<*>`` (or a field
   such as ``uid=<*>`` when the differing tokens share punctuation-delimited parts).
   Similarity counts only the template's constant positions, so a template full of numbers
   is not easier to join than a short one, and a few differences are never taken for a
   variable: two adjacent constants that both differ (another phrase), fields of different
   shapes, a ``key=`` field empty on one side only. What the masks missed is still taken for
   a value where its shape says so (``signals.template_tokens``): two words with digits, two
   values of one ``key=``, two words each written on at most two lines (the miner counts
   tokens over the lines of each call before clustering it: a program's words recur, the
   values it inserts do not). Rare words, dotted names and ``key=value`` fields route through
   the tree's ``<*>`` branch, so a value near the start of a line does not give it a branch of
   its own; two ``key=`` fields of different shapes never join, whatever their values.
3. **Consolidation, per template mined in the call** (both undo what online order decides):
   a lone template (at most two lines) that a wider template of its length covers token for
   token folds into it; and a ``<*>`` that holds exactly two plain words, each on more than
   two lines and named in no other template's ``<*>``, splits into two templates, one per
   word: a program's literal alternatives ("stored as bytes" / "stored as values"), not a
   value (Brain's split of a group on a column of few distinct values).

Templates use ``<*>`` for variables (the Loghub convention, comparable with its
``EventTemplate``). A template's id is ``"T"`` + the first 8 hex digits of the SHA-1 of its
text, so the same template has the same id in every run and every workspace.

Incremental use (``TemplateMiner.add``, live tailing, re-ingest): a template's text never
changes once it has been handed out. A message that fits a published template gets its id;
one that is similar but does not fit makes a *new*, wider template, and the old one records
``replaced_by`` (``TemplateMiner.replacements()`` gives the old -> new ids to relabel stored
rows with one UPDATE). ``fit`` starts from nothing.

Measured on Loghub-2k (``bench/templates.py``, one configuration for all): grouping accuracy
on the tune half (Apache, Hadoop, Linux, Spark) 0.947 (drain3 0.892), on the report half (BGL,
HDFS, OpenSSH, Zookeeper) 0.993 (drain3 0.913), not below drain3 on any system; the same lines
with their variables rewritten into other shapes (ids, words, lists, key=value): tune 0.945 /
0.946 / 0.947 / 0.946, report 0.990 / 0.990 / 0.995 / 0.995 (the bench's shift tables).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from .template_tokens import WILDCARD, fits, generalise, matches, routing_key, similarity

__all__ = ["Template", "TemplateMiner", "mine_templates", "templates_jsonl", "label_log_batch", "template_id",
           "DEFAULT_MASKS", "VARIABLE_PATTERNS", "HOST_PATTERN", "WILDCARD"]

_W = WILDCARD

# What a variable looks like: RE2 patterns (DuckDB's engine: no look-around, so "preceded by
# a non-word character" is \B before the punctuation). They are joined into ONE alternation
# and applied in one regexp_replace pass: at each position the first pattern that matches wins,
# so wide shapes (URL, e-mail, dates) come before the numbers inside them. No pattern captures a
# group: a replacement that uses a group makes RE2 track submatches, ~6x slower per line.
_HEX = "[0-9A-Fa-f]"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_TLDS = "|".join((
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "local", "lan", "internal", "corp",
    "ae", "al", "ar", "au", "az", "ba", "bd", "bg", "br", "ca", "ch", "cl", "cn", "co", "cr", "cu", "cy", "cz",
    "de", "dk", "dz", "ec", "ee", "eg", "eu", "fi", "fr", "ge", "gr", "hk", "hr", "hu", "ie", "il", "iq", "ir",
    "jp", "ke", "kr", "kw", "kz", "lb", "lk", "lt", "lu", "lv", "ly", "ma", "md", "mk", "mn", "mt", "mx", "my",
    "ng", "nl", "np", "nz", "om", "pa", "pe", "ph", "pk", "pl", "pr", "pt", "py", "qa", "ro", "rs", "ru", "sa",
    "se", "sg", "si", "sk", "sv", "th", "tn", "tr", "tw", "tz", "ua", "ug", "uk", "us", "uy", "uz", "ve", "vn",
    "za",
))
_SIGN = r"(?:\B[-+])?"  # "boot = -1": the sign belongs to the number unless glued to a word
VARIABLE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("url", r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>()\[\],]+"),
    ("email", r"\b[\w.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"),
    ("uuid", rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"),
    ("iso_date", r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
    # ctime / syslog: "Sat Jul  9 22:53:22 2005", "Mon, Jun 3 10:00"
    ("ctime_date", rf"\b{_DAY},? +{_MONTH} +\d{{1,2}}(?: +\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?(?: +\d{{4}})?\b"),
    # syslog header date: "Dec 10 06:55:46" (the time is required: "May 5" alone is words)
    ("syslog_date", rf"\b{_MONTH} +\d{{1,2}} +\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:[.,]\d+)?)?(?: +\d{{4}})?\b"),
    ("time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"),
    ("mac", rf"\b{_HEX}{{2}}(?:[:-]{_HEX}{{2}}){{5}}\b"),
    ("ipv6", rf"\b(?:{_HEX}{{1,4}}:){{7}}{_HEX}{{1,4}}\b|\b(?:{_HEX}{{1,4}}:)+:(?:{_HEX}{{1,4}}:)*{_HEX}{{1,4}}\b"),
    # optionally with a port; Java prints socket addresses as "/10.0.0.1:50010"
    ("ipv4", r"(?:\B/)?\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"),
    # absolute, ./ or ~/ path, not glued to a word ("4G/4G" and "TCP/IP" are not paths)
    ("path", r"\B(?:~|\.{1,2})?(?:/+[\w.\-~@+%$]+)+/?"),
    ("windows_path", r"\b[A-Za-z]:\\[^\s\"']+"),
    ("hex", r"\b0[xX][0-9A-Fa-f]+\b"),
    # durations and sizes with the unit glued on: 12ms, 1.5s, 64MB, 4G
    ("number_unit", _SIGN + r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|[KkMGTP]i?B?|bytes?)\b"),
    # a size with its unit as a separate word: "16.0 B", "317.5 KB"
    ("size", r"\b\d+(?:\.\d+)? (?:[KMGTP]i?B|B)\b"),
    # identifiers with digits after a separator: blk_-1234, attempt_1445_0020_m_000000_0, rdd_42_20
    ("id", r"\b[A-Za-z]+(?:[_\-][A-Za-z]+)*[_\-]+\d[\w\-]*"),
    # letters glued to a long number: tracking codes, order and ticket numbers (PP3941191648, INC0012345)
    ("alnum_id", r"\b[A-Za-z]{1,6}\d{5,}\b"),
    ("dotted_number", _SIGN + r"\b\d+(?:\.\d+)+\b"),
    # a whole word of hex digits with at least one digit: numbers, hashes, session ids
    ("number", _SIGN + rf"\b{_HEX}*\d{_HEX}*\b"),
)
# Host names: dotted labels (some already masked) ending in a top-level domain and then a
# delimiter, kept by group 1, so "java.io.File" is not a host. Country codes that are common
# identifier words (id, is, in, to ...) are left out. Few lines have one, so the replacement
# (slow: it captures a group) only runs where the much cheaper top-level-domain guard matches.
_VAR = r"<\*>(?:[/:]?<\*>)*"
_LABEL = r"(?:<\*>|\b[A-Za-z0-9])(?:[\w\-]|<\*>)*"
_HOST_END = r"(?:" + _TLDS + r")(\s|$|[)\]\[,;:'\"])"
HOST_PATTERN = _LABEL + r"(?:\.(?:[\w\-]|<\*>)+)*\." + _HOST_END
# Variables joined by "/", ":" or nothing are one (host/ip:port, ip:port, <*><*>), and three
# or more in a row are one list of varying length ("delete blk_1 blk_2 blk_3").
_JOIN_PATTERN = _VAR + r"(?:[,;]?\s+" + _VAR + r")+|<\*>(?:[/:]?<\*>)+"
# (pattern, replacement[, guard]) passes, in order: see store.masksql.masked_sql.
DEFAULT_MASKS: tuple[tuple[str, ...], ...] = (
    ("|".join(f"(?:{p})" for _, p in VARIABLE_PATTERNS), _W),
    (HOST_PATTERN, _W + r"\1", r"\." + _HOST_END),
    (_JOIN_PATTERN, _W, _JOIN_PATTERN),
)


def template_id(template: str, digits: int = 8) -> str:
    """The stable id of a template text: ``T`` + the first 8 hex digits of its SHA-1."""
    return "T" + hashlib.sha1(template.encode("utf-8")).hexdigest()[:digits]


@dataclass
class Template:
    """A mined template. ``count``: messages assigned to it by this miner; ``example``: the
    first of them (first line); ``replaced_by``: the id of the wider template that took its
    place, if one did (its id stays valid for the rows already labelled with it)."""

    id: str
    template: str
    count: int
    example: str
    replaced_by: str | None = None


# ---------------------------------------------------------------------- the miner
class _Cluster:
    __slots__ = ("tokens", "slot", "retired", "leaf", "replaces")

    def __init__(self, tokens: list[str], leaf: list["_Cluster"]) -> None:
        self.tokens = tokens
        self.slot = -1  # index into TemplateMiner.templates once published (then never widened)
        self.retired = False  # a wider template took over
        self.leaf = leaf  # the prefix-tree leaf list that holds it
        self.replaces: list[_Cluster] = []  # published clusters this one widened


# A token on at most this many lines is rare (see TemplateMiner._rare). Chosen on the tune half
# (bench/templates.py, mean GA over its lines as they are and under the 4 variable-shape shifts):
# 1: .910, 2: .914, 3: .913. On a handful of lines every word is rare: there, as in Drain, a
# word that differs among otherwise equal lines is taken for a value.
_RARE = 2
# At most this many alternative words in one <*> make it a choice of the program, not a value
# (TemplateMiner._split_alternatives). A program's literal alternatives are most often a
# binary choice (an if/else, a flag written as a word: bytes/values, opened/closed, read/write);
# three or four plain words in one slot are as likely a handful of users or queues. 2 and 3
# score the same on the tune half (its one case is binary); 2 is the cautious one.
_ALTERNATIVES = 2
_FREQ_CAP = 1_000_000  # distinct tokens counted before the rare ones are forgotten (memory only)

_LEAF = None  # key of the cluster list in a prefix-tree node (a token is never None)


class TemplateMiner:
    """Drain-class template miner over SQL-masked messages.

    ``sim_threshold``: a message joins the most similar template of its prefix-tree leaf when
    the share of equal tokens (over the template's constant positions) reaches it.
    ``depth``: levels of the prefix tree (token count, then ``depth - 2`` first tokens).
    ``max_children``: fan-out of a tree node before further tokens share the ``<*>`` branch.
    ``extra_masks``: more ``(RE2 pattern, replacement[, guard])`` masks, applied after the
    defaults (``masks`` replaces the defaults altogether).
    ``con``: a DuckDB connection to mask on (a cursor of it is used); default: a private
    in-memory database per call.

    Published templates (those returned by a ``fit``/``add`` call) never change. When a later
    message is similar to one but does not fit it, the wider template is a new template with
    its own id, and the old one gets ``replaced_by`` (see :meth:`replacements`).

    >>> m = TemplateMiner()
    >>> m.fit(["open /tmp/a.txt in 12 ms", "open /var/b in 7 ms"]).tolist()
    [0, 0]
    >>> m.templates[0].template, m.templates[0].count
    ('open <*> in <*> ms', 2)
    """

    def __init__(self, sim_threshold: float = 0.7, depth: int = 4, max_children: int = 100,
                 extra_masks: Sequence[Sequence[str]] = (), masks: Sequence[Sequence[str]] | None = None,
                 con: Any = None) -> None:
        if not 0.0 < sim_threshold <= 1.0:
            raise ValueError("sim_threshold must be in (0, 1]")
        if depth < 3:
            raise ValueError("depth must be at least 3 (token count + one token)")
        if max_children < 2:
            raise ValueError("max_children must be at least 2")
        self.sim_threshold = float(sim_threshold)
        self.depth = int(depth)
        self.max_children = int(max_children)
        base = DEFAULT_MASKS if masks is None else masks
        self.masks: list[tuple[str, ...]] = [tuple(m) for m in base] + [tuple(m) for m in extra_masks]
        self.con = con
        self.reset()

    # ------------------------------------------------------------------ public API
    def reset(self) -> None:
        """Forget every template."""
        self.templates: list[Template] = []
        self._slot_of_text: dict[str, int] = {}
        self._slot_of_id: dict[str, int] = {}
        self._root: dict[Any, Any] = {}
        self._active: dict[int, list[_Cluster]] = {}  # token count -> clusters not retired
        self._published: dict[int, list[_Cluster]] = {}  # token count -> active and handed out
        # On how many lines each token occurs (of its masked message): a program's own words
        # recur on every line of their template, the values it inserts rarely recur (Brain's
        # prior, that constants are the frequent words). Read through ``_rare``.
        self._freq: dict[str, int] = {}

    def fit(self, messages: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Mine templates from scratch; the template index of each message, in order (int32)."""
        self.reset()
        return self.add(messages)

    def add(self, messages: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Assign messages to the templates found so far, mining new templates for the rest.

        Returns each message's index into ``self.templates`` (int32, in order); ``templates``
        only grows, so indices and ids returned earlier stay valid. Counts accumulate.
        """
        from ..store.masksql import as_string_array, mask_distinct

        arr = as_string_array(messages)
        codes, distinct = mask_distinct(arr, self.masks, con=self.con)
        if not distinct:
            return np.empty(0, dtype=np.int32)
        slots = self._assign(distinct, np.bincount(codes, minlength=len(distinct)).tolist())
        out = slots[codes]
        counts = np.bincount(out, minlength=len(self.templates))
        for slot in np.flatnonzero(counts).tolist():
            self.templates[slot].count += int(counts[slot])
        need = {s for s in slots.tolist() if not self.templates[s].example}
        if need:
            # Distinct codes are numbered in order of first occurrence, so the running maximum
            # of the codes steps up exactly where each one first appears.
            first_of_code = np.searchsorted(np.maximum.accumulate(codes), np.arange(len(distinct)))
            for j, slot in enumerate(slots.tolist()):
                if slot in need:
                    need.discard(slot)
                    self.templates[slot].example = _first_line(arr[int(first_of_code[j])].as_py())
        return out

    def add_masked(self, masked: Sequence[str], counts: Sequence[int] | None = None,
                   examples: Sequence[str | None] | None = None) -> np.ndarray:
        """Like :meth:`add` for messages already masked with ``self.masks`` (e.g. by
        ``store.masksql.masked_messages_for_batch``): each distinct masked message once, with
        how many lines it stands for and one of them as example. Returns the template index of
        each masked message.
        """
        if not len(masked):
            return np.empty(0, dtype=np.int32)
        slots = self._assign(list(masked), None if counts is None else [int(c) for c in counts])
        for k, slot in enumerate(slots.tolist()):
            tpl = self.templates[slot]
            tpl.count += 1 if counts is None else int(counts[k])
            if not tpl.example and examples is not None:
                tpl.example = _first_line(examples[k])
        return slots

    def restore(self, templates: Iterable[Template]) -> None:
        """Take back templates published earlier (e.g. loaded from the workspace), in the
        order they were published: later messages that fit them get their ids. Templates that
        were replaced keep their slot and id but take no new messages."""
        for tpl in templates:
            if tpl.template in self._slot_of_text:
                continue
            tokens = tpl.template.split()
            # Its constant words were written on ``count`` lines: a new session knows them as
            # words of the program, not as rare values, as the session that mined them did.
            for tok in set(tokens):
                if _W not in tok:
                    self._freq[tok] = self._freq.get(tok, 0) + max(int(tpl.count), 0)
            slot = len(self.templates)
            self.templates.append(Template(tpl.id, tpl.template, int(tpl.count), tpl.example, tpl.replaced_by))
            self._slot_of_text[tpl.template] = slot
            self._slot_of_id[tpl.id] = slot
            leaf = self._leaf_for(tokens, by_rarity=False)
            cluster = _Cluster(tokens, leaf)
            cluster.slot = slot
            if tpl.replaced_by:
                cluster.retired = True
            else:
                leaf.append(cluster)
                self._active.setdefault(len(tokens), []).append(cluster)
                self._published.setdefault(len(tokens), []).append(cluster)

    def match(self, message: str) -> Template | None:
        """The current template a message fits, if any (learns nothing)."""
        from ..store.masksql import mask_distinct

        _, distinct = mask_distinct([message], self.masks, con=self.con)
        cluster = self._fit_published(distinct[0].split())
        return None if cluster is None else self.templates[cluster.slot]

    def template_of(self, template_id_: str) -> Template | None:
        """The template with this id, if this miner has it."""
        slot = self._slot_of_id.get(template_id_)
        return None if slot is None else self.templates[slot]

    def replacements(self) -> dict[str, str]:
        """``old id -> current id`` for every template a wider one replaced (chains followed):
        what a caller needs to relabel rows stored under the old ids."""
        return {t.id: self.templates[self._current(slot)].id
                for slot, t in enumerate(self.templates) if t.replaced_by and t.replaced_by in self._slot_of_id}

    # ------------------------------------------------------------------ clustering
    def _assign(self, distinct: list[str], counts: list[int] | None = None) -> np.ndarray:
        """Template slot of each distinct masked message (clustering, then publishing);
        ``counts``: how many lines each stands for (default 1)."""
        split = [t.split() for t in distinct]
        freq = self._freq
        # Count first, cluster second: the whole call is known before its first merge, so the
        # order of lines within a call does not decide what looks rare.
        for k, tokens in enumerate(split):
            n = 1 if counts is None else counts[k]
            for tok in set(tokens):
                freq[tok] = freq.get(tok, 0) + n
        if len(freq) > _FREQ_CAP:
            # Bounded memory for a miner that lives long (live tailing): forgetting tokens that
            # are rare anyway changes no answer of _rare until they recur.
            self._freq = freq = {tok: c for tok, c in freq.items() if c > _RARE}
        clusters = [self._fit_published(tokens) or self._drain(tokens) for tokens in split]
        self._merge_covered(clusters, counts)
        self._split_alternatives(split, clusters, counts)
        slots = [self._publish(c) for c in clusters]
        # A message may have joined a published template that a later message of this same
        # call widened: it gets the wider one too, so one call never splits a shape.
        return np.array([self._current(s) for s in slots], dtype=np.int32)

    def _current(self, slot: int) -> int:
        """The slot that now stands for ``slot`` (itself, or the end of its replaced_by chain)."""
        seen: set[int] = set()
        while slot not in seen and (nxt := self.templates[slot].replaced_by) is not None and nxt in self._slot_of_id:
            seen.add(slot)
            slot = self._slot_of_id[nxt]
        return slot

    def _fit_published(self, tokens: list[str]) -> _Cluster | None:
        """The most specific current published template the tokens fit (the oldest among equals)."""
        best, best_consts = None, -1
        for c in self._published.get(len(tokens), ()):
            if matches(c.tokens, tokens):
                consts = sum(t != _W for t in c.tokens)
                if consts > best_consts:
                    best, best_consts = c, consts
        return best

    def _find_leaf(self, tokens: list[str]) -> list[_Cluster]:
        node = self._root.get(len(tokens))
        if node is None:
            return []
        for token in tokens[: self.depth - 2]:
            child = node.get(token)
            if child is None:
                child = node.get(_W)
                if child is None:
                    return []
            node = child
        return node.get(_LEAF, [])

    def _leaf_for(self, tokens: list[str], by_rarity: bool = True) -> list[_Cluster]:
        """The leaf list for new tokens, creating the path (Drain's rules for the fan-out).

        ``by_rarity``: a rare token routes through ``<*>`` too: a value inserted near the start
        ("<name> connected", "Partition <name> not found") would otherwise give every line its
        own branch, where no other line of its template can meet it. (Off for restored
        templates, whose tokens were never counted.) Chosen on the tune half like ``_RARE``:
        routing only the second token so, .916; both, .917."""
        node = self._root.setdefault(len(tokens), {})
        for token in tokens[: self.depth - 2]:
            if token in node:
                node = node[token]
                continue
            key = routing_key(token)
            if key != _W and by_rarity and self._rare(token):
                key = _W
            if key != _W:
                n = sum(1 for k in node if k != _LEAF)
                if _W in node:
                    key = token if n < self.max_children else _W
                else:
                    key = token if n + 1 < self.max_children else _W
            node = node.setdefault(key, {})
        return node.setdefault(_LEAF, [])

    def _best(self, clusters: Iterable[_Cluster], tokens: list[str]) -> tuple[_Cluster | None, float]:
        best, best_sim, best_vars = None, -1.0, -1
        for c in clusters:
            sim = similarity(c.tokens, tokens, self._rare)
            if sim > best_sim or (sim == best_sim and sim > 0 and sum(_W in t for t in c.tokens) > best_vars):
                best, best_sim, best_vars = c, sim, sum(_W in t for t in c.tokens)
        return best, best_sim

    def _rare(self, token: str) -> bool:
        """Written on at most ``_RARE`` lines so far: a value, not a word of the program."""
        return self._freq.get(token, 0) <= _RARE

    def _drain(self, tokens: list[str]) -> _Cluster:
        # Only the leaf's templates are candidates: the first tokens of a message are nearly
        # always constant, and trusting them keeps "Accepted password ..." apart from "Failed
        # password ..." (Drain's prior; on Loghub, searching every template of the same length
        # instead costs 0.26 GA on OpenSSH).
        best, sim = self._best(self._find_leaf(tokens), tokens)
        if best is None or sim < self.sim_threshold:
            leaf = self._leaf_for(tokens)
            cluster = _Cluster(list(tokens), leaf)
            leaf.append(cluster)
            self._active.setdefault(len(tokens), []).append(cluster)
            return cluster
        widened = [generalise(a, b) for a, b in zip(best.tokens, tokens)]
        if best.slot < 0:  # mined in this call, not given out yet: widen in place
            best.tokens = widened
            return best
        # Published: the wider template is a new one that takes the old one's place.
        cluster = _Cluster(widened, best.leaf)
        cluster.replaces.append(best)
        best.retired = True
        best.leaf[best.leaf.index(best)] = cluster
        same_len = self._active[len(tokens)]
        same_len[same_len.index(best)] = cluster
        self._published[len(tokens)].remove(best)
        return cluster

    def _merge_covered(self, clusters: list[_Cluster], counts: list[int] | None) -> None:
        """Fold a lone cluster mined in this call into a template that covers it.

        An online clusterer depends on order and on its routing: a line that came before the
        values of a slot were known (its words not yet seen rare, its neighbour not yet
        widened), or whose value near the start is a word that recurs elsewhere (so it took a
        branch of the prefix tree of its own), starts a template of its own, and a wider
        template of the same length covers it token for token. Only
        clusters of at most ``_RARE`` lines fold: a cluster whose exact words recurred on more
        lines was kept apart on the evidence of its own words ("from NEW to UNASSIGNED" on 14
        lines is an event, though "from <*> to <*>" covers it). ``clusters[k]`` is updated in
        place.
        """
        lines: dict[int, int] = {}
        for k, c in enumerate(clusters):
            lines[id(c)] = lines.get(id(c), 0) + (1 if counts is None else counts[k])
        seen: set[int] = set()
        for c in clusters:
            if id(c) in seen or c.slot >= 0 or c.replaces or c.retired or lines[id(c)] > _RARE:
                continue
            seen.add(id(c))
            into = None
            for o in self._active[len(c.tokens)]:
                if o is not c and not o.retired and o.tokens != c.tokens and matches(o.tokens, c.tokens):
                    into = o
                    break
            if into is None:
                continue
            c.retired = True
            c.leaf.remove(c)
            self._active[len(c.tokens)].remove(c)
            for k, x in enumerate(clusters):
                if x is c:
                    clusters[k] = into

    def _split_alternatives(self, split: list[list[str]], clusters: list[_Cluster],
                            counts: list[int] | None) -> None:
        """Split the clusters mined in this call on a ``<*>`` that holds a few alternative words
        of the program rather than a value (Brain's split of a group on a column of few
        distinct values): "Block <*> stored as bytes in memory" / "... as values in memory".
        ``clusters[k]`` (the cluster of ``split[k]``) is updated in place.

        The general property: where a program writes one of a few literal alternatives, each
        alternative is a plain word, recurs on many lines, and belongs to that message only.
        A value it inserts is open-ended: it carries digits or punctuation (ids, paths, dotted
        names: left to the masks and to :func:`template_tokens.similarity`), or it is rare, or
        it is an entity that the program names in several messages (a user "cyrus" is in
        "session opened for user <*>" and in "session closed for user <*>"). So a ``<*>`` is
        split on only when it holds at most ``_ALTERNATIVES`` distinct words, each letters
        only, each on more than ``_RARE`` lines of the cluster, none seen in a ``<*>`` of
        another template of the call. ``key=<*>`` fields are never split: a key names a field
        whose value varies (see ``template_tokens._value_slot``).
        """
        members: dict[int, list[int]] = {}
        # Where each word stands in for a variable: the clusters whose <*> it fills.
        filled: dict[str, set[int]] = {}
        wild: dict[int, list[int]] = {}  # per cluster, the positions of its <*> (most have few or none)
        for k, c in enumerate(clusters):
            if c.slot < 0 and not c.replaces:
                members.setdefault(id(c), []).append(k)
            where = wild.get(id(c))
            if where is None:
                where = wild[id(c)] = [p for p, a in enumerate(c.tokens) if a == _W]
            row = split[k]
            for p in where:
                if p < len(row) and row[p].isalpha():
                    filled.setdefault(row[p], set()).add(id(c))
        for ks in members.values():
            if len(ks) < 2:
                continue
            cluster = clusters[ks[0]]
            cols: list[int] = []
            for p, a in enumerate(cluster.tokens):
                if a != _W:
                    continue
                lines: dict[str, int] = {}
                for k in ks:
                    v = split[k][p]
                    lines[v] = lines.get(v, 0) + (1 if counts is None else counts[k])
                if 2 <= len(lines) <= _ALTERNATIVES and all(
                        v.isalpha() and n > _RARE and len(filled[v]) == 1 for v, n in lines.items()):
                    cols.append(p)
            if not cols:
                continue
            groups: dict[tuple[str, ...], list[int]] = {}
            for k in ks:
                groups.setdefault(tuple(split[k][p] for p in cols), []).append(k)
            template = cluster.tokens
            same_len = self._active[len(template)]
            for g, (key, gks) in enumerate(groups.items()):
                tokens = list(template)
                for p, v in zip(cols, key):
                    tokens[p] = v
                if g == 0:
                    part = cluster
                    part.tokens = tokens
                else:
                    part = _Cluster(tokens, cluster.leaf)
                    cluster.leaf.append(part)
                    same_len.append(part)
                for k in gks:
                    clusters[k] = part

    def _publish(self, cluster: _Cluster) -> int:
        """Give a cluster its template slot (clusters of equal text share one); from now on its
        text never changes."""
        if cluster.slot < 0:
            text = " ".join(cluster.tokens)
            slot = self._slot_of_text.get(text)
            if slot is None:
                slot = self._slot_of_text[text] = len(self.templates)
                tid = template_id(text)
                digits = 8
                while tid in self._slot_of_id:  # two texts, one 32-bit prefix: lengthen this one
                    digits += 2
                    tid = template_id(text, digits)
                self._slot_of_id[tid] = slot
                self.templates.append(Template(tid, text, 0, ""))
            elif self.templates[slot].replaced_by:
                self.templates[slot].replaced_by = None  # widened back to a text it had: revive it
            cluster.slot = slot
            self._published.setdefault(len(cluster.tokens), []).append(cluster)
            for old in cluster.replaces:
                if old.slot != slot:
                    self.templates[old.slot].replaced_by = self.templates[slot].id
            cluster.replaces = []
        return cluster.slot


def _first_line(text: str | None) -> str:
    text = text or ""
    cut = text.find("\n")
    return (text if cut < 0 else text[:cut]).rstrip("\r")[:500]


def label_log_batch(con: Any, batch_id: int, miner: TemplateMiner) -> int:
    """Give every log of one ingest batch its ``template_id``; returns the rows labelled.

    The per-row masking runs in SQL (once to collect the distinct masked messages with their
    counts, once in the UPDATE that joins the ``masked -> id`` map); only the distinct masked
    messages pass through Python. ``miner`` holds the templates: restore it from the workspace
    first in live mode so that known shapes keep their ids. Rows of earlier batches labelled
    with a template that this batch widened are relabelled to the wider one.
    """
    from ..store.masksql import assign_template_ids, masked_messages_for_batch, relabel_templates

    rows = masked_messages_for_batch(con, batch_id, miner.masks)
    if not rows:
        return 0
    known = miner.replacements()
    masked = [r[0] for r in rows]
    slots = miner.add_masked(masked, counts=[r[1] for r in rows], examples=[r[3] for r in rows])
    ids = [miner.templates[k].id for k in slots.tolist()]
    labelled = assign_template_ids(con, batch_id, miner.masks, dict(zip(masked, ids)))
    widened = {old: new for old, new in miner.replacements().items() if known.get(old) != new}
    if widened:
        relabel_templates(con, widened)
    return labelled


def mine_templates(messages: Sequence[str | None] | pa.Array | pa.ChunkedArray,
                   **options: Any) -> tuple[list[str], list[Template]]:
    """Template id per message (in order) and the templates, with a fresh miner.

    ``options`` are :class:`TemplateMiner` arguments.
    """
    miner = TemplateMiner(**options)
    idx = miner.fit(messages)
    ids = np.array([t.id for t in miner.templates], dtype=object)
    return ids[idx].tolist(), miner.templates


def templates_jsonl(lines: Iterable[str], chunk: int = 200_000, **options: Any) -> Iterator[dict[str, str]]:
    """For each input line, in order, ``{"template_id", "template"}``: the output of
    ``crashlens templates --jsonl``.

    Lines are mined ``chunk`` at a time by one incremental miner, so a long stream is answered
    as it goes and memory stays bounded. Output already written is never revised: a shape
    whose template widens in a later chunk gets the wider template's id from there on.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    miner = TemplateMiner(**options)
    buf: list[str] = []

    def flush() -> Iterator[dict[str, str]]:
        idx = miner.add(buf)
        buf.clear()
        rows = [{"template_id": t.id, "template": t.template} for t in miner.templates]
        for k in idx.tolist():
            yield dict(rows[k])

    for line in lines:
        buf.append(line.rstrip("\r\n"))
        if len(buf) >= chunk:
            yield from flush()
    if buf:
        yield from flush()
