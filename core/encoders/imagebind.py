"""ImageBind backend: every modality in ONE joint embedding space.

Title, description and subtitles go through ImageBind's TEXT tower, keyframes through VISION
(one embedding per frame, averaged), the audio track through AUDIO (three 2 s clips,
averaged). The model is the real ``ImageBindModel`` from the ``imagebind`` package built from
an :class:`ImageBindConfig`; :meth:`ImageBindConfig.huge` is exactly ``imagebind_huge`` and is
what the product loads, smaller configs exist so tests exercise the same code path quickly.
Weights come only from a local ``imagebind_huge.pth`` (``settings.imagebind_checkpoint``).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.encoders import imagebind_preprocess as prep
from core.encoders.base import TEXT_MODALITIES, Encoder, EncoderInput, mean_normalized
from core.encoders.fingerprint import combine, file_fingerprint
from core.encoders.imagebind_import import import_imagebind_model
from core.errors import TaggerError

# Bump when anything in imagebind_preprocess or the pooling below changes.
PREPROCESSING_VERSION = "imagebind-v1"
VISION_BATCH = 16
AUDIO_BATCH = 24
TEXT_BATCH = 64


class ImageBindCheckpointError(TaggerError, RuntimeError):
    """The configured ImageBind checkpoint is missing or does not fit the architecture."""


@dataclass(frozen=True)
class ImageBindConfig:
    """Sizes of every ImageBind tower (all are built: a checkpoint holds all six)."""

    name: str
    out_embed_dim: int = 768
    vision_embed_dim: int = 1024
    vision_num_blocks: int = 24
    vision_num_heads: int = 16
    text_embed_dim: int = 768
    text_num_blocks: int = 12
    text_num_heads: int = 12
    audio_embed_dim: int = 768
    audio_num_blocks: int = 12
    audio_num_heads: int = 12
    audio_drop_path: float = 0.1
    depth_embed_dim: int = 384
    depth_num_blocks: int = 12
    depth_num_heads: int = 8
    thermal_embed_dim: int = 768
    thermal_num_blocks: int = 12
    thermal_num_heads: int = 12
    imu_embed_dim: int = 512
    imu_num_blocks: int = 6
    imu_num_heads: int = 8
    imu_drop_path: float = 0.7

    @classmethod
    def huge(cls) -> ImageBindConfig:
        """The released ImageBind-huge (same arguments as ``imagebind_model.imagebind_huge``)."""
        return cls(
            name="huge",
            out_embed_dim=1024,
            vision_embed_dim=1280,
            vision_num_blocks=32,
            vision_num_heads=16,
            text_embed_dim=1024,
            text_num_blocks=24,
            text_num_heads=16,
        )

    @classmethod
    def tiny(cls) -> ImageBindConfig:
        """A few-MB random-weight variant for tests (the 49k-token text vocabulary dominates)."""
        small = {"embed_dim": 32, "num_blocks": 1, "num_heads": 2}
        towers = ("vision", "text", "audio", "depth", "thermal", "imu")
        sizes = {f"{tower}_{key}": value for tower in towers for key, value in small.items()}
        return cls(name="tiny", out_embed_dim=16, **sizes)

    def model_kwargs(self) -> dict[str, int | float]:
        kwargs = dataclasses.asdict(self)
        del kwargs["name"]
        return kwargs


def build_imagebind(config: ImageBindConfig) -> torch.nn.Module:
    """A randomly initialised ``ImageBindModel`` of the given sizes, in eval mode."""
    module = import_imagebind_model()
    return module.ImageBindModel(**config.model_kwargs()).eval()


def load_imagebind(
    config: ImageBindConfig, checkpoint: Path | None, device: str = "cpu"
) -> torch.nn.Module:
    """The model with weights from a local state-dict file, on ``device``, in eval mode."""
    if checkpoint is None:
        raise ImageBindCheckpointError(
            "encoder 'imagebind' needs its weights: set TAGGER_IMAGEBIND_CHECKPOINT "
            "(setting imagebind_checkpoint) to a local imagebind_huge.pth"
        )
    if not checkpoint.is_file():
        raise ImageBindCheckpointError(
            f"ImageBind checkpoint {checkpoint} does not exist "
            "(setting imagebind_checkpoint / TAGGER_IMAGEBIND_CHECKPOINT)"
        )
    model = build_imagebind(config)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as e:
        raise ImageBindCheckpointError(
            f"{checkpoint} is not an ImageBind-{config.name} state dict: {e}"
        ) from e
    return model.to(device).eval()


class ImageBindEncoder(Encoder):
    """Joint-space embeddings from a loaded ImageBind model; all modalities are unit vectors."""

    def __init__(
        self,
        checkpoint: Path | None,
        device: str = "cpu",
        config: ImageBindConfig | None = None,
    ) -> None:
        self.config = config or ImageBindConfig.huge()
        self.device = torch.device(device)
        self.model = load_imagebind(self.config, checkpoint, device)
        self.id = f"imagebind-{self.config.name}"
        self.version = combine(
            PREPROCESSING_VERSION, repr(self.config), file_fingerprint(checkpoint)
        )
        self.dims = {
            modality: self.config.out_embed_dim
            for modality in (*TEXT_MODALITIES, "frames", "audio")
        }

    @torch.inference_mode()
    def _embed(self, modality: str, inputs: torch.Tensor, batch_size: int) -> np.ndarray:
        """Unit-length embeddings of a stack of preprocessed inputs, batch by batch."""
        out = []
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start : start + batch_size].to(self.device)
            embedded = self.model({modality: batch})[modality]
            # TEXT and AUDIO heads end in a logit scale; undo it so every vector is unit length.
            out.append(torch.nn.functional.normalize(embedded.float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    def _pooled(
        self, modality: str, groups: list[torch.Tensor], batch_size: int
    ) -> list[np.ndarray]:
        """Embed all groups' rows in shared batches; one normalised mean per group."""
        vectors = self._embed(modality, torch.cat(groups), batch_size)
        result, start = [], 0
        for group in groups:
            result.append(mean_normalized(vectors[start : start + len(group)]))
            start += len(group)
        return result

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        results: list[dict[str, np.ndarray]] = [{} for _ in items]

        text_slots = [
            (i, m) for i, item in enumerate(items) for m in TEXT_MODALITIES if item.text(m)
        ]
        if text_slots:
            tokens = [prep.text_tokens(items[i].text(m)) for i, m in text_slots]
            for (i, m), vector in zip(
                text_slots, self._pooled("text", tokens, TEXT_BATCH), strict=True
            ):
                results[i][m] = vector

        frame_slots = [i for i, item in enumerate(items) if item.frames]
        if frame_slots:
            images = [
                torch.stack([prep.vision_tensor(f) for f in items[i].frames]) for i in frame_slots
            ]
            for i, vector in zip(
                frame_slots, self._pooled("vision", images, VISION_BATCH), strict=True
            ):
                results[i]["frames"] = vector

        audio_slots = [i for i, item in enumerate(items) if item.has_audio]
        if audio_slots:
            clips = [prep.audio_clips(items[i].audio) for i in audio_slots]
            for i, vector in zip(
                audio_slots, self._pooled("audio", clips, AUDIO_BATCH), strict=True
            ):
                results[i]["audio"] = vector
        return results
