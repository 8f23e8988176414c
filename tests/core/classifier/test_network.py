import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.classifier.hierarchy import Hierarchy
from core.classifier.network import (
    HierarchicalNetwork,
    MaxConstraint,
    NetworkConfig,
    _Dropout,
    max_constraint_loss,
    max_constraint_loss_gradient,
    unpack_keys,
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


@settings(max_examples=100, deadline=None)
@given(dags_and_logits())
def test_trainable_mcm_packs_values_and_their_source_exactly(case):
    """Negative, zero and positive logits come back bit for bit, with a descendant holding them."""
    h, logits = case
    logits = torch.cat([logits, -logits, torch.zeros(1, h.n_nodes)])
    out, source = unpack_keys(MaxConstraint(h).propagate_keys(logits.t().contiguous()))
    out, source = out.t(), source.t()
    assert torch.equal(out, _reference_mcm(h, logits))
    descendants = torch.tensor(h.ancestor_matrix.T.copy())  # [a, d]
    assert descendants[torch.arange(h.n_nodes), source].all()
    assert torch.equal(logits.gather(1, source), out)


def _reference_mcloss(h: Hierarchy, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """MCLoss from dense definitions, differentiated by autograd."""
    positives_only = _reference_mcm(h, logits.masked_fill(~targets, float("-inf")))
    train_logits = torch.where(targets, positives_only, _reference_mcm(h, logits))
    return torch.nn.functional.binary_cross_entropy_with_logits(
        train_logits, targets.float(), reduction="none"
    )


@settings(max_examples=100, deadline=None)
@given(dags_and_logits(), st.randoms(use_true_random=False))
def test_mcloss_values_and_gradients_match_dense_definition(case, random):
    h, logits = case
    logits = logits + torch.randn(logits.shape, generator=torch.Generator().manual_seed(0)) * 1e-3
    targets = h.close_upward(np.array([[random.random() < 0.3 for _ in row] for row in logits]))
    targets = torch.as_tensor(targets)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    ours = logits.clone().requires_grad_()
    reference = logits.clone().requires_grad_()
    loss = max_constraint_loss(ours, targets, MaxConstraint(h))
    expected = _reference_mcloss(h, reference, targets)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    (loss * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(ours.grad, reference.grad)


@settings(max_examples=100, deadline=None)
@given(dags_and_logits(), st.randoms(use_true_random=False))
def test_the_loss_gradient_without_autograd_is_its_backward_pass_bit_for_bit(case, random):
    """The gradient embeddings' shortcut (issue 17) changes no number of the training path."""
    h, logits = case
    targets = torch.tensor(
        [[random.random() < 0.5 for _ in range(h.n_nodes)] for _ in range(len(logits))]
    )
    leaf = logits.clone().requires_grad_(True)
    max_constraint_loss(leaf, targets, MaxConstraint(h)).sum().backward()
    assert torch.equal(max_constraint_loss_gradient(logits, targets, MaxConstraint(h)), leaf.grad)


def test_mcloss_bce_is_stable_at_extreme_logits():
    h = Hierarchy([[], [], [], []])
    logits = torch.tensor([[-200.0, 200.0, -200.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[False, True, True, True]])
    loss = max_constraint_loss(logits, targets, MaxConstraint(h))
    torch.testing.assert_close(loss, torch.tensor([[0.0, 0.0, 200.0, float(np.log(2))]]))
    loss.sum().backward()
    torch.testing.assert_close(logits.grad, torch.tensor([[0.0, 0.0, -1.0, -0.5]]))


def test_tied_maxima_pass_the_gradient_to_one_descendant(dag):
    logits = torch.zeros(3, dag.n_nodes, requires_grad=True)  # every value ties
    targets = torch.zeros(3, dag.n_nodes, dtype=torch.bool)
    max_constraint_loss(logits, targets, MaxConstraint(dag)).sum().backward()
    # each entry's gradient sigmoid(0) - 0 = 0.5 arrives once: nothing counted twice or lost
    assert logits.grad.sum(dim=1).tolist() == [0.5 * dag.n_nodes] * 3


def test_mcm_refuses_what_it_cannot_do(dag):
    mcm = MaxConstraint(dag)
    with pytest.raises(RuntimeError, match="max_constraint_loss"):
        mcm(torch.zeros(2, dag.n_nodes, requires_grad=True))
    with pytest.raises(TypeError, match="float32"):
        mcm.propagate_keys(torch.zeros(dag.n_nodes, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="differ"):
        max_constraint_loss(torch.zeros(2, dag.n_nodes), torch.zeros(2, 1, dtype=bool), mcm)


def test_mcm_on_dag_by_hand(dag):
    logits = torch.tensor([[-5.0, -4.0, -3.0, 2.0, 1.0]])
    out = MaxConstraint(dag)(logits)
    # node 3 (two parents) lifts 0, 1, 2; node 4 lifts 0 and 2 but not 1
    assert out.tolist() == [[2.0, 2.0, 2.0, 2.0, 1.0]]


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


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.6, 0.7])
def test_dropout_is_torchs_bit_for_bit(threads, p):
    """Same mask, output, gradient and random stream after it as ``nn.Dropout`` (on CPU its
    mask is drawn by a different kernel: a torch upgrade that changes either one fails here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for shape, dtype in [
            ((64, 1000), torch.float32),
            ((7, 3, 5), torch.float32),
            ((33, 250), torch.float64),
            ((300, 700), torch.float32),
        ]:
            x = torch.randn(shape, dtype=dtype)
            grad = torch.randn(shape, dtype=dtype)
            results = []
            for module in (torch.nn.Dropout(p), _Dropout(p)):
                inputs = x.clone().requires_grad_()
                torch.manual_seed(11)
                out = module(inputs)
                out.backward(grad)
                results.append((out, inputs.grad, torch.rand(4)))
            (out, x_grad, after), (ours, our_grad, our_after) = results
            assert (out == 0).any() and (out != 0).any()
            assert torch.equal(ours, out) and ours.dtype == out.dtype
            assert torch.equal(our_grad, x_grad)
            assert torch.equal(our_after, after)  # the generator advanced alike
    finally:
        torch.set_num_threads(before)


def test_dropout_is_the_identity_in_eval_mode_and_zeroes_everything_at_p_1():
    x = torch.randn(8, 16)
    assert torch.equal(_Dropout(0.6).eval()(x), x)
    assert torch.equal(_Dropout(1.0)(x), torch.zeros_like(x))


@pytest.mark.parametrize("trunk", ["mlp", "transformer"])
def test_the_networks_own_dropout_layers_are_the_faster_one(trunk):
    dims = (6,) if trunk == "mlp" else (6, 4)
    config = NetworkConfig(
        dims, 5, trunk, d_model=8, n_layers=1, n_heads=2, mlp_width=8, mlp_layers=2, dropout=0.6
    )
    own = [m for m in HierarchicalNetwork(config).modules() if isinstance(m, torch.nn.Dropout)]
    # the transformer's encoder layers keep torch's (inside nn.TransformerEncoderLayer)
    ours = [m for m in own if isinstance(m, _Dropout)]
    assert len(ours) == (2 if trunk == "mlp" else 1)
    if trunk == "mlp":
        assert ours == own
