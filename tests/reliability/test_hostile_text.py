"""Hostile text in titles, descriptions and tags: stored exactly (import -> database -> export),
shown literally by the dashboard (escaped Markdown or plain-text elements, never raw HTML).

The rule for NUL (``\\x00``): PostgreSQL cannot store it in text, so both backends must refuse it
at the input edge with a clear error naming where it is; every other character is stored as given
(dataset import trims surrounding whitespace of each field, nothing else).
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from core import dataset
from core.ingest import batch as ingest
from dashboard.components import md_escape
from db.queries import videos as videos_q
from db.tables import VideoStatus
from tests.support.signin import sign_in_apptest

HOSTILE = {
    "html": "<b>bold</b><img src=x onerror=alert(1)> & &amp;",
    "script": "<script>alert('owned')</script>",
    "sql": "'; DROP TABLE video; --",
    "sql-double": 'x" OR "1"="1',
    "markdown": (
        "**bold** _it_ [link](javascript:alert(1)) ![img](http://evil.example/x.png) `code` # h1"
    ),
    "math-and-emoji-codes": "$x^2$ :smile: :red[red] ~~strike~~ | a | b |",
    "control": "tab\there\x01\x07\x1b[31mred\x7fend",
    "newlines": "line one\nline two\r\nline three",
    "mixed-scripts": "Кириллица العربية 中文 日本語 한국어 עברית",
    "emoji": "👩‍👩‍👧‍👦 🏳️‍🌈 🎬 x",
    "bidi": "abc\u202egnp.exe\u202c done",
    "zero-width": "a\u200bb\ufeffc",
    "backslashes": "C:\\path\\to\\file \\n not a newline",
}
BIG_DESCRIPTION = ("Ünïcödé — <i>1 MB</i> description; '; DROP TABLE label; -- 🎬\n" * 20_000)[
    : 1 << 20
]
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _import_and_export(db, tmp_path: Path, rows: list[dict], suffix: str) -> dict[str, dict]:
    source = tmp_path / f"hostile{suffix}"
    if suffix == ".csv":
        with source.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["video_id", "title", "description", "tags"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        source.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    report = dataset.import_dataset(db, source)
    assert report.videos_created == len(rows) and not report.problems
    out = tmp_path / f"export-{suffix[1:]}.jsonl"
    dataset.export_labels(db, out)
    return {r["video_id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_hostile_text_round_trips_exactly(db, taxonomy, tmp_path, suffix, tally):
    tags = ["Sports: Soccer", "Music: Jazz"]
    rows = [
        {
            "video_id": f"{name}-{suffix}",
            "title": text,
            "description": text[::-1],
            "tags": ", ".join(tags),
        }
        for name, text in HOSTILE.items()
    ]
    if suffix == ".jsonl":  # CSV: see test_one_megabyte_description_survives_csv_round_trip
        rows.append(
            {
                "video_id": "big",
                "title": "big one",
                "description": BIG_DESCRIPTION.strip(),
                "tags": "",
            }
        )
    exported = _import_and_export(db, tmp_path, rows, suffix)
    tally["hostile text values round-tripped"] += 2 * len(rows)

    for row in rows:
        out = exported[row["video_id"]]
        assert (out["title"], out["description"]) == (
            row["title"].strip(),
            row["description"].strip(),
        ), row["video_id"]
    with db.session() as session:
        stored = {v.external_id: v for v in videos_q.list_videos(session)}
    for row in rows:
        assert stored[row["video_id"]].title == row["title"].strip()
        assert stored[row["video_id"]].description == row["description"].strip()
    # the SQL-looking text did nothing: every table still there, every row imported
    assert len(stored) == len(rows)


def test_hostile_text_through_upload_is_stored_exactly(
    db, settings, hostile, tmp_path, fake_encoder, fake_transcriber
):
    settings.num_keyframes = 2
    texts = [
        (" ".join(HOSTILE.values()), "\n".join(HOSTILE.values())),
        (HOSTILE["sql"], BIG_DESCRIPTION),
    ]
    for i, (title, description) in enumerate(texts):
        data = hostile.clip(
            tmp_path / f"{i}.mp4", 11 + 7 * i, seconds=0.3, audio=False
        ).read_bytes()
        result = ingest.ingest_upload(
            db,
            data=data,
            filename=f"{i}.mp4",
            title=title,
            description=description,
            settings=settings,
            user=None,
            encoder=fake_encoder,
            transcriber=fake_transcriber,
        )
        assert result.status == VideoStatus.READY
        with db.session() as session:
            video = videos_q.get_video(session, video_id=result.video_id)
        assert (video.title, video.description) == (title, description)


def test_one_megabyte_description_survives_csv_round_trip(db, taxonomy, tmp_path):
    rows = [
        {"video_id": "big", "title": "big one", "description": BIG_DESCRIPTION.strip(), "tags": ""}
    ]
    exported = _import_and_export(db, tmp_path, rows, ".csv")
    assert exported["big"]["description"] == BIG_DESCRIPTION.strip()


def test_nul_is_refused_at_import_with_the_row_named(db, taxonomy, tmp_path):
    source = tmp_path / "nul.jsonl"
    source.write_text(
        json.dumps({"video_id": "ok", "title": "fine", "description": "", "tags": ""})
        + "\n"
        + json.dumps({"video_id": "bad", "title": "nul\x00inside", "description": "", "tags": ""})
        + "\n"
    )
    with pytest.raises(dataset.DatasetError, match=r"row 3.*(NUL|\\x00)"):
        dataset.read_dataset(source)


def test_nul_is_refused_at_upload(db, settings, hostile, tmp_path, fake_encoder, fake_transcriber):
    data = hostile.clip(tmp_path / "n.mp4", 33, seconds=0.3, audio=False).read_bytes()
    fields = ({"filename": "nul\x00byte.mp4"}, {"title": "a\x00b"}, {"description": "d\x00"})
    for hostile_field in fields:  # a NUL anywhere is refused before anything is stored
        upload = {"filename": "clip.mp4", "title": "t", "description": "", **hostile_field}
        with pytest.raises(ingest.UploadRejected, match="NUL|\\\\x00"):
            ingest.ingest_upload(
                db,
                data=data,
                settings=settings,
                user=None,
                encoder=fake_encoder,
                transcriber=fake_transcriber,
                **upload,
            )
    assert not list(settings.media_dir.iterdir())


# --- shown literally -----------------------------------------------------------------------------


def _rendered_text(markdown_source: str) -> str:
    """What a CommonMark renderer shows for ``markdown_source``: the text content of its HTML,
    and the tags it produced."""
    rendered = MarkdownIt("commonmark").render(markdown_source)
    tags = set(re.findall(r"<(/?[a-z0-9]+)", rendered))
    assert tags <= {"p", "/p"}, f"markup was interpreted: {rendered!r}"
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_md_escape_renders_literally(name):
    text = HOSTILE[name]
    assert _rendered_text(md_escape(text)) == " ".join(text.split())


@pytest.fixture
def app(db, taxonomy, accounts) -> Iterator[Callable[[str], AppTest]]:
    """``app(username)``: the router, signed in."""
    st.cache_data.clear()
    st.cache_resource.clear()

    def signed_in(username: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        sign_in_apptest(at, username, "correct horse battery staple")
        assert not at.exception, at.exception
        return at

    yield signed_in
    st.cache_data.clear()
    st.cache_resource.clear()


def _all_markdown(at: AppTest) -> list:
    return [
        *at.markdown,
        *at.caption,
        *at.subheader,
        *at.title,
        *at.header,
        *at.error,
        *at.warning,
        *at.success,
        *at.info,
    ]


def test_review_and_queue_pages_show_hostile_text_literally(db, app, tally):
    title = HOSTILE["script"] + " " + HOSTILE["markdown"] + " " + HOSTILE["mixed-scripts"]
    description = "\n".join(HOSTILE.values())
    with db.session() as session:
        video = videos_q.create_video(
            session, title=title, description=description, status=VideoStatus.READY
        )
        videos_q.put_transcript(
            session,
            video_id=video.id,
            source="provided",
            text=HOSTILE["html"],
            segments=[{"start": 0.0, "end": 1.0, "text": HOSTILE["html"]}],
        )
    at = app("mod")
    at.switch_page("views/queue.py").run()
    assert not at.exception, at.exception
    assert title in list(at.dataframe[0].value["title"])  # data grids never interpret markup

    at.session_state["review_video_id"] = video.id
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == [md_escape(title)]
    assert _rendered_text(at.subheader[0].value) == " ".join(title.split())
    assert description in [t.value for t in at.text]  # st.text: shown as typed, never interpreted
    seek_html = "".join(h.proto.body for h in at.get("html") if "tagger-seek" in h.proto.body)
    lines = re.findall(r"<span>(.*?)</span>", seek_html)  # the transcript's seek buttons
    assert [html.unescape(line) for line in lines] == [f"▶ 00:00  {HOSTILE['html']}"]
    assert HOSTILE["html"] not in seek_html and html.escape(HOSTILE["html"]) in seek_html
    for element in _all_markdown(at):  # Markdown protos carry the unsafe_allow_html flag
        assert not getattr(element.proto, "allow_html", False), element.value
    tally["dashboard pages checked with hostile text"] += 2


def test_no_page_renders_raw_html():
    """No ``unsafe_allow_html`` and no ``components.html`` anywhere in the dashboard; ``st.html``
    only in dashboard/components.py, for the player, the sign-in and sign-out forms, the seek
    buttons and the sweep previews (sanitised, no scripts; ids, numbers, constants and
    ``html.escape``-d text only) and the one page script of ``components._page_script`` (keys and
    previews: a module constant filled with constants only: no user text can reach it)."""
    sources = {p: p.read_text() for p in (APP.parent).rglob("*.py")}
    for path, text in sources.items():
        needles = ["unsafe_allow_html", "components.v1", "components.html"]
        if path.name == "components.py":
            assert text.count("unsafe_allow_javascript") == 1
        else:
            needles += ["st.html(", "unsafe_allow_javascript"]
        for needle in needles:
            assert needle not in text, f"{path} uses {needle}"


@pytest.mark.slow
@pytest.mark.postgres
def test_nul_on_postgresql_is_a_clear_row_error(tmp_path, new_postgres_db, taxonomy):
    from core.taxonomy import save_to_db
    from db.engine import Database, init_db

    pg = Database(new_postgres_db())
    init_db(pg)
    with pg.session() as session:
        save_to_db(session, taxonomy)
    source = tmp_path / "nul.jsonl"
    source.write_text(
        json.dumps({"video_id": "bad", "title": "nul\x00inside", "description": "", "tags": ""})
        + "\n"
    )
    try:
        with pytest.raises(dataset.DatasetError, match="row 2"):
            dataset.import_dataset(pg, source)
    finally:
        pg.dispose()
