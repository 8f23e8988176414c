from itertools import pairwise

import pytest

from core.encoders.chunking import token_windows


@pytest.mark.parametrize("n_tokens", [1, 5, 75, 76, 150, 1000, 1001])
def test_windows_cover_every_token_with_the_requested_overlap(n_tokens):
    spans = token_windows(n_tokens, size=75, overlap=16)
    assert spans[0][0] == 0
    assert spans[-1][1] == n_tokens
    assert all(0 < end - start <= 75 for start, end in spans)
    for (_, end), (next_start, _) in pairwise(spans):
        assert end - next_start == 16
    covered = set().union(*(range(start, end) for start, end in spans))
    assert covered == set(range(n_tokens))


def test_short_text_is_one_window_and_no_text_is_none():
    assert token_windows(10, size=250, overlap=32) == [(0, 10)]
    assert token_windows(0, size=250, overlap=32) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_invalid_window_parameters_raise(size, overlap):
    with pytest.raises(ValueError):
        token_windows(100, size=size, overlap=overlap)
