"""Knowledge: code repositories, PDF runbooks and log templates, indexed for search and stack frames.

Modules, one concept each (import them directly; nothing heavy is imported here):
- ``gitsafe``  — GitPython in a sandbox (scrubbed env, no hooks, limits): every git child process.
- ``gitrepo``  — history through GitPython: ``log`` (commits with files), ``blame``, ``show_file``.
- ``acquire``  — clone by allow-listed https/ssh URL, local path, safe archive extraction.
- ``chunking`` — file selection and chunks (Python by AST with a header line, windows otherwise).
- ``pdf``      — PDF text per page with headings and images, parsed in a limited child process.
- ``merkle``   — per-repo Merkle tree of file hashes: re-sync re-chunks only changed files.
- ``embed``    — embedding backends (MiniLM, torch or int8) and the content-hash vector cache.
- ``index``    — BM25 + literal matching + FAISS, hybrid fusion, atomic index files.
- ``sources``  — add / sync / remove / list sources; ``list_repos`` for frames and blame.
- ``service``  — ``search``, ``embed_pending``, ``index_demo_sources``.
"""

__all__: list[str] = []  # nothing is re-exported here: import the submodule that owns the concept
