"""Tag sweep: confirm one tag on a page of videos at once.

Pick a tag (its narrower tags count too); the videos nobody has reviewed that the model predicts
for it are shown as thumbnails, most doubtful or most confident first, all ticked. A thumbnail
plays a few seconds of its video on hover, click or tap, or on ``P`` when its box has the focus
(in the browser, streamed from the media route: no run of the page). Untick the
wrong ones and confirm: each ticked video is saved as an ordinary review (its claim and the
version read for this page are checked, and it is audited); unticked ones are released and not
shown again in this session.
"""

from __future__ import annotations

import streamlit as st

from core import bulk_review
from core.config import get_settings
from dashboard import actions, cache, state
from dashboard.components import (
    PREVIEW_KEYS,
    md_escape,
    preview_keys,
    preview_start,
    preview_thumbnail,
    require_taxonomy,
    shortcut_legend,
)
from dashboard.review_data import SweepCard, answer, load_sweep, sweep_cards
from dashboard.routes import media

PAGE_SIZE = 24
COLUMNS = 6
ORDERS = {"doubtful": "Most doubtful first", "confident": "Most confident first"}
CARDS = "sweep_cards"  # {"scope": (tag, order), "cards": [SweepCard], "page": n}
EXCLUDED = "sweep_excluded"  # unticked in this session: not shown again
PAGES = "sweep_pages_read"  # numbers each page, so a new page's boxes start ticked
KEYS = (
    ("S", "confirm the page"),
    ("Tab / Space", "move between videos / untick"),
    *PREVIEW_KEYS,
)

db = cache.database()
settings = get_settings()
tax = cache.taxonomy()
user = state.user()
st.session_state.setdefault(EXCLUDED, [])


def _load_page(node_id: str, order: str) -> dict:
    """Find a page of candidates and hold them; the ones another moderator took are left out."""
    items = load_sweep(
        db,
        node_id=node_id,
        order=order,
        user=user,
        exclude_ids=st.session_state[EXCLUDED],
        limit=PAGE_SIZE,
    )
    held = set(actions.claim_videos(db, video_ids=[i.video_id for i in items]))
    cards = sweep_cards(
        db, items=[i for i in items if i.video_id in held], settings=settings, tax=tax
    )
    st.session_state[PAGES] = st.session_state.get(PAGES, 0) + 1
    return {"scope": (node_id, order), "cards": cards, "page": st.session_state[PAGES]}


def _card_preview(card: SweepCard) -> None:
    """The card's thumbnail and preview; the media route is told their files now, so the
    browser's first requests do not wait for the database."""
    video_id, file = card.item.video_id, card.file
    thumbnail = card.item.thumbnail if card.has_thumbnail else None
    media.expect(
        video_id,
        video=file.stored_path if file else None,
        thumbnails={0: thumbnail} if thumbnail else None,
    )
    preview_thumbnail(
        video_id,
        0 if thumbnail else None,
        start_s=preview_start(file.duration_s) if file else None,
        alt=f"first keyframe of {card.item.title or f'video {video_id}'}",
    )


def _confirm(node_id: str, page: int) -> None:
    sweep = st.session_state.get(CARDS)
    if not sweep or sweep["page"] != page:  # a second press: that page is already confirmed
        return
    cards: list[SweepCard] = sweep["cards"]
    ticked = [
        c for c in cards if st.session_state.get(f"sweep_keep_{sweep['page']}_{c.item.video_id}")
    ]
    unticked = [c.item.video_id for c in cards if c not in ticked]
    outcome = actions.save_reviews(
        db,
        saves=[
            bulk_review.BulkSave(
                video_id=c.item.video_id,
                expected_version=c.start.version,
                node_ids=tuple(answer(c.start, node_id=node_id, accept=True, tax=tax)),
            )
            for c in ticked
        ],
    )
    actions.release_videos(db, video_ids=[*unticked, *outcome.refused], skipped=True)
    st.session_state[EXCLUDED].extend([*unticked, *outcome.refused])
    message = f"Page {page}: confirmed {len(outcome.saved)} video(s) as {tax.path(node_id)}."
    if outcome.refused:
        message += f" Not saved (changed or taken meanwhile): {len(outcome.refused)}."
    st.session_state[state.FLASH] = message
    st.session_state[CARDS] = None  # the next page is read on this run


st.title("Tag sweep")
notice = st.session_state.pop(state.FLASH, None)
if notice:
    st.success(md_escape(notice))
tax = require_taxonomy(tax)

pick, sort = st.columns([3, 2], vertical_alignment="bottom")
node_id = pick.selectbox(
    "Tag (its narrower tags are included)",
    tax.options,
    index=None,
    format_func=tax.path,
    key="sweep_tag",
    placeholder="type a few letters of a tag",
)
order = sort.segmented_control(
    "Order", list(ORDERS), format_func=ORDERS.get, default="doubtful", key="sweep_order"
)
if node_id is None:
    st.info("Pick a tag to see the unreviewed videos the model predicts for it.")
    st.stop()
order = order or "doubtful"

sweep = st.session_state.get(CARDS)
if not sweep or sweep["scope"] != (node_id, order):
    sweep = st.session_state[CARDS] = _load_page(node_id, order)
cards: list[SweepCard] = sweep["cards"]
if not cards:
    st.info(f"No unreviewed video is predicted as {md_escape(tax.path(node_id))} right now.")
    st.stop()

shortcut_legend(KEYS)
preview_keys()
with st.form(f"sweep_form_{sweep['page']}", enter_to_submit=False):
    st.markdown(
        f"**{len(cards)} videos predicted as {md_escape(tax.path(node_id))}** — untick the wrong "
        "ones, then confirm. A confirmed video is saved with this tag added to the tags shown "
        "under it."
    )
    for row in range(0, len(cards), COLUMNS):
        columns = st.columns(COLUMNS)
        for column, card in zip(columns, cards[row : row + COLUMNS], strict=False):
            with column:
                _card_preview(card)
                st.checkbox(
                    f"{md_escape(card.item.title or f'Video {card.item.video_id}')} "
                    f"· {card.item.probability:.2f}",
                    value=True,
                    key=f"sweep_keep_{sweep['page']}_{card.item.video_id}",
                )
                others = [tax.path(n) for n in card.start.labels if n != node_id]
                st.caption(md_escape("also: " + ", ".join(others)) if others else "no other tags")
    st.form_submit_button(
        f"Confirm the ticked videos as {tax.path(node_id)}",
        type="primary",
        shortcut="S",
        key="sweep_confirm",
        on_click=_confirm,
        args=(node_id, sweep["page"]),
    )
