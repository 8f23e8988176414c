"""What a pool-wide prediction run reports while it works: the step that runs and how far it got.

A run predicts the videos, then ranks the review queue (:mod:`core.lifecycle.review_order`:
gradients, BADGE picks, writing the ranks), which takes minutes on a large pool. Each step is
reported under its own name with its own count, so a job row or a terminal says "ranking the
review queue (gradients): 12,000 of 100,000 videos" instead of a bar standing at 100 % while
the ranking still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StepProgress:
    """``done`` of ``total`` ``unit`` of the named ``step``."""

    step: str
    done: int
    total: int
    unit: str = "videos"

    @property
    def fraction(self) -> float:
        """Share of this step done (1.0 for a step with nothing to do)."""
        return self.done / self.total if self.total else 1.0

    def describe(self) -> str:
        return f"{self.step}: {self.done:,} of {self.total:,} {self.unit}"


StepCallback = Callable[[StepProgress], None]
