"""The ranking benchmark on a tiny pool: it ranks every pool video, by BADGE or, with fewer
reviewed videos than its cold-start setting asks for, by coverage, and times each phase."""

from __future__ import annotations

import sys

import pytest

from scripts.bench import review_rank

SMALL = ["--videos", "60", "--picks", "5", "--members", "1", "--width", "8", "--nodes", "6"]


@pytest.mark.parametrize(
    ("cold_start", "order", "phases"),
    [
        ("0", "BADGE", ["order (k-means++ + length)"]),
        (
            "3",
            "coverage",
            [
                "order (coverage: embeddings read + k-means + picks + length)",
                "of it, joint embeddings read",
            ],
        ),
    ],
)
def test_the_benchmark_ranks_the_pool_in_the_order_its_labels_call_for(
    monkeypatch, capsys, cold_start: str, order: str, phases: list[str]
) -> None:
    monkeypatch.setattr(review_rank, "FIT_ROWS", 50)
    for name in ("pool_gradients", "badge_order", "_coverage_order"):  # the bench wraps them
        monkeypatch.setattr(review_rank.review_order, name, getattr(review_rank.review_order, name))
    monkeypatch.setattr(review_rank.coverage, "joint_points", review_rank.coverage.joint_points)
    monkeypatch.setattr(
        review_rank.videos_q, "set_review_ranks", review_rank.videos_q.set_review_ranks
    )
    argv = ["review_rank", *SMALL, "--dim", "8", "--labelled", "10"]
    monkeypatch.setattr(sys, "argv", [*argv, "--cold-start-labels-per-tag", cold_start])

    review_rank.main()

    printed = capsys.readouterr().out
    assert f"rank_review_pool: 60 videos ranked (5 {order} picks" in printed
    for phase in ["gradients (read + embed)", *phases, "write ranks"]:
        assert f"  {phase}: " in printed
