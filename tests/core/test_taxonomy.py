"""Taxonomy loaders (IAB 3.0, tier CSV, JSON) and lookups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.taxonomy import (
    IAB_ATTRIBUTION,
    TagNode,
    Taxonomy,
    TaxonomyError,
    UnknownTagError,
    from_json_paths,
    from_paths,
    from_tier_csv,
    load_file,
    load_iab3,
    path_id,
)


@pytest.fixture(scope="module")
def iab() -> Taxonomy:
    return load_iab3()


def test_iab3_has_704_nodes_in_4_tiers(iab: Taxonomy) -> None:
    assert len(iab) == 704
    assert iab.max_level == 4
    assert iab.name == "IAB Content Taxonomy 3.0"
    assert "CC BY 3.0" in IAB_ATTRIBUTION
    soccer = iab.resolve("Sports: Soccer")
    assert (soccer.id, soccer.level, soccer.path) == ("533", 2, "Sports: Soccer")


def test_index_order_puts_parents_first(iab: Taxonomy) -> None:
    for i, parents in enumerate(iab.parents_index()):
        assert all(p < i for p in parents)
    assert sum(1 for p in iab.parents_index() if not p) == len(iab.children(None))
    # depth-first: a tier-1 node's subtree follows it directly
    sports = iab.index(iab.resolve("Sports").id)
    assert iab.nodes[sports + 1].parent_ids == (iab.nodes[sports].id,)


def test_resolve_is_tolerant_and_suggests(iab: Taxonomy) -> None:
    assert iab.resolve("  sports :   SOCCER ").id == "533"
    assert iab.resolve("Soccer").id == "533"  # unique bare name
    with pytest.raises(UnknownTagError) as info:
        iab.resolve("Sport: Socer")
    assert "Sports: Soccer" in info.value.suggestions
    assert "did you mean" in str(info.value)
    assert iab.find("no such thing") is None


def test_ancestors_children_leaves(iab: Taxonomy) -> None:
    node = next(n for n in iab.nodes if n.level == 4)
    chain = iab.ancestors(node.id)
    assert [a.level for a in chain] == [1, 2, 3]
    assert node.path.startswith(chain[-1].path + ": ")
    assert node in iab.children(node.parent_ids[0])
    assert all(not iab.children(leaf.id) for leaf in iab.leaves())
    with pytest.raises(UnknownTagError):
        iab.node("nope")


def test_tier_csv_with_cyrillic_blanks_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "tax.csv"
    path.write_text(
        "Уровень 1,Level 2,Level 3\n"
        "Спорт,Футбол,Премьер-лига\n"
        "Спорт,Футбол,\n"
        "спорт , футбол ,Премьер-лига\n"  # same path, other case/spacing: merged
        "Спорт,,Orphan after blank\n"
        "Новости,,\n"
        ",,\n",
        encoding="utf-8",
    )
    tax = from_tier_csv(path)
    assert [n.path for n in tax.nodes] == [
        "Спорт",
        "Спорт: Футбол",
        "Спорт: Футбол: Премьер-лига",
        "Новости",
    ]
    assert tax.resolve("СПОРТ: футбол").level == 2
    assert tax.resolve("Спорт: Футбол").id == path_id(["Спорт", "Футбол"])


def test_json_paths_strings_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "tax.json"
    path.write_text(json.dumps(["Arts: Music: Jazz", ["Arts", "Film"], "News"]), encoding="utf-8")
    tax = from_json_paths(path)
    assert [n.path for n in tax.nodes] == [
        "Arts",
        "Arts: Music",
        "Arts: Music: Jazz",
        "Arts: Film",
        "News",
    ]
    assert load_file(path).ids == tax.ids


def test_json_objects_with_parent_ids_form_a_dag(tmp_path: Path) -> None:
    path = tmp_path / "dag.json"
    path.write_text(
        json.dumps(
            {
                "nodes": [
                    {"id": "10", "name": "Health"},
                    {"id": "20", "name": "Food"},
                    {"id": "30", "name": "Nutrition", "parent_ids": ["10", "20"]},
                    {"id": "40", "name": "Diets", "parent_id": "30"},
                ]
            }
        ),
        encoding="utf-8",
    )
    tax = from_json_paths(path)
    nutrition = tax.node("30")
    assert nutrition.parent_ids == ("10", "20") and nutrition.path == "Health: Nutrition"
    assert [a.id for a in tax.ancestors("40")] == ["10", "20", "30"]
    assert tax.parents_index()[tax.index("30")] == [tax.index("10"), tax.index("20")]
    assert tax.index("30") > tax.index("20")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "1", "name": "A", "parent_id": "9"}]', "unknown parent"),
        (
            (
                '[{"id": "1", "name": "A", "parent_id": "2"}, '
                '{"id": "2", "name": "B", "parent_id": "1"}]'
            ),
            "cycle",
        ),
        ('[{"id": "1", "name": "A:B"}]', "path separator"),
        ("{not json", "cannot read"),
        ("[]", "non-empty"),
        ("[42]", "item 1"),
    ],
)
def test_bad_json_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message):
        from_json_paths(path)


def test_bad_csv_and_format(tmp_path: Path) -> None:
    path = tmp_path / "only_header.csv"
    path.write_text("Level 1,Level 2\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="header"):
        from_tier_csv(path)
    with pytest.raises(TaxonomyError, match="unknown taxonomy format"):
        load_file(path, fmt="xml")


def test_taxonomy_checks_structure() -> None:
    with pytest.raises(TaxonomyError, match="duplicate tag id"):
        Taxonomy(nodes=(TagNode("a", "A", (), "A", 1), TagNode("a", "B", (), "B", 1)))
    with pytest.raises(TaxonomyError, match="before"):
        Taxonomy(nodes=(TagNode("b", "B", ("a",), "A: B", 2), TagNode("a", "A", (), "A", 1)))
    assert from_paths([["A", "B"]]).edges() == [(path_id(["A"]), path_id(["A", "B"]))]
