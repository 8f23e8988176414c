"""Throughput of the ImageBind towers (random weights: compute does not depend on their values).

Builds the model with ``build_imagebind`` and feeds inputs prepared by the product's own
preprocessing, so the numbers cover what ingest pays per batch, minus decoding.

    python -m scripts.bench.imagebind --device cuda
    python -m scripts.bench.imagebind --device cpu --vision-batch 2 --audio-batch 2 --text-batch 2

``--save-random PATH`` only writes the random model's state dict, a stand-in for
imagebind_huge.pth (not reachable offline) with which ``TAGGER_ENCODER=imagebind`` ingest runs
at full cost, e.g. in ``scripts.bench.ray_scaling`` on a GPU machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from core.encoders import imagebind_preprocess as prep
from core.encoders.base import AUDIO_SAMPLE_RATE
from core.encoders.imagebind import ImageBindConfig, build_imagebind

CONFIGS = {"huge": ImageBindConfig.huge, "tiny": ImageBindConfig.tiny}


def _inputs(vision: int, audio: int, text: int) -> dict[str, tuple[torch.Tensor, str]]:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(vision)]
    track = (0.1 * rng.standard_normal(10 * AUDIO_SAMPLE_RATE)).astype(np.float32)
    clips = prep.audio_clips(track)
    sentence = "a goalkeeper dives to save a penalty in the last minute of the final"
    return {
        "vision": (torch.stack([prep.vision_tensor(f) for f in frames]), "frames"),
        "audio": (
            clips.repeat((audio + len(clips) - 1) // len(clips), 1, 1, 1)[:audio],
            "2 s clips",
        ),
        "text": (prep.text_tokens(sentence).repeat(text, 1), "texts (77 tokens)"),
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="huge")
    parser.add_argument("--vision-batch", type=int, default=16)
    parser.add_argument("--audio-batch", type=int, default=24)
    parser.add_argument("--text-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed batches after one warm-up")
    parser.add_argument("--fp16", action="store_true", help="autocast to float16 (CUDA)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--save-random", type=Path, help="write the random weights here, then stop")
    args = parser.parse_args(argv)
    if args.save_random:
        torch.manual_seed(0)
        torch.save(build_imagebind(CONFIGS[args.config]()).state_dict(), args.save_random)
        print(f"random ImageBind-{args.config} weights written to {args.save_random}")
        return

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = CONFIGS[args.config]()
    started = time.perf_counter()
    model = build_imagebind(config).to(device)
    build_s = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())
    inputs = _inputs(args.vision_batch, args.audio_batch, args.text_batch)

    rows = []
    with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=args.fp16):
        for modality, (batch, unit) in inputs.items():
            batch = batch.to(device)
            model({modality: batch})  # warm-up (kernel selection, allocator)
            _synchronize(device)
            started = time.perf_counter()
            for _ in range(args.repeats):
                model({modality: batch})
            _synchronize(device)
            per_batch = (time.perf_counter() - started) / args.repeats
            rows.append((modality, len(batch), unit, per_batch, len(batch) / per_batch))

    print(
        f"ImageBind-{config.name} ({params / 1e6:.0f}M params) on {device}"
        f"{' fp16' if args.fp16 else ''}, torch threads {torch.get_num_threads()}, "
        f"built in {build_s:.1f} s, {args.repeats} timed batches\n"
    )
    print("| tower | batch | unit | s / batch | items / s |")
    print("|---|---:|---|---:|---:|")
    for modality, size, unit, per_batch, rate in rows:
        print(f"| {modality} | {size} | {unit} | {per_batch:.3f} | {rate:.2f} |")


if __name__ == "__main__":
    main()
