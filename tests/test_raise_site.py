"""Raise-site retrieval: an error line from a log finds the function that raised it.

Real chunker, real bm25s + FAISS index and the real MiniLM model on a tiny git repo.
"""

from __future__ import annotations

from crashlens_core.config import Settings
from crashlens_core.knowledge import service, sources
from crashlens_core.knowledge.chunking import chunk_text
from crashlens_core.store import Workspace

from .data_helpers import make_repo


def test_a_message_written_over_several_lines_stays_with_its_part_of_a_long_function():
    filler = "".join(f"    step_{i} = compute({i})\n" for i in range(30))
    src = ("def resolve(package_name, found):\n" + filler
           + "    if len(found) > 1:\n"
           + "        raise RuntimeError(\n"
           + "            f\"{package_name!r} maps to multiple installed\"\n"
           + "            f\" distributions ({', '.join(found)}).\"\n"
           + "            \" Pass 'package_name' to disambiguate.\"\n"
           + "        )\n" + filler + "    return found[0]\n")
    parts = chunk_text("pkg/meta.py", src, chunk_lines=10)
    assert len(parts) > 3                     # long enough to be cut into parts
    raise_line = src.splitlines().index("        raise RuntimeError(") + 1
    owner = next(p for p in parts if p.start_line <= raise_line <= p.end_line)
    assert "{} maps to multiple installed distributions ({}). Pass 'package_name' to disambiguate." in owner.literals
    assert all("{} maps to multiple" not in lit for p in parts if p is not owner for lit in p.literals)


SCAN = '''
class TagError(Exception):
    pass


class Emitter:
    def prepare_tag_handle(self, handle):
        """Check a tag handle: an empty tag handle must not pass, a tag handle starts and ends with '!'."""
        if not handle:
            raise TagError("tag handle must not be empty")
        if handle[0] != "!" or handle[-1] != "!":
            raise TagError(f"tag handle must start and end with '!': {handle!r}")
        tag_handle = handle
        for ch in tag_handle[1:-1]:
            if not ch.isalnum():
                raise TagError(f"invalid character {ch!r} in the tag handle: {handle!r}")
        return tag_handle

    def prepare_tag_prefix(self, prefix):
        if not prefix:
            raise TagError("tag prefix must not be empty")
        return prefix

    def prepare_tag_suffix(self, suffix):
        if not suffix:
            raise TagError("tag suffix must not be empty")
        return suffix

    def prepare_tag_alias(self, alias):
        if not alias:
            raise TagError("tag alias must not be empty")
        return alias

    def prepare_tag(self, tag):
        if not tag:
            raise TagError("tag must not be empty")
        chunks = []
        start = end = 0
        while end < len(tag):
            ch = tag[end]
            if ch.isalnum() or ch in "-;/?:@&=+$,_.~*()[]":
                end += 1
            else:
                if start < end:
                    chunks.append(tag[start:end])
                start = end = end + 1
                data = ch.encode("utf-8")
                for byte in data:
                    chunks.append("%%%02X" % byte)
        if start < end:
            chunks.append(tag[start:end])
        return "".join(chunks)
'''


def test_the_literal_that_explains_the_whole_line_wins_over_name_matches(tmp_path):
    # prepare_tag_handle shares every word of the line and repeats 'tag'/'handle' in its
    # names; only prepare_tag raises exactly this message.
    repo = make_repo(tmp_path / "emit", {"emit/emitter.py": SCAN})
    settings = Settings(workspace=tmp_path / "ws")
    with Workspace.open(tmp_path / "ws") as ws:
        sources.add_repo(ws, settings, str(repo), name="emit")
        service.embed_pending(ws, settings)
        for mode in ("hybrid", "literal"):
            hits = service.search(ws, settings, "TagError: tag must not be empty", k=5, mode=mode)
            assert hits[0].symbol.endswith("Emitter.prepare_tag"), (mode, [h.symbol for h in hits])
        hits = service.search(ws, settings, "TagError: tag prefix must not be empty", k=5)
        assert hits[0].symbol.endswith("Emitter.prepare_tag_prefix")
        # the BM25 reference alone is misled by the identifiers (what the fusion must correct)
        bm25 = service.search(ws, settings, "TagError: tag must not be empty", k=5, mode="bm25")
        assert [h.symbol for h in bm25].index("emit.emitter.Emitter.prepare_tag") > 0
