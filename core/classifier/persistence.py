"""Save / load a fitted ``HierarchicalClassifier``: safetensors weights + a JSON config.

Never pickle: a model directory can be inspected, diffed and loaded without executing code.
``model.safetensors`` holds every ensemble member's tensors under ``member{k}.``;
``config.json`` holds hyperparameters, network shape, modality dims, thresholds, hierarchy
parents and optional label ids, enough to rebuild the exact model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.classifier.estimator import HierarchicalClassifier
from core.classifier.hierarchy import Hierarchy
from core.classifier.network import HierarchicalNetwork, NetworkConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


def save_classifier(
    clf: HierarchicalClassifier, directory: str | Path, *, label_ids: Sequence[str] | None = None
) -> Path:
    """Write ``clf`` into ``directory`` (created if needed); returns the directory."""
    if not hasattr(clf, "network_"):
        raise ValueError("cannot save an unfitted HierarchicalClassifier; call fit first")
    if label_ids is not None and len(label_ids) != clf.hierarchy_.n_nodes:
        raise ValueError(f"{len(label_ids)} label ids for {clf.hierarchy_.n_nodes} nodes")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"member{k}.{name}": value.detach().cpu().contiguous().clone()
        for k, net in enumerate(clf.network_)
        for name, value in net.state_dict().items()
    }
    save_file(tensors, directory / WEIGHTS_FILE)
    label_ids = label_ids if label_ids is not None else getattr(clf, "label_ids_", None)
    config = {
        "format_version": FORMAT_VERSION,
        "params": clf.get_params(),
        "network": asdict(clf.config_),
        "n_members": len(clf.network_),
        "modalities": list(clf.modalities_),
        "input_dims": clf.input_dims_,
        "thresholds": [float(t) for t in clf.thresholds_],
        "node_thresholds": [float(t) for t in clf.node_thresholds_],
        "threshold_floor": clf.threshold_floor_,
        "hierarchy_parents": [list(p) for p in clf.hierarchy_.parents],
        "label_ids": list(label_ids) if label_ids is not None else None,
        "best_epochs": clf.best_epochs_,
        "selected_settings": clf.selected_settings_,
        "settings_scores": clf.settings_scores_,
        "selection_win_rate": clf.selection_win_rate_,
        "validation_metrics": {
            k: (None if math.isnan(v) else v) for k, v in clf.validation_metrics_.items()
        },
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1))
    return directory


def load_classifier(directory: str | Path, *, device: str | None = None) -> HierarchicalClassifier:
    """Rebuild the classifier saved in ``directory`` (same probabilities as before saving)."""
    directory = Path(directory)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
        tensors = load_file(directory / WEIGHTS_FILE)
    except (
        OSError,
        json.JSONDecodeError,
        SafetensorError,
    ) as e:  # e.g. a pickle planted as weights
        raise ValueError(f"{directory} does not hold a saved classifier: {e}") from e
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"unsupported model format {config.get('format_version')!r} in {directory}"
        )
    params = dict(config["params"])
    # JSON gives a list; models saved before alternatives existed were trained without any
    params["alternatives"] = tuple(params.get("alternatives", ()))
    if "threshold_floors" in params:  # absent from versions saved before the floor existed
        params["threshold_floors"] = tuple(params["threshold_floors"])
    if device is not None:
        params["device"] = device
    clf = HierarchicalClassifier(**params)
    net_config = NetworkConfig(
        **{**config["network"], "modality_dims": tuple(config["network"]["modality_dims"])}
    )
    members = []
    for k in range(config["n_members"]):
        prefix = f"member{k}."
        net = HierarchicalNetwork(net_config)
        net.load_state_dict(
            {n[len(prefix) :]: t for n, t in tensors.items() if n.startswith(prefix)}, strict=True
        )
        members.append(net.to(clf.device).eval())
    clf.config_ = net_config
    clf.network_ = torch.nn.ModuleList(members)
    clf.hierarchy_ = Hierarchy(config["hierarchy_parents"])
    clf.modalities_ = tuple(config["modalities"])
    clf.input_dims_ = {k: int(v) for k, v in config["input_dims"].items()}
    clf.thresholds_ = np.asarray(config["thresholds"], dtype=np.float64)
    # versions saved before the floor existed: their thresholds are the per-node ones
    clf.node_thresholds_ = np.asarray(
        config.get("node_thresholds", config["thresholds"]), dtype=np.float64
    )
    clf.threshold_floor_ = float(config.get("threshold_floor", 0.0))
    clf.best_epochs_ = list(config["best_epochs"])
    clf.selected_settings_ = dict(config.get("selected_settings", {}))
    clf.settings_scores_ = list(config.get("settings_scores", []))
    clf.selection_win_rate_ = config.get("selection_win_rate")
    clf.validation_metrics_ = {
        k: (math.nan if v is None else v) for k, v in config["validation_metrics"].items()
    }
    clf.label_ids_ = config["label_ids"]
    clf.history_ = []
    return clf
