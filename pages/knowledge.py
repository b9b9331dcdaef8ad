"""Knowledge: code repos and PDF runbooks — add, sync, remove, status — and search over them."""

import tempfile
from pathlib import Path

import streamlit as st

from crashlens_core.errors import CrashLensError
from crashlens_core.knowledge import service, sources
from crashlens_core.knowledge.acquire import ARCHIVE_SUFFIXES
from crashlens_core.knowledge.chunking import LANGUAGES
from crashlens_core.knowledge.index import literal_words
from pages import common

common.leave_legacy_multipage()  # a cold server may run this file directly: go through app.py

st.title("Knowledge")
st.caption("Code repositories, PDF runbooks and log templates, searchable together: paste an error, find the code "
           "that raises it, the runbook page about it and the log template it belongs to.")
ws = common.workspace()
settings = common.settings()


def _progress_bar(label: str):
    bar = st.progress(0.0, text=label)
    return bar, (lambda frac, msg: bar.progress(min(max(frac, 0.0), 1.0), text=msg[:120]))


def _embed_now() -> None:
    bar, show = _progress_bar("embedding…")
    try:
        stats = service.embed_pending(ws, settings, progress=show)
        bar.progress(1.0, text=f"{stats['embedded']} chunks embedded; {stats['vectors']} vectors searchable")
    except CrashLensError as exc:
        common.show_error(exc)


def _after_add(label: str, run) -> None:
    bar, show = _progress_bar(f"adding {label}…")
    try:
        out = run(show)
    except CrashLensError as exc:
        bar.empty()
        common.show_error(exc)
        return
    bar.progress(1.0, text=f"{out['source']}: {out['files']} files, {out['chunks']} chunks — searchable now (BM25)")
    _embed_now()


with st.expander("Add a repository", icon=":material/add_link:", expanded=False):
    how = st.segmented_control("From", ["URL", "Local path", "Archive"], default="URL", key="kn_repo_from")
    name = st.text_input("Name (optional)", key="kn_repo_name", help="default: from the URL, folder or archive name")
    if how == "Archive":
        up = st.file_uploader("Zip or tar archive of the source tree", key="kn_repo_archive",
                              type=[s.lstrip(".") for s in ARCHIVE_SUFFIXES if s.count(".") == 1] + ["gz", "bz2", "xz"])
        if st.button("Add archive", key="kn_add_archive", type="primary", icon=":material/upload:", disabled=up is None):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / Path(up.name).name
                path.write_bytes(up.getvalue())
                _after_add(up.name, lambda show: sources.add_archive(ws, settings, path, name=name or None, progress=show,
                                                                       display_name=up.name))
    else:
        placeholder = "https://github.com/owner/repo.git" if how == "URL" else "/path/to/checkout"
        spec = st.text_input("Repository URL" if how == "URL" else "Folder", key="kn_repo_spec", placeholder=placeholder,
                             help=f"https or ssh; allowed hosts: {settings.knowledge_allowed_hosts}" if how == "URL" else
                             "a git checkout (its committed history is cloned) or a plain folder")
        if st.button("Add repository", key="kn_add_repo", type="primary", icon=":material/add:", disabled=not spec.strip()):
            _after_add(spec, lambda show: sources.add_repo(ws, settings, spec, name=name or None, progress=show))

with st.expander("Add PDF runbooks", icon=":material/picture_as_pdf:", expanded=False):
    pdfs = st.file_uploader("PDF files", type=["pdf"], accept_multiple_files=True, key="kn_pdfs")
    if st.button("Add PDFs", key="kn_add_pdfs", type="primary", icon=":material/upload:", disabled=not pdfs):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for up in pdfs:
                p = Path(tmp) / Path(up.name).name
                p.write_bytes(up.getvalue())
                paths.append(p)
            bar, show = _progress_bar("reading PDFs…")
            try:
                results = sources.add_pdfs(ws, settings, paths, progress=show)
            except CrashLensError as exc:
                common.show_error(exc)
                results = []
        for r in results:
            if r["status"] == "refused":
                st.warning(f"{r['reason']}" + (f"  \n**Next step:** {r['hint']}" if r.get("hint") else ""), icon=":material/block:")
            else:
                st.success(f"{r['name']}: {r['status']}, {r.get('pages', 0)} pages, {r.get('chunks', 0)} chunks, "
                           f"{r.get('images', 0)} images", icon=":material/check_circle:")
        if any(r["status"] == "indexed" for r in results):
            _embed_now()

