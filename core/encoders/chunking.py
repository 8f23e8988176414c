"""Token windows for texts longer than a text model's context.

Subtitles and long descriptions overflow MiniLM (256 word pieces) and ImageBind (77 BPE
tokens). Rather than truncating, both backends cut the token sequence into overlapping
windows, embed each window and average: the overlap keeps a sentence that straddles a cut
represented in at least one window.
"""

from __future__ import annotations


def token_windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans covering ``range(n_tokens)`` in windows of ``size`` tokens.

    Consecutive windows share ``overlap`` tokens; the last window ends at ``n_tokens``.
    No tokens -> no windows.
    """
    if size <= 0:
        raise ValueError(f"window size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be in [0, {size}), got {overlap}")
    if n_tokens <= 0:
        return []
    step = size - overlap
    spans = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        spans.append((start, end))
        if end == n_tokens:
            return spans
        start += step
