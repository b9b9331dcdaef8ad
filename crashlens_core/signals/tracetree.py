"""The bulk analysis of spans: trees repaired, clock skew, clipping, critical paths, self time, error origins.

This module owns turning the spans of any number of traces (one Arrow table from
``store.traces.span_table``) into a ``TraceBatch``: per-span arrays and per-trace roots,
error origins and critical-path sections. How it reads a trace:

- **Tree repair**, robust to what real tracers emit. A repeated span id (a Zipkin shared
  client/server span) becomes a child of its first occurrence, a non-server one first (the
  client half, as Zipkin orders them); a span on a parent cycle is cut loose at the cycle's
  earliest span; orphans (parent id given, parent absent) hang under the trace's root when
  it has exactly one, and a trace with no root or several gets a synthetic root spanning
  all its spans (``missing_root``).
- **Clock skew**: a server span of another service that sticks out of its calling span and
  is not longer than it is shifted, with its subtree, to sit centred in the call (as Zipkin's
  UI does); a child genuinely longer than its parent is left alone.
- **Critical path** as Jaeger computes it: children are clipped to their parent (dropped
  when wholly outside), then from the root the last-finishing child is followed down, and on
  the way back up the child that finished last before the returning child started.
- **Self time** per span: its duration minus the union of its children's time inside it
  (overlapping children counted once); **blame** moves a wrapper's time to the one other
  service all its children run in.
- **Error origin**: among erroring spans none of whose children errs, the deepest one on an
  unbroken chain of erroring ancestors to the root (else the deepest at all). A span errs
  by its status (or an exception recorded on it); in a trace where no span does, a span
  without a status errs when an ERROR/FATAL log line carries its trace and span id: many
  exporters record failures only in logs (``from_logs``). An explicit ``ok`` status is
  believed over a log line (an error that was logged and handled).

Work is bulk: numpy over all spans at once (depths by pointer doubling, per-level skew and
clipping, interval unions by sort + running max); Python runs once per trace only for the
critical-path walk. Nothing is recursive. Summaries for callers are built in ``traces``;
window aggregates in ``tracestats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

import numpy as np

from ..store import Workspace
from ..store import traces as tstore

__all__ = ["TraceBatch", "FLAG_BITS", "REPAIRS", "repair_text", "VIRTUAL_ROOT", "analyze_table", "load_batch", "strings_of"]

VIRTUAL_ROOT = "(missing root)"


@dataclass
class TraceBatch:
    """Every selected span analysed, as arrays (row = span; rows ``n..`` are synthetic roots).

    Per span: ``trace`` (index into ``trace_ids``), ``parent`` (row, -1 for a root), ``depth``,
    ``start``/``end`` (skew-adjusted µs), ``self_us``, ``crit_us`` (time on the critical path),
    ``error``, ``origin`` (is its trace's error origin), ``flags`` (bit set, see ``FLAG_BITS``),
    ``from_logs`` (its error comes from its log lines, not its status).
    Per trace: ``roots``, ``origins`` (row or -1) and ``paths`` (critical-path sections).
    """

    n: int
    n_spans: int  # rows below this are stored spans; the rest synthetic roots
    trace_ids: list[str]
    offsets: np.ndarray
    trace: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    start: np.ndarray
    end: np.ndarray
    self_us: np.ndarray
    crit_us: np.ndarray
    error: np.ndarray
    origin: np.ndarray
    flags: np.ndarray
    service_code: np.ndarray
    services: list[str]
    span_ids: Any  # _Strings: b.span_ids[row], b.span_ids.take(rows)
    names: Any
    kinds: Any  # Arrow array of the stored spans' kinds
    roots: np.ndarray
    origins: np.ndarray
    paths: list[list[tuple[int, int, int]]] = field(default_factory=list)
    blame_code: np.ndarray | None = None
    from_logs: np.ndarray | None = None

    def service_of(self, row: int) -> str:
        return self.services[int(self.service_code[row])]


class _Strings:
    """A string column read row by row on demand (converting a million ids up front costs a second);
    rows past the stored spans (synthetic roots) read as ``filler``."""

    def __init__(self, column: Any, filler: str) -> None:
        self.column = column.combine_chunks()
        self.filler = filler

    def __getitem__(self, row: int) -> str:
        return self.column[row].as_py() if row < len(self.column) else self.filler

    def take(self, rows: Sequence[int]) -> list[str]:
        import pyarrow as pa

        stored = [r for r in rows if r < len(self.column)]
        got = dict(zip(stored, self.column.take(pa.array(stored, pa.int64())).to_pylist())) if stored else {}
        return [got.get(r, self.filler) for r in rows]


def strings_of(column: Any, filler: Any) -> _Strings:
    """A column read row by row on demand (see ``_Strings``)."""
    return _Strings(column, filler)


FLAG_BITS = {"orphan": 1, "duplicate_id": 2, "cycle": 4, "skew_adjusted": 8, "clipped": 16, "dropped": 32,
             "longer_than_parent": 64}

# What each repair made of the spans as exported, in a reader's words (a trace summary's ``issues``).
REPAIRS = {
    "orphan": "spans whose parent is not in the export, placed under the root",
    "duplicate_id": "spans sharing an id with another, kept apart",
    "cycle": "spans in a parent loop, cut out of it",
    "skew_adjusted": "server spans shifted into their caller's time (clock skew between hosts)",
    "clipped": "spans running past their parent, counted on the critical path only while the parent ran",
    "dropped": "spans wholly outside their parent's time, left off the critical path",
    "longer_than_parent": "spans longer than their parent (asynchronous work, or a clock that jumped)",
    "missing_root": "no root span in the export: the earliest span stands in for it",
}


def repair_text(key: str, value: object) -> str:
    """One repair of a trace summary's ``issues`` in words.

    >>> repair_text("dropped", 5)
    "5 spans wholly outside their parent's time, left off the critical path"
    """
    what = REPAIRS.get(key, key.replace("_", " "))
    return what if value is True else f"{value} {what}"


# ====================================================================== the bulk analysis


def _doubling(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and top ancestor of every node by pointer doubling; nodes on/below a cycle never reach a root."""
    n = len(parent)
    limit = int(np.ceil(np.log2(max(n, 2)))) + 1  # a depth is below n: log2(n) doublings reach any root
    idx = np.arange(n)
    anc = np.where(parent >= 0, parent, idx)
    dist = (parent >= 0).astype(np.int64)
    for _ in range(limit):
        top = parent[anc] < 0
        if top.all():
            break
        dist = dist + np.where(top, 0, dist[anc])
        anc = anc[anc]
    return dist, anc


def _np(tbl: Any, name: str, dtype: Any) -> np.ndarray:
    col = tbl.column(name)
    if dtype is bool:
        col = col.fill_null(False)
    return col.to_numpy().astype(dtype, copy=False) if col.num_chunks == 1 else np.asarray(col.to_numpy(), dtype)


def _resolve_parents(k: np.ndarray, pk_col: Any, server: np.ndarray | None = None,
                     service: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parent row per row from (trace, span) and (trace, parent) key hashes; orphans and repeated ids.

    A repeated span id points at its first occurrence (rows are in start order, and the
    stable sort keeps the first occurrence first); a parent id resolves to the first
    occurrence of that id in the trace. ``server`` marks server spans: of a repeated id a
    non-server occurrence comes first, as Zipkin orders a shared span's halves (the server
    half shares the client's id and hangs under it, even when clock skew makes it start first).
    ``service`` (codes): a child naming a repeated id hangs under the occurrence in its own
    service when there is one, as Zipkin's SpanNode does (the server half of a shared span
    runs the server's local work; the client half's own work stays under the client half).
    """
    n = len(k)
    order = np.argsort(k, kind="stable")
    ks = k[order]
    if server is not None and n > 1 and server.any() and (ks[1:] == ks[:-1]).any():
        order = np.lexsort((server, k))  # stable: start order among equals
        ks = k[order]
    first_pos = np.zeros(n, np.int64)  # position in `ks` of the first element of each run
    if n:
        run_start = np.ones(n, bool)
        run_start[1:] = ks[1:] != ks[:-1]
        first_pos = np.maximum.accumulate(np.where(run_start, np.arange(n), 0))
    first_row = np.empty(n, np.int64)
    first_row[order] = order[first_pos]
    dup = first_row != np.arange(n)
    has_parent = pk_col.is_valid().to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
    pk = pk_col.fill_null(0).to_numpy().astype(np.uint64, copy=False) if n else np.zeros(0, np.uint64)
    pos = np.searchsorted(ks, pk).clip(max=max(n - 1, 0))
    found = has_parent & (ks[pos] == pk) if n else np.zeros(0, bool)
    parent = np.where(found, order[pos], -1)
    if service is not None and dup.any():
        parent = _same_service_parent(k, pk, dup, found, parent, first_row, service)
    parent = np.where(dup, first_row, parent)
    orphan = has_parent & ~found & ~dup
    return parent.astype(np.int64), orphan, dup


def _same_service_parent(k: np.ndarray, pk: np.ndarray, dup: np.ndarray, found: np.ndarray, parent: np.ndarray,
                         first_row: np.ndarray, service: np.ndarray) -> np.ndarray:
    """Children of a repeated span id: the occurrence of that id in the child's service, if any."""
    repeated = np.zeros(len(k), bool)
    repeated[first_row[dup]] = True
    repeated |= dup  # every occurrence of an id that occurs more than once
    kids = np.flatnonzero(found & repeated[np.maximum(parent, 0)] & ~dup)
    if not len(kids):
        return parent
    occ = np.flatnonzero(repeated)
    mix = np.uint64(0x9E3779B97F4A7C15)  # (key, service) → one 64-bit key; collisions are negligible
    with np.errstate(over="ignore"):
        occ_key = k[occ] * mix + service[occ].astype(np.uint64)
        kid_key = pk[kids] * mix + service[kids].astype(np.uint64)
    o = np.argsort(occ_key, kind="stable")  # stable: the first occurrence (client first) wins ties
    sk = occ_key[o]
    at = np.searchsorted(sk, kid_key).clip(max=len(sk) - 1)
    hit = sk[at] == kid_key
    out = parent.copy()
    out[kids[hit]] = occ[o[at[hit]]]
    return out


def _break_cycles(parent: np.ndarray, start: np.ndarray, stuck: np.ndarray) -> np.ndarray:
    """Cut each parent cycle at its earliest-starting span; returns the rows cut loose."""
    cut: list[int] = []
    state = {}  # row -> 1 on the current walk, 2 done
    for s in np.flatnonzero(stuck).tolist():
        if s in state:
            continue
        path, node = [], s
        while node >= 0 and node not in state:
            state[node] = 1
            path.append(node)
            node = int(parent[node])
        if node >= 0 and state.get(node) == 1:
            loop = path[path.index(node):]
            first = min(loop, key=lambda r: (start[r], r))
            cut.append(first)
        for r in path:
            state[r] = 2
    cut_arr = np.asarray(cut, dtype=np.int64)
    parent[cut_arr] = -1
    return cut_arr


def analyze_table(tbl: Any) -> TraceBatch:
    """Analyse an Arrow table shaped like ``store.traces.span_table``'s output."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n0 = tbl.num_rows
    tk = _np(tbl, "tk", np.uint64)
    change = np.ones(n0, bool)
    change[1:] = tk[1:] != tk[:-1]
    starts_of_trace = np.flatnonzero(change)
    trace = np.cumsum(change) - 1
    ntr = len(starts_of_trace)
    trace_ids = tbl.column("trace_id").take(pa.array(starts_of_trace, pa.int64())).to_pylist()

    svc_enc = pc.dictionary_encode(tbl.column("service").combine_chunks())
    services = svc_enc.dictionary.to_pylist()
    service_code = svc_enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    start = _np(tbl, "start_us", np.int64)
    end = np.maximum(_np(tbl, "end_us", np.int64), start)
    error = _np(tbl, "is_error", bool)
    from_logs = _np(tbl, "log_error", bool)
    if from_logs.any():  # only in traces whose spans carry no error status at all
        status_traces = np.bincount(trace, weights=error, minlength=ntr) > 0
        from_logs &= ~error & ~status_traces[trace]
        error = error | from_logs
    kind_text = pc.fill_null(tbl.column("kind"), "")
    is_server = pc.equal(kind_text, "server").to_numpy(zero_copy_only=False).astype(bool)
    parent, orphan, dup = _resolve_parents(_np(tbl, "k", np.uint64), tbl.column("pk"), is_server, service_code)
    server_like = pc.is_in(kind_text, value_set=pa.array(["", "server"])).to_numpy(zero_copy_only=False).astype(bool)
    client_like = pc.is_in(kind_text, value_set=pa.array(["", "client", "internal"])).to_numpy(zero_copy_only=False).astype(bool)
    flags = np.zeros(n0, np.int64)
    flags[orphan] |= FLAG_BITS["orphan"]
    flags[dup] |= FLAG_BITS["duplicate_id"]

    # --- cycles: nodes that never reach a root by following parents
    _, anc = _doubling(parent)
    stuck = parent[anc] >= 0 if n0 else np.zeros(0, bool)
    if stuck.any():
        cut = _break_cycles(parent, start, stuck)
        flags[cut] |= FLAG_BITS["cycle"]
        orphan = orphan.copy()
        orphan[cut] = True  # a cut span is placed like an orphan

    # --- roots: a single real root adopts the trace's orphans (and cycle cuts); a trace left
    # with several top-level spans gets a synthetic root spanning all of them
    top = parent < 0
    real_root = top & ~orphan
    n_real = np.bincount(trace[real_root], minlength=ntr)
    root_of_trace = np.full(ntr, -1, np.int64)
    rr = np.flatnonzero(real_root)
    rr = rr[n_real[trace[rr]] == 1]
    root_of_trace[trace[rr]] = rr
    adopt = top & orphan & (n_real[trace] == 1)
    parent[adopt] = root_of_trace[trace[adopt]]
    top = parent < 0
    n_top = np.bincount(trace[top], minlength=ntr)
    one = np.flatnonzero(top & (n_top[trace] == 1))
    root_of_trace[trace[one]] = one
    vtr = np.flatnonzero(n_top > 1)
    nv = len(vtr)
    n = n0 + nv
    if nv:
        vrow = n0 + np.arange(nv)
        t_lo = np.minimum.reduceat(start, starts_of_trace)[vtr]
        t_hi = np.maximum.reduceat(end, starts_of_trace)[vtr]
        root_of_trace[vtr] = vrow
        still_top = top & (n_top[trace] > 1)
        parent[still_top] = root_of_trace[trace[still_top]]
        parent = np.concatenate([parent, np.full(nv, -1, np.int64)])
        trace = np.concatenate([trace, vtr])
        start = np.concatenate([start, t_lo])
        end = np.concatenate([end, t_hi])
        error = np.concatenate([error, np.zeros(nv, bool)])
        from_logs = np.concatenate([from_logs, np.zeros(nv, bool)])
        flags = np.concatenate([flags, np.zeros(nv, np.int64)])
        services = services + [VIRTUAL_ROOT]
        service_code = np.concatenate([service_code, np.full(nv, len(services) - 1, np.int64)])
        server_like = np.concatenate([server_like, np.ones(nv, bool)])
        client_like = np.concatenate([client_like, np.ones(nv, bool)])

    depth, _ = _doubling(parent)

    # --- per level, parents first: clock-skew shift, then Jaeger's clipping to the parent
    adj_s, adj_e = start.copy(), end.copy()
    shift = np.zeros(n, np.int64)
    cs, ce = start.copy(), end.copy()
    valid = np.ones(n, bool)
    chain = error.copy()  # erroring with every ancestor erroring (a synthetic root counts as erroring)
    chain[n0:] = True
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    for d in range(1, len(bounds) - 1):
        idx = order[bounds[d]:bounds[d + 1]]
        if not len(idx):
            continue
        p = parent[idx]
        s0, e0 = start[idx] + shift[p], end[idx] + shift[p]
        ps, pe = adj_s[p], adj_e[p]
        dur, pdur = e0 - s0, pe - ps
        fix = ((service_code[idx] != service_code[p]) & ((s0 < ps) | (e0 > pe)) & (dur <= pdur)
               & server_like[idx] & client_like[p])
        own = np.where(fix, ps + (pdur - dur) // 2 - s0, 0)
        shift[idx] = shift[p] + own
        s1, e1 = s0 + own, e0 + own
        adj_s[idx], adj_e[idx] = s1, e1
        flags[idx[fix]] |= FLAG_BITS["skew_adjusted"]
        flags[idx[(e1 - s1) > pdur]] |= FLAG_BITS["longer_than_parent"]
        pcs, pce = cs[p], ce[p]
        inside = np.where(s1 >= pcs, s1 < pce, e1 > pcs)
        v = valid[p] & inside
        valid[idx] = v
        ncs, nce = np.maximum(s1, pcs), np.minimum(e1, pce)
        flags[idx[v & ((ncs != s1) | (nce != e1))]] |= FLAG_BITS["clipped"]
        flags[idx[~v & valid[p]]] |= FLAG_BITS["dropped"]
        cs[idx], ce[idx] = ncs, nce
        chain[idx] = error[idx] & chain[p]

    # --- self time: duration minus the union of the children's time inside the span
    kids = np.flatnonzero(parent >= 0)
    kp = parent[kids]
    ks, ke = np.maximum(adj_s[kids], adj_s[kp]), np.minimum(adj_e[kids], adj_e[kp])
    keep = ke > ks
    kids, kp, ks, ke = kids[keep], kp[keep], ks[keep], ke[keep]
    o = np.lexsort((ks, kp))
    kp, ks, ke = kp[o], ks[o], ke[o]
    covered = np.zeros(n, np.int64)
    if len(kp):
        import pandas as pd

        run = pd.Series(ke).groupby(kp).cummax().to_numpy()
        prev = np.empty_like(run)
        prev[0] = np.iinfo(np.int64).min
        prev[1:] = run[:-1]
        first = np.empty(len(kp), bool)
        first[0] = True
        first[1:] = kp[1:] != kp[:-1]
        prev[first] = np.iinfo(np.int64).min
        part = np.maximum(0, ke - np.maximum(ks, prev))
        covered = np.bincount(kp, weights=part, minlength=n).astype(np.int64)
    self_us = (adj_e - adj_s) - covered
    self_us -= _shadowed_by_siblings(parent, adj_s, adj_e, self_us)

    # --- a wrapper span whose children all run in one other service is that service's time
    # (a client span's gap around a remote call is network/queueing at the callee's side)
    blame = service_code.copy()
    rk = np.flatnonzero(parent >= 0)
    if len(rk):
        rp = parent[rk]
        # per parent: do all children run in one other service? (min == max of their codes,
        # with "same service as the parent" mapped above every real code so it breaks ties)
        code = np.where(service_code[rk] == service_code[rp], len(services), service_code[rk])
        o = np.lexsort((code, rp))
        rp_s, code_s = rp[o], code[o]
        heads = np.flatnonzero(np.concatenate([[True], rp_s[1:] != rp_s[:-1]]))
        lo_code = code_s[heads]
        hi_code = np.maximum.reduceat(code_s, heads)
        wrap = (lo_code == hi_code) & (lo_code < len(services))
        blame[rp_s[heads[wrap]]] = lo_code[wrap]

    # --- error origin per trace
    err_child = np.bincount(parent[parent >= 0], weights=error[parent >= 0], minlength=n) > 0
    cand = error & ~err_child
    origins = np.full(ntr, -1, np.int64)
    if cand.any():
        c = np.flatnonzero(cand)
        o = np.lexsort((start[c], -depth[c], ~chain[c], trace[c]))
        c = c[o]
        tr_c = trace[c]
        firsts = np.flatnonzero(np.concatenate([[True], tr_c[1:] != tr_c[:-1]]))
        origins[tr_c[firsts]] = c[firsts]
    origin_flag = np.zeros(n, bool)
    origin_flag[origins[origins >= 0]] = True

    # --- critical path: Jaeger's walk over the clipped, valid tree (children sorted by end)
    ck = np.flatnonzero((parent >= 0) & valid)
    ck = ck[np.lexsort((ce[ck], parent[ck]))]
    cpar = parent[ck]
    bounds_of = np.concatenate([[0], np.cumsum(np.bincount(cpar, minlength=n))]).tolist()
    crit = np.zeros(n, np.int64)
    paths = _critical_paths(root_of_trace, parent.tolist(), cs.tolist(), ce.tolist(), ck.tolist(),
                            ce[ck].tolist(), bounds_of, np.bincount(trace, minlength=ntr).tolist())
    for sections in paths:
        for row, a, b in sections:
            crit[row] += b - a

    span_ids = _Strings(tbl.column("span_id"), "")
    names = _Strings(tbl.column("name"), VIRTUAL_ROOT)
    return TraceBatch(n=n, n_spans=n0, trace_ids=trace_ids, offsets=starts_of_trace, trace=trace, parent=parent, depth=depth,
                      start=adj_s, end=adj_e, self_us=self_us, crit_us=crit, error=error, origin=origin_flag,
                      flags=flags, service_code=service_code, services=services, span_ids=span_ids, names=names,
                      kinds=tbl.column("kind"), roots=root_of_trace, origins=origins, paths=paths, blame_code=blame,
                      from_logs=from_logs)


def _critical_paths(roots: np.ndarray, parent: list[int], cs: list[int], ce: list[int], kids: list[int],
                    kid_end: list[int], bounds: list[int], sizes: list[int]) -> list[list[tuple[int, int, int]]]:
    """Jaeger's critical-path walk for every trace, iteratively; sections (row, from, to) in time order.

    From a span, follow its last-finishing child (before the time we came back with, if
    any); when no child qualifies, the span itself is critical from its start to that time
    and the walk returns to its parent with the span's start as the new limit. Each node's
    children are scanned right to left once in total, so the walk is linear. The children of
    row ``r`` are ``kids[bounds[r]:bounds[r + 1]]``, sorted by end time; ``nxt[r]`` is where
    the next scan of ``r``'s children starts (every earlier choice ended no earlier).
    """
    out: list[list[tuple[int, int, int]]] = []
    nxt = bounds[1:]  # a fresh copy: one past the last child of each row
    append_out = out.append
    for root, size in zip(roots.tolist(), sizes):
        sections: list[tuple[int, int, int]] = []
        add = sections.append
        cur, limit_t = root, None
        guard = 2 * size + 2  # each span is entered once from its parent and left once
        while cur >= 0 and guard:
            guard -= 1
            first = bounds[cur]
            j = nxt[cur] - 1
            if limit_t is None:
                limit = ce[cur]
            else:
                limit = limit_t
                while j >= first and kid_end[j] >= limit_t:
                    j -= 1
            if j >= first:
                nxt[cur] = j
                if kid_end[j] != limit:
                    add((cur, kid_end[j], limit))
                cur, limit_t = kids[j], None
            else:
                nxt[cur] = first
                start = cs[cur]
                if start != limit:
                    add((cur, start, limit))
                limit_t = start
                cur = parent[cur] if cur >= 0 else -1
        sections.reverse()
        append_out(sections)
    return out



def _shadowed_by_siblings(parent: np.ndarray, start: np.ndarray, end: np.ndarray, self_us: np.ndarray) -> np.ndarray:
    """Per span, the part of a leaf's time that a sibling with children covers (µs, at most its self time).

    Request-handling instrumentation often records an in-process span that lasts the whole
    request beside the span that does the work (a web framework's filter or handler span next
    to the client call it makes: WebFlux ``FilteringWebHandler.handle`` beside ``HTTP POST``).
    Both cover the same wall time; the sibling's children say where that time went, so the
    leaf's overlap with it is waiting, not work of its own, and counting it as self time makes
    the entry service the slowest of all whenever anything below it is slow. Siblings that are
    leaves themselves (parallel queries) keep their time: nothing says where else it went.
    """
    out = np.zeros(len(parent), np.int64)
    kids = np.flatnonzero(parent >= 0)
    if not len(kids):
        return out
    has_kids = np.bincount(parent[kids], minlength=len(parent)) > 0
    leaves, inner = kids[~has_kids[kids]], kids[has_kids[kids]]
    if not len(leaves) or not len(inner):
        return out
    import pandas as pd

    pairs = pd.DataFrame({"leaf": leaves, "p": parent[leaves]}).merge(pd.DataFrame({"sib": inner, "p": parent[inner]}), on="p")
    if pairs.empty:
        return out
    lf, sb = pairs["leaf"].to_numpy(), pairs["sib"].to_numpy()
    overlap = np.maximum(0, np.minimum(end[lf], end[sb]) - np.maximum(start[lf], start[sb]))
    np.add.at(out, lf, overlap)
    return np.minimum(out, np.maximum(self_us, 0))

def load_batch(ws: Workspace, *, trace_ids: Sequence[str] | None = None, window_start: datetime | None = None,
               window_end: datetime | None = None, limit: int | None = None) -> TraceBatch:
    """Pull and analyse the selected traces in bulk (the entry point for aggregate callers)."""
    return analyze_table(tstore.span_table(ws, trace_ids=trace_ids, start=window_start, end=window_end, limit=limit))
