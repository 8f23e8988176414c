"""The promotion rule of policy retrains: a new version becomes active only when its micro
AU(PRC) beats the active version's by at least the policy's ``min_gain`` on the same videos: the
new version's held-out split, which the active version never trained on either (the split
depends only on each video's id). Both are scored on the tags both models know. Otherwise the
version stays ready, with the reason in its notes, until a human promotes it (or not).

Apart from :mod:`core.lifecycle.retrain_policy` (when a retrain starts) because it loads models:
the dashboard server watches the policy without importing torch.
"""

from __future__ import annotations

import numpy as np

from core.classifier.metrics import micro_average_precision
from core.config import Settings
from core.lifecycle import model_inputs, registry, training
from core.lifecycle.retrain_policy import WAITS, Comparison, RetrainOutcome
from db.engine import Database
from db.queries import model_versions as models_q
from db.queries import retrain_policy as policy_q


def _proba_and_labels(
    db: Database, model: registry.LoadedModel, video_ids: list[int], nodes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labelled = model_inputs.load_labelled(db, model=model, video_ids=video_ids)
    column = {node_id: i for i, node_id in enumerate(model.metadata.node_ids)}
    columns = [column[n] for n in nodes]
    proba = model.classifier.predict_proba(labelled.X)[:, columns]
    return labelled.video_ids, proba, labelled.Y[:, columns]


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
                f"{WAITS}: held-out micro AU(PRC) "
                f"{comparison.candidate_auprc:.4f} vs active v{active.id} "
                f"{comparison.active_auprc:.4f} on {comparison.n_videos} videos "
                f"(rule: gain >= {min_gain:+.4f})"
            ),
        )
    return False, comparison


def judge(db: Database, *, version_id: int, reason: str, settings: Settings) -> RetrainOutcome:
    """Apply the policy's promotion rule to the version a policy retrain (``reason``) trained."""
    with db.session() as session:
        min_gain = policy_q.get_policy(session).min_gain
    promoted, comparison = apply_promotion_rule(
        db, candidate_id=version_id, min_gain=min_gain, settings=settings
    )
    return RetrainOutcome(reason, version_id, promoted, comparison)
