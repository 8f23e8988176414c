"""Agreement figures against small cases computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.agreement import Answer, agreement, alpha

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)  # a Monday (ISO week 49)


def _answer(video: int, user: str, tags: set[str], days: int = 0) -> Answer:
    return Answer(video, user, frozenset(tags), T0 + timedelta(days=days))


def test_alpha_hand_computed() -> None:
    # units (rater a, rater b): (1,1) (0,0) (1,0) and (-,1), which has no pair and is dropped.
    # Coincidences: o11 = 2, o00 = 2, o01 = o10 = 1; n = 6, n0 = n1 = 3.
    # D_o = 2/6, D_e = 2 * 3 * 3 / (6 * 5) = 0.6, alpha = 1 - (1/3) / 0.6 = 4/9.
    columns = [[1, 1], [0, 0], [1, 0], [np.nan, 1]]
    assert alpha(columns) == pytest.approx(4 / 9)


def test_alpha_is_undefined_without_variation_or_pairs() -> None:
    assert alpha([]) is None
    assert alpha([[1, 1], [1, 1]]) is None  # everyone chose it: no evidence of reliability
    assert alpha([[1, np.nan], [np.nan, 0]]) is None  # nobody paired


def _tier(tag: str) -> int:
    return tag.count(":") + 1


def test_per_tier_per_tag_and_moderators_hand_computed() -> None:
    answers = [
        # video 1: both chose Sports and Sports: Soccer
        _answer(1, "ann", {"Sports", "Sports: Soccer"}),
        _answer(1, "bob", {"Sports", "Sports: Soccer"}),
        # video 2: both chose Sports, only ann Sports: Tennis
        _answer(2, "ann", {"Sports", "Sports: Tennis"}),
        _answer(2, "bob", {"Sports"}),
        # video 3: ann Food, bob Sports
        _answer(3, "ann", {"Food"}),
        _answer(3, "bob", {"Sports"}),
        # video 4: one answer only: not an overlap comparison yet
        _answer(4, "ann", {"Food"}),
    ]
    report = agreement(answers, tier_of=_tier)
    # tier 1 units (ann, bob): v1 Sports (1,1), v2 Sports (1,1), v3 Food (1,0), v3 Sports (0,1)
    # o11 = 4, o01 = o10 = 2, n = 8, n1 = 6, n0 = 2: D_o = 4/8, D_e = 2*6*2/(8*7) = 3/7
    # alpha = 1 - (1/2) / (3/7) = -1/6 (worse than chance: they split on video 3)
    tier1 = next(s for s in report.per_tier if s.name == "tier 1")
    assert tier1.alpha == pytest.approx(-1 / 6)
    assert (tier1.units, tier1.videos) == (4, 3)
    # tier 2 units: v1 Soccer (1,1), v2 Tennis (1,0): o11 = 2, o10 = o01 = 1, n = 4, n1 = 3
    # D_o = 2/4, D_e = 2*3*1/(4*3) = 1/2, alpha = 0
    tier2 = next(s for s in report.per_tier if s.name == "tier 2")
    assert tier2.alpha == pytest.approx(0.0)
    by_tag = {s.name: s for s in report.per_tag}
    assert by_tag["Sports: Soccer"].alpha is None  # one unit, both chose it
    # Food: one unit (1, 0): D_o = 2/2, D_e = 2*1*1/(2*1) = 1, alpha = 0
    assert by_tag["Food"].alpha == pytest.approx(0.0)
    assert (by_tag["Food"].units, by_tag["Food"].videos) == (1, 1)
    assert report.per_tag[-1].alpha is None  # undefined ones come last
    ann = next(m for m in report.per_moderator if m.user == "ann")
    assert ann.videos == 3
    assert ann.identical == pytest.approx(1 / 3)  # only video 1 matched exactly
    # ann vs bob over the 6 pooled units: ann 1,1,1,1,1,0  bob 1,1,1,0,0,1
    # p_o = 3/6, p_e = (5/6)(4/6) + (1/6)(2/6) = 22/36, kappa = (1/2 - 22/36) / (1 - 22/36)
    assert ann.kappa == pytest.approx((0.5 - 22 / 36) / (1 - 22 / 36))


def test_latest_answer_counts_and_weeks_split() -> None:
    answers = [
        _answer(1, "ann", {"Food"}),
        _answer(1, "ann", {"Sports"}, days=1),  # ann changed her mind before adjudication
        _answer(1, "bob", {"Sports"}),
        _answer(2, "ann", {"Food"}, days=7),
        _answer(2, "bob", {"Sports"}, days=7),
    ]
    report = agreement(answers, tier_of=_tier)
    assert [w.name for w in report.per_week] == ["2026-W49", "2026-W50"]
    assert report.per_week[0].units == 1  # video 1: Sports (1, 1)
    assert report.per_week[1].videos == 1
    ann = next(m for m in report.per_moderator if m.user == "ann")
    assert ann.identical == pytest.approx(1 / 2)
    # week by week: ann and bob agree on video 1 (one unit, both 1: kappa undefined) and split on
    # video 2 (units Food (1, 0), Sports (0, 1): p_o = 0, p_e = 1/2, kappa = -1)
    weeks = report.per_moderator_week
    assert list(weeks) == ["2026-W49", "2026-W50"]
    (w49_ann, _), (w50_ann, _) = weeks["2026-W49"], weeks["2026-W50"]
    assert (w49_ann.user, w49_ann.kappa, w49_ann.identical, w49_ann.videos) == ("ann", None, 1, 1)
    assert (w50_ann.user, w50_ann.kappa, w50_ann.identical) == ("ann", pytest.approx(-1.0), 0)


def test_cohen_kappa_hand_computed_and_undefined_cases() -> None:
    from core.agreement import cohen_kappa

    # 4 units: agree on 3; a says yes 3/4, b says yes 2/4: p_e = 3/8 + 1/8 = 1/2
    assert cohen_kappa([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx((0.75 - 0.5) / 0.5)
    assert cohen_kappa([], []) is None
    assert cohen_kappa([1, 1], [1, 1]) is None
