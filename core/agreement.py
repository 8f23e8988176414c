"""How much moderators agree when the same video is reviewed by several of them (overlap).

Each answer is one moderator's set of tags for one video. Multi-label answers are compared tag
by tag: a *unit* is a (video, tag) pair that at least one moderator chose, and each moderator
who answered the video gives it the value 1 (chose the tag) or 0 (did not). Pairs nobody chose
are left out, or thousands of shared "no" would make every team look unanimous.

- per tag and per tier: Krippendorff's alpha (nominal, the ``krippendorff`` package) over the
  units of that tag, or of every tag on that tier (tags counted with their ancestors, so a
  moderator who chose "Sports: Soccer" also chose "Sports");
- per moderator: Cohen's kappa (computed here: two yes/no raters) with each peer over the units
  both judged, averaged, and the share of their answers identical to every peer's;
- over time: alpha over all units of the videos whose last answer fell in each ISO week, and
  each moderator's kappa and identical share over those videos (a moderator drifting away from
  the team shows week by week, not only in the mean).

Alpha is undefined (``None``) when the units hold fewer than two distinct values or fewer than
two paired answers: perfect agreement on a single tag everybody chose is not evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import krippendorff
import numpy as np

from core.taxonomy import load_from_db
from db.engine import Database
from db.queries import quality as quality_q


@dataclass(frozen=True)
class Answer:
    """One moderator's tags for one overlap video (tags closed under ancestors by the caller)."""

    video_id: int
    user: str
    node_ids: frozenset[str]
    answered_at: datetime


@dataclass(frozen=True)
class Score:
    """An agreement figure and how much evidence stands behind it."""

    name: str
    alpha: float | None  # None: undefined on these units
    units: int  # (video, tag) pairs judged by at least two moderators
    videos: int


@dataclass(frozen=True)
class ModeratorScore:
    user: str
    kappa: float | None  # mean Cohen's kappa with peers (None: undefined)
    identical: float  # share of this moderator's videos answered exactly like every peer
    videos: int


@dataclass(frozen=True)
class AgreementReport:
    overall: Score
    per_tier: list[Score]
    per_tag: list[Score]  # most-disputed first (lowest alpha), undefined last
    per_moderator: list[ModeratorScore]
    per_week: list[Score]  # name "2026-W48"
    per_moderator_week: dict[str, list[ModeratorScore]]  # week -> the moderators of that week


def _by_video(answers: Iterable[Answer]) -> dict[int, dict[str, frozenset[str]]]:
    """Videos with at least two moderators' answers; a moderator's latest answer counts."""
    latest: dict[tuple[int, str], Answer] = {}
    for a in sorted(answers, key=lambda a: a.answered_at):
        latest[(a.video_id, a.user)] = a
    videos: dict[int, dict[str, frozenset[str]]] = {}
    for (video_id, user), a in latest.items():
        videos.setdefault(video_id, {})[user] = a.node_ids
    return {v: users for v, users in videos.items() if len(users) >= 2}


def _units(
    videos: dict[int, dict[str, frozenset[str]]], keep: Callable[[str], bool]
) -> tuple[list[list[float]], int]:
    """(one column per unit: 1/0 per answering moderator, NaN for the others; videos with a
    unit)."""
    raters = sorted({u for users in videos.values() for u in users})
    columns, n_videos = [], 0
    for users in videos.values():
        tags = [tag for tag in sorted(set().union(*users.values())) if keep(tag)]
        n_videos += bool(tags)
        for tag in tags:
            columns.append([float(tag in users[r]) if r in users else np.nan for r in raters])
    return columns, n_videos


def alpha(columns: Sequence[Sequence[float]]) -> float | None:
    """Krippendorff's nominal alpha of (unit x rater) 0/1/NaN values; None when undefined."""
    if not columns:
        return None
    data = np.array(columns, dtype=np.float64).T  # raters x units
    paired = (~np.isnan(data)).sum(axis=0) >= 2
    values = data[:, paired]
    if paired.sum() == 0 or len(np.unique(values[~np.isnan(values)])) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement="nominal"))


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no decisions on the same units; None when undefined
    (no units, or chance agreement is certain because both always said the same one thing)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.size == 0:
        return None
    observed = float(np.mean(x == y))
    chance = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def _score(name: str, videos: dict[int, dict[str, frozenset[str]]], keep) -> Score:
    columns, n_videos = _units(videos, keep)
    return Score(name, alpha(columns), len(columns), n_videos)


def _moderators(videos: dict[int, dict[str, frozenset[str]]]) -> list[ModeratorScore]:
    users = sorted({u for answers in videos.values() for u in answers})
    result = []
    for user in users:
        kappas, identical, seen = [], 0, 0
        for peer in users:
            if peer == user:
                continue
            mine, theirs = [], []
            for answers in videos.values():
                if user in answers and peer in answers:
                    for tag in sorted(answers[user] | answers[peer]):
                        mine.append(tag in answers[user])
                        theirs.append(tag in answers[peer])
            kappa = cohen_kappa(mine, theirs)
            if kappa is not None:
                kappas.append(kappa)
        for answers in videos.values():
            if user in answers:
                seen += 1
                identical += all(a == answers[user] for a in answers.values())
        result.append(
            ModeratorScore(user, float(np.mean(kappas)) if kappas else None, identical / seen, seen)
        )
    return result


def agreement(answers: Iterable[Answer], *, tier_of: Callable[[str], int]) -> AgreementReport:
    """Every agreement figure over the overlap answers; ``tier_of`` maps a tag to its level."""
    answers = list(answers)
    videos = _by_video(answers)
    tags = sorted({t for users in videos.values() for a in users.values() for t in a})
    tiers = sorted({tier_of(t) for t in tags})
    per_tag = [_score(t, videos, lambda x, t=t: x == t) for t in tags]
    per_tag.sort(key=lambda s: (s.alpha is None, s.alpha if s.alpha is not None else 0, s.name))
    last_answer: dict[int, datetime] = {}
    for a in answers:
        if a.video_id in videos:
            last_answer[a.video_id] = max(last_answer.get(a.video_id, a.answered_at), a.answered_at)
    weeks: dict[str, dict[int, dict[str, frozenset[str]]]] = {}
    for video_id, when in last_answer.items():
        year, week, _ = when.isocalendar()
        weeks.setdefault(f"{year}-W{week:02d}", {})[video_id] = videos[video_id]
    return AgreementReport(
        overall=_score("all tags", videos, lambda _: True),
        per_tier=[
            _score(f"tier {tier}", videos, lambda x, tier=tier: tier_of(x) == tier)
            for tier in tiers
        ],
        per_tag=per_tag,
        per_moderator=_moderators(videos),
        per_week=[_score(w, weeks[w], lambda _: True) for w in sorted(weeks)],
        per_moderator_week={w: _moderators(weeks[w]) for w in sorted(weeks)},
    )


def agreement_from_db(db: Database) -> AgreementReport:
    """The report over every stored overlap answer; tags named by path and counted with their
    ancestors (choosing "Sports: Soccer" is choosing "Sports" too)."""
    with db.session() as session:
        taxonomy = load_from_db(session)
        stored = quality_q.list_answers(session)
    answers = []
    for a in stored:
        paths = {
            node.path
            for node_id in a.node_ids
            if node_id in taxonomy
            for node in (taxonomy.node(node_id), *taxonomy.ancestors(node_id))
        }
        answers.append(Answer(a.video_id, a.username, frozenset(paths), a.answered_at))
    levels = {node.path: node.level for node in taxonomy.nodes}
    return agreement(answers, tier_of=lambda path: levels[path])
