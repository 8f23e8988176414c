import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.classifier import network
from core.classifier.hierarchy import Hierarchy
from core.classifier.network import (
    HierarchicalNetwork,
    MaxConstraint,
    NetworkConfig,
    max_constraint_loss,
)


def _reference_mcm(h: Hierarchy, values: torch.Tensor) -> torch.Tensor:
    """Dense definition: max over each node's descendants (incl. itself)."""
    desc = torch.tensor(h.ancestor_matrix.T.copy())  # [a, d]: d is a descendant of a
    return values.unsqueeze(1).masked_fill(~desc, float("-inf")).amax(dim=-1)


@st.composite
def dags_and_logits(draw):
    n = draw(st.integers(1, 12))
    parents = [draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set() for i in range(n)]
    perm = draw(st.permutations(range(n)))  # node order unrelated to the topology
    relabel = {old: new for new, old in enumerate(perm)}
    shuffled = [[] for _ in range(n)]
    for old, ps in enumerate(parents):
        shuffled[relabel[old]] = [relabel[p] for p in ps]
    rows = draw(st.integers(1, 4))
    logits = draw(
        st.lists(
            st.floats(-30, 30, allow_nan=False, width=32), min_size=n * rows, max_size=n * rows
        )
    )
    return Hierarchy(shuffled), torch.tensor(logits).reshape(rows, n)


@settings(max_examples=100, deadline=None)
@given(dags_and_logits())
def test_mcm_is_consistent_and_equals_max_over_descendants(case):
    h, logits = case
    proba = MaxConstraint(h)(torch.sigmoid(logits))
    assert h.violations(proba.numpy()) == 0
    torch.testing.assert_close(proba, _reference_mcm(h, torch.sigmoid(logits)), rtol=0, atol=0)


def test_mcm_on_dag_by_hand(dag):
    logits = torch.tensor([[-5.0, -4.0, -3.0, 2.0, 1.0]])
    out = MaxConstraint(dag)(logits)
    # node 3 (two parents) lifts 0, 1, 2; node 4 lifts 0 and 2 but not 1
    assert out.tolist() == [[2.0, 2.0, 2.0, 2.0, 1.0]]


def test_mcm_chunking_gives_same_result(monkeypatch, dag):
    logits = torch.randn(50, 5)
    full = MaxConstraint(dag)(logits)
    monkeypatch.setattr(network, "_MCM_MAX_ELEMENTS", 60)
    torch.testing.assert_close(MaxConstraint(dag)(logits), full)


def test_mcm_gradient_matches_dense_max():
    rng = np.random.default_rng(0)
    parents = [[]] + [sorted(set(rng.integers(0, i, size=2).tolist())) for i in range(1, 40)]
    h = Hierarchy(parents)
    x = torch.randn(6, 40, dtype=torch.float64, requires_grad=True)  # continuous: no ties
    weights = torch.randn(6, 40, dtype=torch.float64)
    (MaxConstraint(h)(x) * weights).sum().backward()
    fast = x.grad.clone()
    x.grad = None
    (_reference_mcm(h, x) * weights).sum().backward()
    torch.testing.assert_close(fast, x.grad)


def test_mcloss_scores_positives_only_through_positive_descendants():
    # chain 0 -> 1 -> 2; labels {0, 1}; node 2 is a confident wrong descendant
    h = Hierarchy([[], [0], [1]])
    logits = torch.tensor([[-1.0, 0.5, 3.0]], requires_grad=True)
    targets = torch.tensor([[True, True, False]])
    loss = max_constraint_loss(logits, targets, MaxConstraint(h))
    # positives use max over positive descendants (0.5 for both); the negative uses its own 3.0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([[0.5, 0.5, 3.0]]), targets.float(), reduction="none"
    )
    torch.testing.assert_close(loss, expected)
    loss.sum().backward()
    assert logits.grad[0, 0] == 0  # node 0 is explained by its positive child 1
    assert logits.grad[0, 1] < 0 and logits.grad[0, 2] > 0


def _transformer(dims=(3, 5, 2)) -> HierarchicalNetwork:
    torch.manual_seed(0)
    config = NetworkConfig(
        dims,
        4,
        "transformer",
        d_model=8,
        n_layers=2,
        n_heads=2,
        mlp_width=8,
        mlp_layers=1,
        dropout=0.1,
    )
    return HierarchicalNetwork(config).eval()


def test_masked_modality_values_do_not_matter():
    net = _transformer()
    tokens = [torch.randn(4, 3), torch.randn(4, 5), torch.randn(4, 2)]
    present = torch.tensor(
        [[True, False, True], [True, True, False], [False, True, True], [True, True, True]]
    )
    changed = [tokens[0].clone(), tokens[1].clone(), tokens[2].clone()]
    changed[1][0] = 1e3  # masked in row 0
    changed[2][1] = -7.0  # masked in row 1
    changed[0][2] = 42.0  # masked in row 2
    with torch.no_grad():
        torch.testing.assert_close(net(tokens, present), net(changed, present))
        # and the mask matters: unmasking row 0's second modality changes its output
        unmasked = present.clone()
        unmasked[0, 1] = True
        assert not torch.allclose(net(changed, present)[0], net(changed, unmasked)[0])


def test_mlp_trunk_needs_exactly_one_modality():
    with pytest.raises(ValueError, match="exactly one modality"):
        NetworkConfig(
            (3, 4),
            2,
            "mlp",
            d_model=8,
            n_layers=1,
            n_heads=2,
            mlp_width=8,
            mlp_layers=1,
            dropout=0.0,
        )
    with pytest.raises(ValueError, match="trunk must be one of"):
        NetworkConfig(
            (3,), 2, "cnn", d_model=8, n_layers=1, n_heads=2, mlp_width=8, mlp_layers=1, dropout=0.0
        )


def test_sparse_positive_pass_equals_masked_mcm(dag):
    """The sparse positive-only pass gives the masked dense MCM's values and gradients."""
    mcm = MaxConstraint(dag)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, dag.n_nodes, generator=gen, dtype=torch.float64)
    targets = torch.rand(6, dag.n_nodes, generator=gen) < 0.5
    targets[0] = False  # a row without any positive
    sparse_in = logits.clone().requires_grad_()
    dense_in = logits.clone().requires_grad_()
    sparse = mcm.positive_only(sparse_in, targets)
    dense = mcm(dense_in.masked_fill(~targets, float("-inf")))
    torch.testing.assert_close(sparse[targets], dense[targets])
    weights = torch.randn(6, dag.n_nodes, generator=gen, dtype=torch.float64)
    (sparse[targets] * weights[targets]).sum().backward()
    (dense[targets] * weights[targets]).sum().backward()
    torch.testing.assert_close(sparse_in.grad, dense_in.grad)
