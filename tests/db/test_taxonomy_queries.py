"""Taxonomy storage: replace/upsert, tree reads, Unicode search, protection of used tags."""

from __future__ import annotations

import pytest

from core import priority_rules
from core.taxonomy import from_paths, load_from_db, load_iab3, save_to_db
from db.engine import Database
from db.queries import TaxonomyInUseError, labels, taxonomy, videos
from db.tables import ReviewPriority


def test_round_trip_and_reimport_is_stable(database: Database) -> None:
    tree = from_paths([["Спорт", "Футбол"], ["Sports", "Soccer"], ["Sports", "Golf"]])
    with database.session() as session:
        assert save_to_db(session, tree) == 5
        assert save_to_db(session, tree) == 5
    with database.session() as session:
        loaded = load_from_db(session)
        assert taxonomy.count_nodes(session) == 5
        assert [n.path for n in taxonomy.get_children(session, node_id=None)] == ["Спорт", "Sports"]
        sports = tree.resolve("Sports").id
        assert [n.name for n in taxonomy.get_children(session, node_id=sports)] == [
            "Soccer",
            "Golf",
        ]
        assert taxonomy.get_node(session, node_id=sports).level == 1
    assert loaded.nodes == tree.nodes


def test_search_is_case_insensitive_and_unicode(database: Database) -> None:
    tree = from_paths([["Спорт", "Футбол"], ["Sports", "Soccer"], ["News"]])
    with database.session() as session:
        save_to_db(session, tree)
    with database.session() as session:
        assert [n.path for n in taxonomy.search_nodes(session, query="ФУТ")] == ["Спорт: Футбол"]
        assert [n.path for n in taxonomy.search_nodes(session, query="sports:  SOC")] == [
            "Sports: Soccer"
        ]
        assert [n.path for n in taxonomy.search_nodes(session, query="o", limit=2)] == [
            "Sports",
            "Sports: Soccer",
        ]


def test_removing_a_used_tag_is_refused(database: Database) -> None:
    tree = from_paths([["Sports", "Soccer"], ["News"]])
    with database.session() as session:
        save_to_db(session, tree)
        vid = videos.create_video(session).id
        labels.import_labels(session, labels=[(vid, tree.resolve("News").id)])
    with pytest.raises(TaxonomyInUseError), database.session() as session:
        save_to_db(session, from_paths([["Sports", "Soccer"]]))
    with database.session() as session:
        assert taxonomy.count_nodes(session) == 3
        save_to_db(session, from_paths([["News"], ["Arts"]]))  # drops unused Sports subtree
    with database.session() as session:
        assert sorted(n.path for n in taxonomy.get_nodes(session)) == ["Arts", "News"]


def test_removing_a_tag_a_priority_rule_names_is_refused(database: Database) -> None:
    tree = from_paths([["Sports", "Soccer"], ["News"]])
    with database.session() as session:
        save_to_db(session, tree)
        rule = priority_rules.add_rule(
            session, tag="News", min_probability=0.5, level=ReviewPriority.HIGH, user=None
        ).rule
    with (
        pytest.raises(TaxonomyInUseError, match="have priority rules.*remove the rules first"),
        database.session() as session,
    ):
        save_to_db(session, from_paths([["Sports", "Soccer"]]))
    with database.session() as session:
        priority_rules.remove_rule(session, rule_id=rule.id, user=None)
        save_to_db(session, from_paths([["Sports", "Soccer"]]))
    with database.session() as session:
        assert taxonomy.count_nodes(session) == 2


def test_iab_taxonomy_is_stored_with_edges(database: Database) -> None:
    iab = load_iab3()
    with database.session() as session:
        save_to_db(session, iab)
    with database.session() as session:
        assert taxonomy.count_nodes(session) == 704
        assert len(taxonomy.get_edges(session)) == 704 - len(iab.children(None))
        assert load_from_db(session).parents_index() == iab.parents_index()
