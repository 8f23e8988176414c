"""Taxonomy storage: one taxonomy per database, nodes plus parent->child edges."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from db.queries import NotFoundError, TaxonomyInUseError
from db.tables import Label, PriorityRule, TaxonomyEdge, TaxonomyNode


def replace_taxonomy(
    session: Session, *, nodes: Sequence[TaxonomyNode], edges: Sequence[tuple[str, str]]
) -> int:
    """Make the stored taxonomy exactly ``nodes``/``edges``; returns the number of nodes.

    Nodes are upserted by id (ids are stable, so re-importing the same taxonomy changes nothing
    for existing labels). Removing a node that labels or a priority rule still use raises
    :class:`TaxonomyInUseError` and writes nothing.
    """
    new_ids = {node.id for node in nodes}
    existing = {node.id: node for node in session.exec(select(TaxonomyNode))}
    removed = set(existing) - new_ids
    if removed:
        in_use = session.exec(
            select(Label.node_id).where(col(Label.node_id).in_(removed)).distinct()
        ).all()
        if in_use:
            raise TaxonomyInUseError(
                f"{len(in_use)} tag(s) to be removed still have labels, e.g. {sorted(in_use)[:5]}"
            )
        ruled = session.exec(
            select(PriorityRule.node_id).where(col(PriorityRule.node_id).in_(removed))
        ).all()
        if ruled:
            raise TaxonomyInUseError(
                f"{len(ruled)} tag(s) to be removed have priority rules, e.g. {sorted(ruled)[:5]}:"
                " remove the rules first"
            )
        session.exec(delete(TaxonomyNode).where(col(TaxonomyNode.id).in_(removed)))
    for node in nodes:
        stored = existing.get(node.id)
        if stored is None:
            session.add(
                TaxonomyNode(
                    id=node.id,
                    name=node.name,
                    parent_id=node.parent_id,
                    path=node.path,
                    level=node.level,
                    sort_key=node.sort_key,
                )
            )
            continue
        for field in ("name", "parent_id", "path", "level", "sort_key"):
            if getattr(stored, field) != getattr(node, field):
                setattr(stored, field, getattr(node, field))
    session.exec(delete(TaxonomyEdge))
    session.flush()
    session.add_all([TaxonomyEdge(parent_id=p, child_id=c) for p, c in sorted(set(edges))])
    session.flush()
    return len(nodes)


def count_nodes(session: Session) -> int:
    return session.exec(select(func.count()).select_from(TaxonomyNode)).one()


def get_nodes(session: Session) -> list[TaxonomyNode]:
    """All nodes, parents before children (by ``sort_key``)."""
    return list(session.exec(select(TaxonomyNode).order_by(col(TaxonomyNode.sort_key))))


def get_edges(session: Session) -> list[tuple[str, str]]:
    rows = session.exec(select(TaxonomyEdge.parent_id, TaxonomyEdge.child_id))
    return sorted((parent, child) for parent, child in rows)


def get_node(session: Session, *, node_id: str) -> TaxonomyNode:
    node = session.get(TaxonomyNode, node_id)
    if node is None:
        raise NotFoundError(f"no tag with id {node_id!r}")
    return node


def get_nodes_by_ids(session: Session, *, node_ids: Sequence[str]) -> dict[str, TaxonomyNode]:
    if not node_ids:
        return {}
    rows = session.exec(select(TaxonomyNode).where(col(TaxonomyNode.id).in_(set(node_ids))))
    return {node.id: node for node in rows}


def node_paths(session: Session, *, node_ids: Collection[str]) -> dict[str, str]:
    """``{node id: path}`` of the given tags (unknown ids left out), in one query."""
    if not node_ids:
        return {}
    query = select(TaxonomyNode.id, TaxonomyNode.path).where(col(TaxonomyNode.id).in_(node_ids))
    return dict(session.exec(query).all())


def get_children(session: Session, *, node_id: str | None) -> list[TaxonomyNode]:
    """Direct children through edges; ``node_id=None`` gives the tier-1 nodes."""
    if node_id is None:
        query = select(TaxonomyNode).where(col(TaxonomyNode.level) == 1)
    else:
        query = (
            select(TaxonomyNode)
            .join(TaxonomyEdge, col(TaxonomyEdge.child_id) == col(TaxonomyNode.id))
            .where(TaxonomyEdge.parent_id == node_id)
        )
    return list(session.exec(query.order_by(col(TaxonomyNode.sort_key))))


def search_nodes(session: Session, *, query: str, limit: int = 50) -> list[TaxonomyNode]:
    """Case-insensitive substring search over full paths, Unicode aware.

    Filtering happens in Python with ``str.casefold`` because SQL ``lower()`` depends on the
    server's collation (PostgreSQL in the C locale leaves Cyrillic alone); taxonomies are small.
    """
    needle = " ".join(query.split()).casefold()
    matches = [node for node in get_nodes(session) if needle in node.path.casefold()]
    matches.sort(
        key=lambda node: (not node.name.casefold().startswith(needle), node.level, node.sort_key)
    )
    return matches[:limit]
