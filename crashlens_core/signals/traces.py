"""Span trees, critical paths, self time and error origins, for one trace or fifty thousand.

This module owns how CrashLens reads a trace:

- **Tree repair**, robust to what real tracers emit. A repeated span id (a Zipkin shared
  client/server span) becomes a child of its first occurrence; a span on a parent cycle is
  cut loose at the cycle's earliest span; orphans (parent id given, parent absent) hang
  under the trace's root when it has exactly one, and a trace with no root or several gets
  a synthetic root spanning all its spans (``missing_root``).
- **Clock skew**: a server span of another service that sticks out of its calling span and
  is not longer than it is shifted, with its subtree, to sit centred in the call (as Zipkin's
  UI does); a child genuinely longer than its parent is left alone.
- **Critical path** as Jaeger computes it: children are clipped to their parent (dropped
  when wholly outside), then from the root the last-finishing child is followed down, and on
  the way back up the child that finished last before the returning child started.
- **Self time** per span: its duration minus the union of its children's time inside it
  (overlapping children counted once), summed per service.
- **Error origin**: among erroring spans none of whose children errs, the deepest one on an
  unbroken chain of erroring ancestors to the root (else the deepest at all); and the path
  by which the error rose to the root.

Work is bulk: one SQL pull of every selected span (``store.traces.span_table``), then numpy
over all spans at once (depths by pointer doubling, per-level skew and clipping, interval
unions by sort + running max); Python runs once per trace only for the critical-path walk.
Nothing is recursive. A ``TraceSummary`` is what callers get.

>>> # summarize_trace(ws, "4bf92f3577b34da6a3ce929d0e0e4736").critical_path[0]["service"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import NotFound
from ..store import Workspace
from ..store import traces as tstore

__all__ = ["TraceSummary", "TraceBatch", "analyze_table", "summarize_trace", "summarize_traces", "error_origin",
           "window_trace_stats", "VIRTUAL_ROOT"]

VIRTUAL_ROOT = "(missing root)"


# ====================================================================== records


@dataclass
class TraceSummary:
    """One trace, read: its shape, critical path, self time per service and error origin.

    ``critical_path`` holds Jaeger-style sections ``{span_id, service, name, start_ms, end_ms,
    ms}`` in time order (ms offsets from the trace start); ``error_origin`` is None for a
    trace without errors, else ``{span_id, service, name, exception, message, path}`` with
    ``path`` the span ids from the origin up to the root. ``spans`` (per-span rows for a
    waterfall) is filled by ``summarize_trace`` only.
    """

    trace_id: str
    root_service: str
    root_name: str
    start: datetime
    duration_ms: float
    span_count: int
    depth: int
    services: list[str]
    error_count: int
    critical_path_ms: float
    critical_path_spans: int
    self_time_by_service: dict[str, float]
    error_origin: dict[str, Any] | None
    issues: dict[str, Any]
    spans: list[dict[str, Any]] | None = None
    # The sections are built on first use: most bulk callers never look at them.
    _sections: Callable[[], list[dict[str, Any]]] | None = field(default=None, repr=False, compare=False)
    _critical_path: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def critical_path(self) -> list[dict[str, Any]]:
        if self._critical_path is None:
            self._critical_path = self._sections() if self._sections else []
        return self._critical_path

    def to_json(self, with_spans: bool = False) -> dict[str, Any]:
        out = {
            "trace_id": self.trace_id,
            "root": {"service": self.root_service, "name": self.root_name},
            "start": self.start.isoformat(),
            "duration_ms": round(self.duration_ms, 3),
            "span_count": self.span_count,
            "depth": self.depth,
            "services": self.services,
            "error_count": self.error_count,
            "critical_path": self.critical_path,
            "critical_path_ms": self.critical_path_ms,
            "critical_path_spans": self.critical_path_spans,
            "self_time_by_service": self.self_time_by_service,
            "error_origin": self.error_origin,
            "issues": self.issues,
        }
        if with_spans and self.spans is not None:
            out["spans"] = self.spans
        return out


@dataclass
class TraceBatch:
    """Every selected span analysed, as arrays (row = span; rows ``n..`` are synthetic roots).

    Per span: ``trace`` (index into ``trace_ids``), ``parent`` (row, -1 for a root), ``depth``,
    ``start``/``end`` (skew-adjusted µs), ``self_us``, ``crit_us`` (time on the critical path),
    ``error``, ``origin`` (is its trace's error origin), ``flags`` (bit set, see ``FLAG_BITS``).
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


FLAG_BITS = {"orphan": 1, "duplicate_id": 2, "cycle": 4, "skew_adjusted": 8, "clipped": 16, "dropped": 32,
             "longer_than_parent": 64}


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


def _resolve_parents(k: np.ndarray, pk_col: Any, server: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parent row per row from (trace, span) and (trace, parent) key hashes; orphans and repeated ids.

    A repeated span id points at its first occurrence (rows are in start order, and the
    stable sort keeps the first occurrence first); a parent id resolves to the first
    occurrence of that id in the trace. ``server`` marks server spans: of a repeated id a
    non-server occurrence comes first, as Zipkin orders a shared span's halves (the server
    half shares the client's id and hangs under it, even when clock skew makes it start first).
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
    parent = np.where(dup, first_row, parent)
    orphan = has_parent & ~found & ~dup
    return parent.astype(np.int64), orphan, dup


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
    kind_text = pc.fill_null(tbl.column("kind"), "")
    is_server = pc.equal(kind_text, "server").to_numpy(zero_copy_only=False).astype(bool)
    parent, orphan, dup = _resolve_parents(_np(tbl, "k", np.uint64), tbl.column("pk"), is_server)
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
                      kinds=tbl.column("kind"), roots=root_of_trace, origins=origins, paths=paths, blame_code=blame)


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


# ====================================================================== summaries


def _origin_info(ws: Workspace, b: TraceBatch, rows: list[int]) -> dict[int, dict[str, Any]]:
    """Error-origin records for the given span rows: names, exception details (one query), path to the root."""
    ids = b.span_ids.take(rows)
    names = b.names.take(rows)
    details = tstore.span_details(ws, [(b.trace_ids[b.trace[r]], sid) for r, sid in zip(rows, ids)])
    parent = b.parent
    paths = []
    for r in rows:
        path_rows, node = [], r
        while node >= 0 and len(path_rows) <= b.n:
            if node < b.n_spans:
                path_rows.append(node)
            node = int(parent[node])
        paths.append(path_rows)
    flat = b.span_ids.take([r for p in paths for r in p])
    out, at = {}, 0
    for r, sid, name, path_rows in zip(rows, ids, names, paths):
        det = details.get((b.trace_ids[b.trace[r]], sid), {})
        out[r] = {"span_id": sid, "service": b.service_of(r), "name": name, "exception": det.get("exception"),
                  "message": det.get("message") or det.get("status_message"), "host": det.get("host"),
                  "depth": int(b.depth[r]), "path": flat[at:at + len(path_rows)]}
        at += len(path_rows)
    return out


def _summaries(ws: Workspace, b: TraceBatch, with_spans: bool) -> list[TraceSummary]:
    n, ntr = b.n, len(b.trace_ids)
    if not ntr:
        return []
    real = np.arange(n) < b.n_spans
    tr_real = b.trace[real]
    span_count = np.bincount(tr_real, minlength=ntr).tolist()
    errors = np.bincount(tr_real, weights=b.error[real], minlength=ntr).astype(int).tolist()
    depth_max = np.maximum.reduceat(b.depth[:b.n_spans], b.offsets).tolist()  # stored rows are grouped by trace
    cp_ms = np.round(np.bincount(b.trace, weights=b.crit_us, minlength=ntr) / 1000.0, 3).tolist()
    cp_spans = np.bincount(tr_real, weights=b.crit_us[real] > 0, minlength=ntr).astype(int).tolist()
    # issues: per-flag counts, built only for the traces that have any
    issue_counts = {name: np.bincount(b.trace, weights=(b.flags & bit) > 0, minlength=ntr).astype(int).tolist()
                    for name, bit in FLAG_BITS.items()}
    missing_arr = (b.roots >= b.n_spans) | ((b.flags[b.roots] & FLAG_BITS["orphan"]) > 0)
    troubled = set(np.flatnonzero(missing_arr | (np.bincount(b.trace, weights=b.flags > 0, minlength=ntr) > 0)).tolist())
    missing = missing_arr.tolist()
    # self time per (trace, service)
    nsvc = max(len(b.services), 1)
    ukey, inv = np.unique(tr_real * nsvc + b.service_code[real], return_inverse=True)
    sums = np.round(np.bincount(inv, weights=b.self_us[real]) / 1000.0, 3).tolist()
    per_trace: list[dict[str, float]] = [{} for _ in range(ntr)]
    services = b.services
    for k, v in zip(ukey.tolist(), sums):
        per_trace[k // nsvc][services[k % nsvc]] = v
    origins = _origin_info(ws, b, [r for r in b.origins.tolist() if r >= 0])
    roots = b.roots.tolist()
    root_names = b.names.take(roots)
    root_services = [services[c] for c in b.service_code[b.roots].tolist()]
    starts, ends = b.start[b.roots].tolist(), b.end[b.roots].tolist()
    start_dts = b.start[b.roots].astype("datetime64[us]").tolist()  # one conversion, not one per trace
    origin_rows = b.origins.tolist()
    out = []
    for t in range(ntr):
        t0 = starts[t]
        issues: dict[str, Any] = {}
        if t in troubled:
            issues = {k: v[t] for k, v in issue_counts.items() if v[t]}
            if missing[t]:
                issues["missing_root"] = True
        out.append(TraceSummary(
            trace_id=b.trace_ids[t], root_service=root_services[t], root_name=root_names[t],
            start=start_dts[t], duration_ms=round((ends[t] - t0) / 1000.0, 3), span_count=span_count[t],
            depth=depth_max[t], services=sorted(per_trace[t]), error_count=errors[t],
            critical_path_ms=cp_ms[t], critical_path_spans=cp_spans[t],
            self_time_by_service=per_trace[t], error_origin=origins.get(origin_rows[t]), issues=issues,
            _sections=lambda t=t, t0=t0: _sections(b, t, t0)))
    if with_spans:
        for t, summ in enumerate(out):
            summ.spans = _span_rows(b, t)
    out.sort(key=lambda s: (s.start, s.trace_id))
    return out


def _sections(b: TraceBatch, t: int, t0: int) -> list[dict[str, Any]]:
    rows = [r for r, _, _ in b.paths[t]]
    ids, names = b.span_ids.take(rows), b.names.take(rows)
    return [{"span_id": sid, "service": b.service_of(r), "name": name,
             "start_ms": round((a - t0) / 1000.0, 3), "end_ms": round((z - t0) / 1000.0, 3), "ms": round((z - a) / 1000.0, 3)}
            for (r, a, z), sid, name in zip(b.paths[t], ids, names)]


def _span_rows(b: TraceBatch, t: int) -> list[dict[str, Any]]:
    """Per-span rows of one trace for a waterfall, in tree (depth-first) order."""
    rows = np.flatnonzero(b.trace == t)
    root = int(b.roots[t])
    t0 = int(b.start[root])
    children: dict[int, list[int]] = {}
    for r in sorted(rows.tolist(), key=lambda r: (b.start[r], r)):
        children.setdefault(int(b.parent[r]), []).append(r)
    order, stack = [], [root]
    while stack:
        r = stack.pop()
        order.append(r)
        stack.extend(reversed(children.get(r, [])))
    ids = dict(zip(order, b.span_ids.take(order)))
    names = dict(zip(order, b.names.take(order)))
    kinds = dict(zip(order, _Strings(b.kinds, None).take(order)))
    out = []
    for r in order:
        p = int(b.parent[r])
        out.append({
            "span_id": ids[r], "parent_id": ids.get(p) if p >= 0 else None,
            "service": b.services[b.service_code[r]], "name": names[r], "kind": kinds[r],
            "start_ms": round((int(b.start[r]) - t0) / 1000.0, 3), "duration_ms": round((int(b.end[r]) - int(b.start[r])) / 1000.0, 3),
            "self_ms": round(int(b.self_us[r]) / 1000.0, 3), "critical_ms": round(int(b.crit_us[r]) / 1000.0, 3),
            "depth": int(b.depth[r]), "error": bool(b.error[r]), "error_origin": bool(b.origin[r]),
            "flags": [k for k, bit in FLAG_BITS.items() if b.flags[r] & bit],
        })
    return out


def load_batch(ws: Workspace, *, trace_ids: Sequence[str] | None = None, window_start: datetime | None = None,
               window_end: datetime | None = None, limit: int | None = None) -> TraceBatch:
    """Pull and analyse the selected traces in bulk (the entry point for aggregate callers)."""
    return analyze_table(tstore.span_table(ws, trace_ids=trace_ids, start=window_start, end=window_end, limit=limit))


def summarize_trace(ws: Workspace, trace_id: str) -> TraceSummary:
    """One trace with per-span rows (``.spans``) for a waterfall.

    >>> # s = summarize_trace(ws, tid); s.error_origin["service"], s.critical_path_ms
    """
    b = load_batch(ws, trace_ids=[trace_id])
    if not b.trace_ids:
        raise NotFound(f"no trace {trace_id!r}", hint="`crashlens traces summary --json` lists the traces of a window")
    return _summaries(ws, b, with_spans=True)[0]


def summarize_traces(ws: Workspace, window_start: datetime | None = None, window_end: datetime | None = None,
                     limit: int | None = None, trace_ids: Sequence[str] | None = None) -> list[TraceSummary]:
    """Every trace starting in ``[window_start, window_end)`` (earliest first, at most ``limit``), summarized in bulk."""
    return _summaries(ws, load_batch(ws, trace_ids=trace_ids, window_start=window_start, window_end=window_end,
                                     limit=limit), with_spans=False)


def error_origin(ws: Workspace, trace_id: str) -> dict[str, Any] | None:
    """The error origin of one trace (None when nothing in it errs); see ``TraceSummary.error_origin``."""
    return summarize_trace(ws, trace_id).error_origin


def window_trace_stats(ws: Workspace, window_start: datetime | None, window_end: datetime | None) -> dict[str, Any]:
    """Aggregates over a window's traces, for rankings and service-level views.

    Returns ``traces`` (count), ``error_traces``, ``mean_duration_ms``, ``self_ms`` and
    ``blame_ms`` ({service: total ms}; blame moves a wrapper's gap around a remote call to
    the callee), ``top_spans`` ({service: the 3 span ids with the most blamed self time}),
    ``presence`` ({service: traces it appears in}), and ``origins``: one row per
    (service, span name, exception, why) error origin with ``count`` and up to 5 example span
    ids. ``service`` is the service at fault: the span's own, unless ``why`` says otherwise
    (``silent_callee``, ``refused``: see ``store.traces.origin_blame``; ``via`` is then the
    span's own service).
    """
    b = load_batch(ws, window_start=window_start, window_end=window_end)
    ntr = len(b.trace_ids)
    out: dict[str, Any] = {"traces": ntr, "error_traces": 0, "mean_duration_ms": 0.0, "self_ms": {}, "blame_ms": {},
                           "top_spans": {}, "presence": {}, "origins": []}
    if not ntr:
        return out
    real = np.arange(b.n) < b.n_spans
    durations = (b.end[b.roots] - b.start[b.roots]) / 1000.0
    out["mean_duration_ms"] = float(durations.mean())
    out["error_traces"] = int((np.bincount(b.trace, weights=b.error, minlength=ntr) > 0).sum())
    for name, codes in (("self_ms", b.service_code), ("blame_ms", b.blame_code)):
        sums = np.bincount(codes[real], weights=b.self_us[real], minlength=len(b.services)) / 1000.0
        out[name] = {b.services[i]: float(v) for i, v in enumerate(sums) if b.services[i] != VIRTUAL_ROOT and v > 0}
    nsvc = len(b.services)
    # the three spans carrying the most (blamed) self time per service: latency evidence
    rr = np.flatnonzero(real)
    o = rr[np.lexsort((-b.self_us[rr], b.blame_code[rr]))]
    codes = b.blame_code[o]
    rank = np.arange(len(o)) - np.searchsorted(codes, codes, "left")
    top = o[rank < 3]
    out["top_spans"] = {}
    for r, sid in zip(top.tolist(), b.span_ids.take(top.tolist())):
        out["top_spans"].setdefault(b.services[b.blame_code[r]], []).append(sid)
    pres = np.unique(b.trace[real] * nsvc + b.service_code[real]) % nsvc
    out["presence"] = {b.services[i]: int(c) for i, c in enumerate(np.bincount(pres, minlength=nsvc)) if c}
    rows = [int(r) for r in b.origins.tolist() if r >= 0]
    keys = [(b.trace_ids[b.trace[r]], b.span_ids[r]) for r in rows]
    details = tstore.span_details(ws, keys)
    # an error that shows in one service but was caused by another (a silent callee, a refused request)
    blamed = tstore.origin_blame(ws, keys)
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r, span_key in zip(rows, keys):
        det = details.get(span_key, {})
        blame = blamed.get(span_key, {})
        key = (blame.get("service") or b.service_of(r), b.names[r], det.get("exception") or "", blame.get("why") or "")
        g = groups.setdefault(key, {"service": key[0], "name": key[1], "exception": key[2] or None, "count": 0,
                                    "examples": [], "hosts": {}, "why": key[3] or None, "via": blame.get("via")})
        g["count"] += 1
        if len(g["examples"]) < 5:
            g["examples"].append(b.span_ids[r])
        if det.get("host"):
            g["hosts"][det["host"]] = g["hosts"].get(det["host"], 0) + 1
    out["origins"] = sorted(groups.values(), key=lambda g: -g["count"])
    return out
