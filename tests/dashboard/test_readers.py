"""dashboard/readers.py and the pages' contract: pages read through readers/cache, never through
their own sessions, and use the product's constants instead of spelled-out values."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.auth import PermissionDeniedError
from core.ingest.formats import VIDEO_EXTENSIONS
from dashboard import readers
from db.queries import videos as videos_q
from db.queries.review import IN_REVIEW, QueueFilters
from db.tables import AuditAction, JobStatus, ModelStatus, Role, VideoStatus
from tests.support.source import parse_file

VIEWS = Path(__file__).resolve().parents[2] / "dashboard" / "views"
STATUSES = {
    str(status) for enum in (VideoStatus, JobStatus, ModelStatus, Role) for status in enum
} | {IN_REVIEW}


def test_a_page_past_the_end_falls_back_to_the_first(seeded) -> None:
    page = readers.queue_page(seeded.db, filters=QueueFilters(), page=1, page_size=3)
    assert page.total == 4 and len(page.rows) == 3
    assert [r.video_id for r in page.rows] == seeded.video_ids[:3]
    late = readers.queue_page(seeded.db, filters=QueueFilters(), page=9, page_size=3)
    assert late.page == 1 and [r.video_id for r in late.rows] == seeded.video_ids[:3]


def test_failed_videos_come_with_their_reason(seeded) -> None:
    assert readers.failed_videos(seeded.db, limit=10).rows == []
    with seeded.db.session() as session:
        videos_q.set_status(
            session, video_id=seeded.video_ids[1], status=VideoStatus.FAILED, error="no stream"
        )
    [row] = readers.failed_videos(seeded.db, limit=10).rows
    assert (row.video_id, row.error) == (seeded.video_ids[1], "no stream")


def test_the_audit_log_is_read_for_admins_only(seeded, monkeypatch) -> None:
    def refuse(db, role):
        raise PermissionDeniedError("admins only")

    monkeypatch.setattr(readers.state, "require", refuse)
    with pytest.raises(PermissionDeniedError):
        readers.audit_entries(seeded.db, action=None, limit=10)
    monkeypatch.setattr(readers.state, "require", lambda db, role: None)
    entries = readers.audit_entries(seeded.db, action=AuditAction.USER_ADDED, limit=10)
    assert len(entries) == 2 and {e.action for e in entries} == {AuditAction.USER_ADDED}


@pytest.mark.parametrize("page", sorted(p.name for p in VIEWS.glob("*.py")))
def test_pages_open_no_database_session(page: str) -> None:
    assert ".session(" not in (VIEWS / page).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", sorted(p.name for p in VIEWS.glob("*.py")))
def test_pages_compare_statuses_through_the_enums(page: str) -> None:
    """No ``x.status == "failed"``, ``counts["ready"]`` or ``statuses=("failed",)`` spelled out."""
    tree = parse_file(VIEWS / page)
    assert not [ast.unparse(node) for node in ast.walk(tree) if _spells_a_status(node)]


def _spells_a_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
    elif isinstance(node, ast.Subscript):
        operands = [node.slice]
    elif isinstance(node, ast.keyword) and node.arg in ("status", "statuses"):
        operands = [node.value, *getattr(node.value, "elts", [])]
    else:
        return False
    return any(isinstance(o, ast.Constant) and o.value in STATUSES for o in operands)


def test_the_upload_form_offers_the_extensions_ingest_takes() -> None:
    text = (VIEWS / "ingest.py").read_text(encoding="utf-8")
    assert "VIDEO_EXTENSIONS" in text and '"mp4"' not in text
    assert ".mp4" in VIDEO_EXTENSIONS and ".3gp" in VIDEO_EXTENSIONS
