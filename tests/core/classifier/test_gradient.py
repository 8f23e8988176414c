"""Gradient embeddings: the low-rank factors are the output layer's true loss gradient."""

import numpy as np
import pytest
import torch

from core.classifier.estimator import HierarchicalClassifier
from core.classifier.gradient import GradientEmbedding, _logit_gradient, gradient_embedding
from core.classifier.hierarchy import Hierarchy
from core.classifier.inputs import prepare_inputs
from core.classifier.network import MaxConstraint, max_constraint_loss


def test_logit_gradient_by_hand():
    # parent 0, child 1; the child's logit (2) is the max, so the parent's constrained
    # probability sigmoid(2) comes from the child and so does its gradient
    mcm = MaxConstraint(Hierarchy([[], [0]]))
    logits = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    targets = torch.tensor([[False, False], [True, False]])
    s2 = 1 / (1 + np.exp(-2.0))
    # row 1: parent at 0.5 with target 1 -> -0.5; child at 0.5 with target 0 -> +0.5
    np.testing.assert_allclose(
        _logit_gradient(logits, targets, mcm), [[0.0, 2 * s2], [-0.5, 0.5]], rtol=1e-6
    )


def test_certain_decisions_give_a_zero_gradient():
    mcm = MaxConstraint(Hierarchy([[], [0]]))
    logits = torch.tensor([[40.0, -40.0]])  # parent surely in, child surely out
    residual = _logit_gradient(logits, torch.tensor([[True, False]]), mcm)
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)
    embedding = GradientEmbedding(residual[None], np.ones((1, 1, 3), dtype=np.float32))
    assert embedding.squared_norms()[0] == pytest.approx(0.0, abs=1e-20)


def test_low_rank_inner_products_equal_the_explicit_outer_products():
    rng = np.random.default_rng(0)
    residuals = rng.normal(size=(2, 5, 3)).astype(np.float32)  # 2 members, 5 rows, 3 nodes
    hidden = rng.normal(size=(2, 5, 4)).astype(np.float32)
    embedding = GradientEmbedding(residuals, hidden)
    # the full gradient: each member's (nodes x width) outer product, members side by side
    full = np.concatenate(
        [np.einsum("nr,nh->nrh", residuals[m], hidden[m]).reshape(5, -1) for m in range(2)],
        axis=1,
    ).astype(np.float64)
    np.testing.assert_allclose(embedding.squared_norms(), (full**2).sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(embedding.inner_products(3), full @ full[3], rtol=1e-5)


def test_mismatched_factors_are_refused():
    with pytest.raises(ValueError, match="gradient factors"):
        GradientEmbedding(np.zeros((1, 4, 2)), np.zeros((1, 3, 5)))


@pytest.mark.parametrize("multimodal", [False, True])
def test_embedding_is_the_output_layer_gradient_under_the_models_decisions(
    synthetic, fast_params, multimodal
):
    X = synthetic.X
    if multimodal:  # the transformer trunk: the hidden layer sits inside its head
        X = {"text": synthetic.X[:, :5], "frames": synthetic.X[:, 5:]}
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 3}).fit(
        X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    rows = {m: x[:6] for m, x in X.items()} if multimodal else X[:6]
    embedding = clf.predict_gradient_embedding(rows)
    width = clf.network_[0].output_layer.in_features
    assert embedding.residuals.shape == (2, 6, synthetic.hierarchy.n_nodes)
    assert embedding.hidden.shape == (2, 6, width)

    data = prepare_inputs(rows, names=clf.modalities_, dims=tuple(clf.input_dims_.values()))
    decisions = torch.as_tensor(clf.predict(rows))
    mcm = MaxConstraint(synthetic.hierarchy)
    for m, net in enumerate(clf.network_):
        net.eval()
        for i in range(6):
            net.zero_grad()
            logits = net([t[i : i + 1] for t in data.tokens], data.present[i : i + 1])
            max_constraint_loss(logits, decisions[i : i + 1], mcm).sum().backward()
            expected = net.output_layer.weight.grad.numpy()
            outer = np.outer(embedding.residuals[m, i], embedding.hidden[m, i])
            np.testing.assert_allclose(outer, expected, rtol=1e-4, atol=1e-6)


def test_the_residuals_are_the_autograd_gradient_bit_for_bit_in_any_batch_size(
    synthetic, fast_params
):
    """Issue 17 cut the loss value, autograd and the joined parts out of the gradient pass: the
    factors stay those of ``max_constraint_loss``'s backward pass exactly, written batch by batch
    into place, so the queue's ranks on a seed are unchanged."""
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 3}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    rows = synthetic.X[:40]
    embedding = clf.predict_gradient_embedding(rows)
    data = prepare_inputs(rows, names=clf.modalities_, dims=tuple(clf.input_dims_.values()))
    decisions = torch.as_tensor(clf.predict(rows))
    mcm = MaxConstraint(synthetic.hierarchy)
    for m, net in enumerate(clf.network_):
        net.eval()
        with torch.no_grad():
            logits = net(data.tokens, data.present)
        leaf = logits.clone().requires_grad_(True)
        max_constraint_loss(leaf, decisions, mcm).sum().backward()
        np.testing.assert_array_equal(embedding.residuals[m], leaf.grad.numpy())

    networks = list(clf.network_)
    common = {"mcm": mcm, "thresholds": clf.thresholds_, "device": "cpu", "dim": 3}
    whole = gradient_embedding(networks, data, batch_size=1024, **common)
    batched = gradient_embedding(networks, data, batch_size=7, **common)
    np.testing.assert_allclose(batched.residuals, whole.residuals, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(batched.hidden, whole.hidden, rtol=1e-5, atol=1e-7)


def test_projection_keeps_inner_products_and_is_seeded(synthetic, fast_params):
    clf = HierarchicalClassifier(**{**fast_params, "mlp_width": 400, "max_epochs": 3}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    exact = clf.predict_gradient_embedding(synthetic.X[:30])
    projected = clf.predict_gradient_embedding(synthetic.X[:30], dim=200)
    assert projected.hidden.shape == (2, 30, 200)
    assert projected.residuals.shape == exact.residuals.shape  # 6 nodes: nothing to shrink
    h_exact = np.einsum("mnd,mkd->mnk", exact.hidden, exact.hidden)
    h_projected = np.einsum("mnd,mkd->mnk", projected.hidden, projected.hidden)
    # Johnson-Lindenstrauss: error of order sqrt(2 / dim) of the norms' product
    scale = np.sqrt(np.einsum("mnn->mn", h_exact))
    error = np.abs(h_projected - h_exact) / (scale[:, :, None] * scale[:, None, :])
    assert error.max() < 0.4 and error.mean() < 0.1
    again = clf.predict_gradient_embedding(synthetic.X[:30], dim=200)
    np.testing.assert_array_equal(again.hidden, projected.hidden)
    with pytest.raises(ValueError, match="positive integer"):
        clf.predict_gradient_embedding(synthetic.X[:3], dim=0)