rows = sources.list_sources(ws)
st.subheader("Sources")
if not rows:
    st.info("No sources yet. Add a repository or a PDF runbook above (the demo workspace has both).", icon=":material/info:")
else:
    st.dataframe(
        [{"name": r["name"], "kind": r["kind"], "from": r["url"], "files": r["files"], "chunks": r["chunks"],
          "embedded": r["embedded"], "commit": (r["commit"] or "")[:10], "last sync": r["last_sync"], "status": r["status"]}
         for r in rows],
        hide_index=True, width="stretch", key="kn_sources_table")
    pending = service.dense_status(ws, settings)["pending"]
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.selectbox("Source", [r["name"] for r in rows], key="kn_source_pick", label_visibility="collapsed")
    if c2.button("Sync", key="kn_sync", icon=":material/sync:", width="stretch"):
        bar, show = _progress_bar(f"syncing {chosen}…")
        try:
            out = sources.sync_source(ws, settings, chosen, progress=show)
            bar.progress(1.0, text=f"{chosen}: up to date ({out.get('rechunked', 0)} files re-chunked)")
            _embed_now()
        except CrashLensError as exc:
            common.show_error(exc)
    if c3.button("Remove", key="kn_remove", icon=":material/delete:", width="stretch"):
        try:
            sources.remove_source(ws, chosen)
            st.rerun()
        except CrashLensError as exc:
            common.show_error(exc)
    if pending:
        st.caption(f"{pending} chunks still wait for embeddings: search finds them by words until then.")
        if st.button(f"Embed {pending} pending chunks", key="kn_embed", icon=":material/memory:"):
            _embed_now()

st.subheader("Search")
with st.form("kn_search_form"):
    query = st.text_input("Error text or question", key="kn_query", placeholder="connection reset by peer")
    f1, f2 = st.columns([3, 1])
    kind = f1.segmented_control("Kind", ["all", "code", "doc", "log"], default="all", key="kn_kind")
    k = f2.number_input("Hits", min_value=1, max_value=50, value=10, key="kn_k")
    go = st.form_submit_button("Search", type="primary", icon=":material/search:")
if go and query.strip():
    try:
        hits = service.search(ws, settings, query, k=int(k), kind=None if kind in (None, "all") else kind)
    except CrashLensError as exc:
        common.show_error(exc)
        hits = []
    if not hits:
        st.info("No hits.", icon=":material/search_off:")
    words = set(literal_words(query))
    for h in hits:
        where = f"page {h.page}" if h.page else (f"lines {h.start_line}–{h.end_line}" if h.start_line else h.symbol)
        with st.container(border=True):
            # evidence ids and symbols come from indexed files: plain text, never markdown
            st.text(f"{h.kind} · {h.evidence_id} · {where} · score {h.score:.3f}")
            if h.symbol and h.kind != "log":
                st.caption(h.symbol)
            # The matching lines, marked, as plain text (untrusted content stays inert).
            marked = [f"{(h.start_line or 1) + i if h.start_line else '':>5} » {line.strip()}"
                      for i, line in enumerate(h.text.splitlines())
                      if words & set(literal_words(line))][:6]
            if marked:
                st.text("\n".join(marked))
            lang = LANGUAGES.get(Path(h.path or "").suffix.lower(), "text") if h.kind == "code" else None
            st.code(h.text[:4000], language=lang, line_numbers=h.kind == "code")
