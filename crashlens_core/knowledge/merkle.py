"""A Merkle tree of file hashes per repository, for incremental re-sync (as Log Insight planned).

Leaves are files (sha256 of the content, or ``skip:<reason>`` for files that are listed but
not indexed); a folder's hash is the hash of its children's names and hashes. Comparing the
stored tree with a new scan descends only into folders whose hash changed, so a re-sync
after one edit touches one path from the root. Files whose size and mtime did not change
reuse their stored hash and are not even read.

>>> old = build_tree({"a.py": "1", "pkg/b.py": "2"})
>>> new = build_tree({"a.py": "1", "pkg/b.py": "3", "pkg/c.py": "4"})
>>> diff_trees(old, new)
(['pkg/c.py'], ['pkg/b.py'], [])
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from ..store.files import file_sha256

__all__ = ["Leaf", "scan_leaves", "build_tree", "diff_trees", "root_hash"]


@dataclass(frozen=True)
class Leaf:
    path: str
    hash: str
    size: int
    mtime_ns: int
    note: str = ""     # why the file is not indexed ('' = indexed)


def scan_leaves(root: Path, verdicts: Mapping[str, str], previous: Mapping[str, Mapping[str, Any]]) -> dict[str, Leaf]:
    """Leaves for ``verdicts`` (path -> '' if indexed, else the skip reason).

    ``previous`` are the stored rows (path -> {hash, size, mtime_ns, note}); an indexed file
    with the same size and mtime keeps its stored hash without being read.
    """
    out = {}
    for rel, note in verdicts.items():
        full = Path(root) / rel
        try:
            st = os.lstat(full)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, 0
        if note:
            out[rel] = Leaf(rel, f"skip:{note}", size, mtime, note)
            continue
        old = previous.get(rel)
        if old and not old.get("note") and old.get("size") == size and old.get("mtime_ns") == mtime and old.get("hash"):
            out[rel] = Leaf(rel, old["hash"], size, mtime)
        else:
            out[rel] = Leaf(rel, file_sha256(full), size, mtime)
    return out


def _parent(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent


def build_tree(leaf_hashes: Mapping[str, str]) -> dict[str, str]:
    """Every node of the tree, path -> hash: files as given, folders computed ('' is the root)."""
    nodes = dict(leaf_hashes)
    folders = {""}
    kids: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path, h in leaf_hashes.items():
        parent = _parent(path)
        kids[parent].append((PurePosixPath(path).name, h))
        while parent not in folders:
            folders.add(parent)
            parent = _parent(parent)
    # deepest folders first, so a folder's children are hashed before it
    for folder in sorted(folders, key=lambda f: -(f.count("/") + 1) if f else 1):
        h = hashlib.sha256("".join(f"{n}\0{c}\n" for n, c in sorted(kids[folder])).encode()).hexdigest()
        nodes[folder] = "d:" + h
        if folder:
            kids[_parent(folder)].append((PurePosixPath(folder).name + "/", nodes[folder]))
    return nodes


def root_hash(tree: Mapping[str, str]) -> str:
    return tree.get("", "")


def diff_trees(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, deleted) file paths, descending only into folders whose hash differs."""
    added: list[str] = []
    changed: list[str] = []
    deleted: list[str] = []
    if old.get("") == new.get(""):
        return added, changed, deleted

    def kids(tree: Mapping[str, str], folder: str) -> dict[str, str]:
        return _children(tree).get(folder, {})

    def walk(folder: str) -> None:
        o, n = kids(old, folder), kids(new, folder)
        for name in sorted(set(o) | set(n)):
            path = f"{folder}/{name}" if folder else name
            oh, nh = o.get(name), n.get(name)
            if oh == nh:
                continue
            o_dir, n_dir = oh is not None and oh.startswith("d:"), nh is not None and nh.startswith("d:")
            if o_dir and n_dir:
                walk(path)
                continue
            if o_dir:
                deleted.extend(_files_under(old, path))
            elif oh is not None:
                (changed if nh is not None and not n_dir else deleted).append(path)
            if n_dir:
                added.extend(_files_under(new, path))
            elif nh is not None and (oh is None or o_dir):
                added.append(path)

    walk("")
    return sorted(added), sorted(changed), sorted(deleted)


_CHILDREN_CACHE: dict[int, tuple[Mapping[str, str], dict[str, dict[str, str]]]] = {}


def _children(tree: Mapping[str, str]) -> dict[str, dict[str, str]]:
    cached = _CHILDREN_CACHE.get(id(tree))
    if cached is not None and cached[0] is tree:
        return cached[1]
    out: dict[str, dict[str, str]] = {}
    for path, h in tree.items():
        if not path:
            continue
        p = PurePosixPath(path)
        out.setdefault(_parent(path), {})[p.name] = h
    if len(_CHILDREN_CACHE) > 8:
        _CHILDREN_CACHE.clear()
    _CHILDREN_CACHE[id(tree)] = (tree, out)
    return out


def _files_under(tree: Mapping[str, str], folder: str) -> list[str]:
    prefix = folder + "/"
    return [p for p, h in tree.items() if p.startswith(prefix) and not h.startswith("d:")]
