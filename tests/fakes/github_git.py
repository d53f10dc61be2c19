"""Content-addressed git objects for the fake GitHub.

SHAs are computed exactly as git computes them (``git hash-object``), so a blob SHA the bot
computes locally matches what the fake reports, as it would against GitHub. One store serves
every repository: objects are content-addressed, so sharing cannot mix repositories up, and a
pull request from a fork can be read through the base repository as on GitHub.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

BLOB_MODES = ("100644", "100755", "120000")
TREE_MODE = "040000"
COMMIT_MODE = "160000"


@dataclass(frozen=True)
class TreeEntry:
    name: str
    mode: str
    type: str  # blob | tree | commit
    sha: str


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    date: str  # ISO 8601, "Z" suffix, as GitHub shows it


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Signature
    committer: Signature


@dataclass
class FlatEntry:
    """A tree entry addressed by its full path: what a recursive tree listing returns."""

    mode: str
    type: str
    sha: str


def _object_sha(kind: str, payload: bytes) -> tuple[str, bytes]:
    header = f"{kind} {len(payload)}\0".encode()
    return hashlib.sha1(header + payload).hexdigest(), payload


def _git_sort_key(entry: TreeEntry) -> bytes:
    # git orders a tree entry as if a directory's name ended with "/"
    suffix = "/" if entry.type == "tree" else ""
    return (entry.name + suffix).encode()


def _epoch(date: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp())


@dataclass
class GitStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, tuple[TreeEntry, ...]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    # -- objects -------------------------------------------------------------------------
    def put_blob(self, content: bytes) -> str:
        sha, _ = _object_sha("blob", content)
        self.blobs.setdefault(sha, content)
        return sha

    def put_tree(self, entries: list[TreeEntry]) -> str:
        ordered = tuple(sorted(entries, key=_git_sort_key))
        payload = b"".join(
            # git writes directory modes without the leading zero
            f"{e.mode.lstrip('0')} {e.name}\0".encode() + bytes.fromhex(e.sha)
            for e in ordered
        )
        sha, _ = _object_sha("tree", payload)
        self.trees.setdefault(sha, ordered)
        return sha

    def put_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> Commit:
        lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
        lines.append(f"author {author.name} <{author.email}> {_epoch(author.date)} +0000")
        lines.append(
            f"committer {committer.name} <{committer.email}> {_epoch(committer.date)} +0000"
        )
        payload = ("\n".join(lines) + "\n\n" + message).encode()
        sha, _ = _object_sha("commit", payload)
        commit = Commit(sha, tree, tuple(parents), message, author, committer)
        self.commits.setdefault(sha, commit)
        return self.commits[sha]

    def kind(self, sha: str) -> str | None:
        if sha in self.blobs:
            return "blob"
        if sha in self.trees:
            return "tree"
        if sha in self.commits:
            return "commit"
        return None

    # -- whole trees -----------------------------------------------------------------------
    def flatten(self, tree_sha: str, with_trees: bool = False) -> dict[str, FlatEntry]:
        """Every entry under a tree by full path (blobs, and sub-trees when asked)."""
        out: dict[str, FlatEntry] = {}
        stack = [("", tree_sha)]
        while stack:
            prefix, sha = stack.pop()
            for entry in self.trees[sha]:
                path = prefix + entry.name
                if entry.type == "tree":
                    if with_trees:
                        out[path] = FlatEntry(entry.mode, "tree", entry.sha)
                    stack.append((path + "/", entry.sha))
                else:
                    out[path] = FlatEntry(entry.mode, entry.type, entry.sha)
        return dict(sorted(out.items()))

    def build_tree(self, flat: dict[str, FlatEntry]) -> str:
        """Write the nested trees for a path -> entry map; returns the root tree SHA."""
        root: dict[str, object] = {}
        for path, entry in flat.items():
            node = root
            *dirs, name = path.split("/")
            for part in dirs:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"{path}: a parent path is a file")
                node = child
            if isinstance(node.get(name), dict):
                raise ValueError(f"{path}: is a directory")
            node[name] = entry
        return self._write(root)

    def _write(self, node: dict[str, object]) -> str:
        entries: list[TreeEntry] = []
        for name, child in node.items():
            if isinstance(child, dict):
                if child:  # git has no empty trees inside a tree
                    entries.append(TreeEntry(name, TREE_MODE, "tree", self._write(child)))
            else:
                assert isinstance(child, FlatEntry)
                entries.append(TreeEntry(name, child.mode, child.type, child.sha))
        return self.put_tree(entries)

    def tree_from_files(self, files: dict[str, bytes]) -> str:
        flat = {p: FlatEntry("100644", "blob", self.put_blob(c)) for p, c in files.items()}
        return self.build_tree(flat)

    def files_at(self, tree_sha: str) -> dict[str, bytes]:
        return {p: self.blobs[e.sha] for p, e in self.flatten(tree_sha).items() if e.type == "blob"}

    def lookup(self, tree_sha: str, path: str) -> TreeEntry | None:
        """The entry at a path ('' is the root tree itself)."""
        if path in ("", "/"):
            return TreeEntry("", TREE_MODE, "tree", tree_sha)
        current = tree_sha
        parts = path.strip("/").split("/")
        for i, part in enumerate(parts):
            found = next((e for e in self.trees[current] if e.name == part), None)
            if found is None:
                return None
            if i == len(parts) - 1:
                return found
            if found.type != "tree":
                return None
            current = found.sha
        return None

    # -- history ---------------------------------------------------------------------------
    def ancestors(self, sha: str) -> set[str]:
        """The commit and everything reachable from it."""
        return set(self._walk(sha))

    def is_ancestor(self, maybe_ancestor: str, sha: str) -> bool:
        return maybe_ancestor in self.ancestors(sha)

    def merge_base(self, a: str, b: str) -> str | None:
        """The nearest common ancestor (breadth first from b), as GitHub diffs a PR from it."""
        reachable = self.ancestors(a)
        queue = deque([b])
        seen: set[str] = set()
        while queue:
            current = queue.popleft()
            if current in reachable:
                return current
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            queue.extend(self.commits[current].parents)
        return None

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from head but not from base, oldest first."""
        excluded = self.ancestors(base)
        return [c for c in reversed(self._walk(head)) if c not in excluded]

    def _walk(self, sha: str) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()
        queue = deque([sha])
        while queue:
            current = queue.popleft()
            if current in seen or current not in self.commits:
                continue
            seen.add(current)
            order.append(current)
            queue.extend(self.commits[current].parents)
        return order
