"""Every page that works on tags says how to get a taxonomy when there is none, and stops there
without an error (one place: ``dashboard.components.require_taxonomy``)."""

from __future__ import annotations

import pytest

from dashboard import cache

PAGES = ["review", "binary", "sweep", "analytics", "quality", "lead_review"]


@pytest.mark.parametrize("page", PAGES)
def test_a_page_without_a_taxonomy_says_how_to_get_one(signed_in, monkeypatch, page) -> None:
    monkeypatch.setattr(cache, "taxonomy", lambda: None)
    at = signed_in("boss").switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning][-1] == (
        "No taxonomy yet: an admin imports one on the Taxonomy page (or `tagger init`)."
    )
