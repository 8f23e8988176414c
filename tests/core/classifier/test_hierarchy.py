import numpy as np
import pytest

from core.classifier.hierarchy import Hierarchy


def test_tree_structure(tree):
    assert tree.roots == (0, 1)
    assert tree.leaves == (2, 3, 4, 5)
    assert tree.children[0] == (2, 3)
    assert tree.depth.tolist() == [0, 0, 1, 1, 1, 1]
    assert tree.is_tree
    assert tree.ancestor_matrix[2].tolist() == [True, False, True, False, False, False]


def test_dag_depth_is_longest_path_and_ancestors_cover_both_parents():
    # 0 -> 1 -> 2 and 0 -> 2: node 2 is at depth 2 (longest path), not 1
    h = Hierarchy([[], [0], [0, 1]])
    assert h.depth.tolist() == [0, 1, 2]
    assert not h.is_tree
    dag = Hierarchy([[], [0], [0], [1, 2]])
    assert np.flatnonzero(dag.ancestor_matrix[3]).tolist() == [0, 1, 2, 3]


def test_from_edges_matches_parent_lists(dag):
    assert Hierarchy.from_edges([(0, 1), (0, 2), (1, 3), (2, 3), (2, 4)], 5) == dag


@pytest.mark.parametrize(
    "parents, message",
    [
        ([[1], [2], [0]], "cycle"),
        ([[], [1]], "own parent"),
        ([[], [5]], "outside"),
    ],
)
def test_invalid_hierarchies_raise(parents, message):
    with pytest.raises(ValueError, match=message):
        Hierarchy(parents)


def test_close_upward_climbs_every_level():
    chain = Hierarchy([[], [0], [1], [2]])
    closed = chain.close_upward(
        np.array([[False, False, False, True], [False, True, False, False]])
    )
    assert closed.tolist() == [[True, True, True, True], [True, True, False, False]]


def test_close_upward_in_dag_reaches_both_parents(dag):
    closed = dag.close_upward(np.eye(5, dtype=bool)[[3]])
    assert closed[0].tolist() == [True, True, True, True, False]


def test_violations_counts_child_above_parent(tree):
    proba = np.array([[0.5, 0.2, 0.6, 0.4, 0.2, 0.1], [0.9, 0.9, 0.9, 0.9, 0.9, 0.9]])
    assert tree.violations(proba) == 1
    with pytest.raises(ValueError, match="shape"):
        tree.violations(proba[:, :3])
