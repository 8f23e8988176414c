"""The review page's tag tree and suggestions on a DAG taxonomy: a tag with two parents is shown
under both and makes both ancestors "covered" (a path prefix names only the first parent)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.taxonomy import TagNode, Taxonomy
from dashboard.cache import TaxonomyView
from dashboard.components import ScoredTag, tag_tree_lines
from dashboard.review_data import Start, answer, suggestions

# Sports > Soccer; Ball games > Soccer (second parent); Soccer > Penalties; Music
NODES = (
    TagNode("s", "Sports", (), "Sports", 1),
    TagNode("b", "Ball games", (), "Ball games", 1),
    TagNode("soc", "Soccer", ("s", "b"), "Sports: Soccer", 2),
    TagNode("pen", "Penalties", ("soc",), "Sports: Soccer: Penalties", 3),
    TagNode("m", "Music", (), "Music", 1),
)
DAG = Taxonomy(NODES)
VIEW = TaxonomyView(DAG, {n.id: n.path for n in NODES}, [n.id for n in NODES])
SCORES = {"s": 0.9, "b": 0.8, "soc": 0.7, "pen": 0.3, "m": 0.6}
PREDICTED = {"s", "b", "soc", "m"}


def _tags() -> list[ScoredTag]:
    return [
        ScoredTag(n.id, n.path, n.name, n.level, SCORES[n.id], n.id in PREDICTED) for n in NODES
    ]


def test_a_tag_with_two_parents_is_shown_under_both() -> None:
    tags = _tags()
    assert tag_tree_lines("s", tags, DAG) == ["✓ Soccer  0.70", "    · Penalties  0.30"]
    assert tag_tree_lines("b", tags, DAG) == ["✓ Soccer  0.70", "    · Penalties  0.30"]
    assert tag_tree_lines("m", tags, DAG) == []
    assert tag_tree_lines("s", tags, DAG, min_probability=0.5) == ["✓ Soccer  0.70"]


def test_suggestions_skip_every_ancestor_of_a_predicted_tag() -> None:
    assert [t.node_id for t in suggestions(_tags(), VIEW)] == ["soc", "m"]


def test_a_no_removes_the_narrower_tags_too() -> None:
    start = Start(video_id=1, version=0, labels=("pen", "m"))
    assert answer(start, node_id="soc", accept=False, tax=VIEW) == ["m"]
    assert answer(start, node_id="b", accept=False, tax=VIEW) == ["m"]  # through the 2nd parent
    assert answer(start, node_id="s", accept=True, tax=VIEW) == ["m", "pen", "s"]


def _render() -> None:
    from tests.dashboard.test_tag_tree import _tags, DAG  # noqa: I001 - runs inside AppTest
    from dashboard.components import render_tag_tree

    render_tag_tree(_tags(), DAG)


def test_the_rendered_tree_has_one_expander_per_root_with_the_shared_child_in_each() -> None:
    at = AppTest.from_function(_render).run()
    assert not at.exception, at.exception
    labels = [e.label.replace("\\", "") for e in at.expander]
    assert [label.split(" ", 1)[1] for label in labels] == [
        "Sports · 0.90",
        "Ball games · 0.80",
        "Music · 0.60",
    ]
    texts = [t.value for t in at.text]
    assert texts.count("✓ Soccer  0.70\n    · Penalties  0.30") == 2
