"""Retraining control: when a retrain starts by itself, and when its result replaces the model.

The admin's policy (db/queries/retrain_policy.py) says when: ``on_demand`` (never by itself),
``schedule`` (``every_hours`` after the last run started) or ``after_labels`` (``after_labels``
videos reviewed since). :func:`retrain_if_due` is what a timer calls (``tagger retrain-if-due``
from cron or a systemd timer): it trains when due and applies the promotion rule.

Promotion rule: the new version becomes active only when its micro AU(PRC) beats the active
version's by at least ``min_gain`` on the same videos: the new version's held-out split, which
the active version never trained on either (the split depends only on each video's id). Both
are scored on the tags both models know. Otherwise the version stays ready, with the reason in
its notes, until a human promotes it (or not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from core import review as review_rules
from core.classifier.metrics import micro_average_precision
from core.config import Settings
from core.lifecycle import registry, training
from db.engine import Database
from db.queries import embeddings as embeddings_q
from db.queries import model_versions as models_q
from db.queries import retrain_policy as policy_q


@dataclass(frozen=True)
class Comparison:
    candidate_auprc: float
    active_auprc: float
    n_videos: int
    n_tags: int

    @property
    def gain(self) -> float:
        return self.candidate_auprc - self.active_auprc


@dataclass(frozen=True)
class RetrainOutcome:
    reason: str  # why it trained, or why not
    version_id: int | None = None
    promoted: bool = False
    comparison: Comparison | None = None


def due(
    *,
    mode: str,
    every_hours: float,
    after_labels: int,
    last_started: datetime | None,
    new_reviews: int,
    now: datetime,
) -> str | None:
    """Why a retrain is due now under the policy, or None when it is not."""
    if mode == "schedule":
        if last_started is None or now - last_started >= timedelta(hours=every_hours):
            return f"scheduled every {every_hours:g} h"
        return None
    if mode == "after_labels":
        if new_reviews >= after_labels:
            return f"{new_reviews} videos reviewed since the last run (threshold {after_labels})"
        return None
    return None


def _proba_and_labels(
    db: Database, model: registry.LoadedModel, video_ids: list[int], nodes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    meta = model.metadata
    with db.session() as session:
        labels = review_rules.effective_labels(session, video_ids=video_ids)
        matrices = embeddings_q.load_matrices(
            session,
            encoder_id=meta.encoder_id,
            encoder_version=meta.encoder_version,
            modalities=model.classifier.modalities_,
            video_ids=list(labels),
        )
    X = {
        m: np.where(matrices.masks[m][:, None], matrices.matrices[m], np.nan).astype(np.float32)
        for m in matrices.matrices
    }
    column = {node_id: i for i, node_id in enumerate(meta.node_ids)}
    proba = model.classifier.predict_proba(X)[:, [column[n] for n in nodes]]
    Y = model.hierarchy.close_upward(
        np.array(
            [[n in labels[v] for n in meta.node_ids] for v in matrices.video_ids.tolist()],
            dtype=bool,
        ).reshape(len(matrices.video_ids), len(meta.node_ids))
    )[:, [column[n] for n in nodes]]
    return matrices.video_ids, proba, Y


def compare_on_held_out(
    db: Database, *, candidate_id: int, active_id: int, settings: Settings
) -> Comparison:
    """Both versions' micro AU(PRC) on the candidate's held-out videos and their shared tags."""
    candidate = registry.load_model(db, candidate_id, settings=settings)
    active = registry.load_model(db, active_id, settings=settings)
    known = set(active.metadata.node_ids)
    nodes = [n for n in candidate.metadata.node_ids if n in known]
    ids = candidate.metadata.valid_video_ids
    cand_ids, cand_p, cand_y = _proba_and_labels(db, candidate, ids, nodes)
    act_ids, act_p, act_y = _proba_and_labels(db, active, ids, nodes)
    shared = np.intersect1d(cand_ids, act_ids)
    ci, ai = np.searchsorted(cand_ids, shared), np.searchsorted(act_ids, shared)
    y = cand_y[ci]
    if len(shared) == 0 or not y.any():
        raise training.TrainingError(
            f"versions {candidate_id} and {active_id} share no labelled held-out video "
            "to compare on"
        )
    return Comparison(
        candidate_auprc=micro_average_precision(y, cand_p[ci]),
        active_auprc=micro_average_precision(act_y[ai], act_p[ai]),
        n_videos=len(shared),
        n_tags=len(nodes),
    )


def apply_promotion_rule(
    db: Database, *, candidate_id: int, min_gain: float, settings: Settings
) -> tuple[bool, Comparison | None]:
    """Promote ``candidate_id`` if it beats the active version by ``min_gain``; else note why
    it waits. Returns (promoted, comparison); no active version means it is promoted."""
    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is None or active.id == candidate_id:
        if active is None:
            registry.promote(db, candidate_id, None, settings=settings)
        return True, None
    comparison = compare_on_held_out(
        db, candidate_id=candidate_id, active_id=active.id, settings=settings
    )
    if comparison.gain >= min_gain:
        registry.promote(db, candidate_id, None, settings=settings)
        return True, comparison
    with db.session() as session:
        policy_q.hold_back(
            session,
            model_version_id=candidate_id,
            reason=(
                f"waits for a human decision: held-out micro AU(PRC) "
                f"{comparison.candidate_auprc:.4f} vs active v{active.id} "
                f"{comparison.active_auprc:.4f} on {comparison.n_videos} videos "
                f"(rule: gain >= {min_gain:+.4f})"
            ),
        )
    return False, comparison


def retrain_if_due(
    db: Database,
    *,
    settings: Settings,
    now: datetime,
    params: dict | None = None,
    encoder_key: tuple[str, str] | None = None,
) -> RetrainOutcome:
    """Train a new version when the policy says so, then apply the promotion rule
    (``params`` and ``encoder_key`` as in :func:`training.train_model`)."""
    with db.session() as session:
        policy = policy_q.get_policy(session)
        last = policy_q.last_training_started(session)
        new_reviews = policy_q.reviewed_since(session, since=last)
    reason = due(
        mode=policy.mode,
        every_hours=policy.every_hours,
        after_labels=policy.after_labels,
        last_started=last,
        new_reviews=new_reviews,
        now=now,
    )
    if reason is None:
        return RetrainOutcome(reason=f"not due (policy: {policy.mode})")
    version = training.train_model(
        db, settings=settings, user=None, activate=False, params=params, encoder_key=encoder_key
    )
    promoted, comparison = apply_promotion_rule(
        db, candidate_id=version.id, min_gain=policy.min_gain, settings=settings
    )
    return RetrainOutcome(reason, version.id, promoted, comparison)
