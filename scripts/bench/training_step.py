"""Benchmark: the classifier's training step on an HMC set, working tree beside a git revision.

Times, on one torch thread, (a) the max-constraint loss forward + backward on a batch of 64 rows
and (b) a whole training step of the MLP network (forward, loss, backward, fused AdamW), for
``core/classifier/network.py`` as in the working tree and as committed at ``--baseline REV``
(loaded beside it; its imports resolve to the working tree). Runs alternate between the two so
both see the same machine load; the table gives medians and the ratio. Both versions must give
the same loss on the same batch (checked), so only speed differs.

    .venv/bin/python -m scripts.bench.training_step --data ../shared/benchmarks/hmc \\
        --dataset cellcycle_GO --baseline 464cebb
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from core.classifier import network
from core.classifier.estimator import HierarchicalClassifier
from core.classifier.inputs import prepare_inputs
from scripts.bench import hmc as hmc_bench
from scripts.bench.common import module_at

NETWORK_MODULE = "core/classifier/network.py"
BATCH = 64
STEPS_PER_RUN = 20
SPEED_SET = "cellcycle_GO"  # a 4,126-node GO DAG, as on the sets the CPU budget is tight on


def _workloads(
    module: ModuleType, split: hmc_bench.BenchmarkSplit, width: int, dropout: float = 0.7
) -> dict[str, Callable[[], None]]:
    """The two timed callables for one version of the network module, on the same batches."""
    data = prepare_inputs(split.X_train)
    config = HierarchicalClassifier(mlp_width=width, dropout=dropout)._network_config(
        data.dims, split.hierarchy.n_nodes
    )
    mcm = module.MaxConstraint(split.hierarchy)
    torch.manual_seed(0)
    net = module.HierarchicalNetwork(module.NetworkConfig(**vars(config)))
    net.set_standardisation(*data.standardisation())
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5, fused=True)
    batches = list(
        torch.randperm(data.n_rows, generator=torch.Generator().manual_seed(0)).split(BATCH)
    )
    batches = [b for b in batches if len(b) == BATCH][:STEPS_PER_RUN]
    features, present = data.tokens[0], data.present
    targets = torch.as_tensor(split.Y_train)
    logits = torch.randn(BATCH, split.hierarchy.n_nodes, generator=torch.Generator().manual_seed(1))

    def loss_only() -> None:
        for batch in batches:
            x = logits.clone().requires_grad_()
            module.max_constraint_loss(x, targets[batch], mcm).mean().backward()

    def training_step() -> None:
        for batch in batches:
            loss = module.max_constraint_loss(
                net([features[batch]], present[batch]), targets[batch], mcm
            ).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    return {
        "MCLoss forward + backward": loss_only,
        f"training step (MLP width {width})": training_step,
    }


def step_ms(split: hmc_bench.BenchmarkSplit, width: int = 250, repeat: int = 5) -> float:
    """Median CPU ms of today's training step on ``split`` (call at one torch thread): how fast
    the machine is now. The same code took 9.7 ms on 2026-11-24 and 18-22 ms on 2026-12-05, so
    CPU seconds from different days compare only next to this figure."""
    run = _workloads(network, split, width)[f"training step (MLP width {width})"]
    return statistics.median(_cpu_ms_per_step(run) for _ in range(repeat))


def _cpu_ms_per_step(run: Callable[[], None]) -> float:
    """CPU ms per batch of one call of a workload (``STEPS_PER_RUN`` batches)."""
    start = time.process_time()
    run()
    return (time.process_time() - start) / STEPS_PER_RUN * 1000


def _same_loss(modules: dict[str, ModuleType], split: hmc_bench.BenchmarkSplit) -> None:
    logits = torch.randn(BATCH, split.hierarchy.n_nodes, generator=torch.Generator().manual_seed(2))
    targets = torch.as_tensor(split.Y_train[:BATCH])
    losses = [
        m.max_constraint_loss(logits, targets, m.MaxConstraint(split.hierarchy))
        for m in modules.values()
    ]
    for loss in losses[1:]:
        torch.testing.assert_close(loss, losses[0], rtol=1e-5, atol=1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the HMC ARFF sets")
    parser.add_argument("--dataset", default="cellcycle_GO")
    parser.add_argument(
        "--baseline", required=True, help="git revision whose network.py is compared"
    )
    parser.add_argument("--width", type=int, default=250, help="hidden width of the MLP")
    parser.add_argument(
        "--dropout", type=float, default=0.7, help="0.7 narrow, 0.6 defaults, 0.5 wide"
    )
    parser.add_argument("--repeat", type=int, default=7, help="alternating runs per version")
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = hmc_bench.load_split(args.data, args.dataset)
    modules = {
        f"at {args.baseline}": module_at(args.baseline, NETWORK_MODULE, "network_baseline"),
        "working tree": network,
    }
    _same_loss(modules, split)
    workloads = {
        label: _workloads(module, split, args.width, args.dropout)
        for label, module in modules.items()
    }
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for label, named in workloads.items():
            for name, run in named.items():
                times.setdefault((label, name), []).append(_cpu_ms_per_step(run))
    labels = list(modules)
    print(
        f"{args.dataset}: {split.hierarchy.n_nodes} nodes, batch {BATCH}, dropout {args.dropout}, "
        f"1 thread, CPU ms per batch (median of {args.repeat})"
    )
    print(f"| measure | {' | '.join(labels)} | speed-up |")
    print("|---|" + "---:|" * (len(labels) + 1))
    for name in workloads[labels[0]]:
        before, after = (statistics.median(times[(label, name)]) for label in labels)
        print(f"| {name} | {before:.2f} | {after:.2f} | {before / after:.2f}x |")


if __name__ == "__main__":
    main()
