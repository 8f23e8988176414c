"""Binary mode: one question at a time, "is this video <tag>?", answered with one key.

Questions come most informative first: the (video, tag) pairs whose probability sits closest to
the tag's decision threshold, one per video, optionally within one tag's subtree. An answer is
an ordinary review save (claim and version checked, audited) of the labels the review form would
start from, with the tag added (yes) or removed with its narrower tags (no). Skipped videos are
released and not asked again in this session.

Answers are written, and more questions read, in the browser session's worker
(:mod:`dashboard.deferred`), in the order given, while the page shows the next question: the
moderator's next key does not wait for the database (an answer's unit of work is ~80 ms on
100,000 videos, a read of 20 questions 0.2-0.8 s). A write that is refused (the video changed or
was taken meanwhile) is reported on the next run; one that fails is asked again.
"""

from __future__ import annotations

from concurrent.futures import Future
from functools import partial

import streamlit as st

from core.config import get_settings
from core.errors import TaggerError
from dashboard import actions, cache, deferred, state
from dashboard.components import md_escape, shortcut_legend, thumbnail_image
from dashboard.review_data import Answered, Question, answer, load_questions
from dashboard.routes import media
from db.queries.review import VideoClaimedError

QUEUE = "binary_queue"  # {"scope": tag or None, "questions": [Question]}
SKIPPED = "binary_skipped"
HELD = "binary_held"  # video id of the question on screen, claimed
MORE = "binary_more"  # (scope, Future[list[Question]]): the next questions, being read
KEYS = (("A", "yes"), ("X", "no"), ("N", "skip"))
BATCH = 20
TOP_UP_AT = 5  # fewer questions loaded than this: start reading more


db = cache.database()
settings = get_settings()
tax = cache.taxonomy()
user = state.user()
st.session_state.setdefault(SKIPPED, [])


def _next_id() -> int | None:
    """The video of the question after the one being answered (claimed in the same write)."""
    questions = st.session_state[QUEUE]["questions"]
    return questions[0].ask.video_id if questions else None


def _asked(video_id: int) -> bool:
    """False for a key pressed on a question already answered (a second press before the next
    question was shown): it must not answer a question the moderator has not seen."""
    questions = (st.session_state.get(QUEUE) or {}).get("questions") or []
    return bool(questions) and questions[0].ask.video_id == video_id


def _answer(video_id: int, accept: bool) -> None:
    if not _asked(video_id):
        return
    question: Question = st.session_state[QUEUE]["questions"].pop(0)
    next_id = _next_id()
    actions.defer_save_reviews(
        db,
        saves=[
            actions.BulkSave(
                video_id=video_id,
                expected_version=question.start.version,
                node_ids=tuple(
                    answer(question.start, node_id=question.ask.node_id, accept=accept, tax=tax)
                ),
            )
        ],
        then_claim=next_id,
        about=Answered(question, then_claim=next_id),
    )
    st.session_state[HELD] = next_id  # claimed by that write (checked when it is collected)


def _skip(video_id: int) -> None:
    if not _asked(video_id):
        return
    question: Question = st.session_state[QUEUE]["questions"].pop(0)
    next_id = _next_id()
    actions.defer_release(
        db,
        video_id=video_id,
        skipped=True,
        then_claim=next_id,
        about=Answered(question, then_claim=next_id),
    )
    st.session_state[HELD] = next_id
    st.session_state[SKIPPED].append(video_id)


def _collect() -> None:
    """Take in the answers and skips written since the last run: a refused answer is reported
    and its video released; one that could not be written is asked again, first."""
    for handed in deferred.work().finished():
        if not isinstance(handed.about, Answered):
            continue  # a read of questions, taken by _take_more
        asked: Answered = handed.about
        video_id = asked.question.ask.video_id
        try:
            outcome = handed.future.result()
        except TaggerError as e:
            st.session_state[QUEUE]["questions"].insert(0, asked.question)
            st.session_state[HELD] = None
            st.session_state[state.FLASH] = (
                f"Your answer on video #{video_id} was not saved ({e}); it is asked again."
            )
            continue
        state.confirm_check(handed.started_at)
        claimed = outcome.claimed if isinstance(outcome, actions.BulkOutcome) else outcome
        if (
            asked.then_claim is not None
            and claimed is None
            and st.session_state.get(HELD) == asked.then_claim
        ):
            st.session_state[HELD] = None  # taken by someone else meanwhile: claimed again below
        if isinstance(outcome, actions.BulkOutcome) and outcome.refused:
            actions.defer_release(db, video_id=video_id, skipped=True, then_claim=None, about=None)
            st.session_state[SKIPPED].append(video_id)
            st.session_state[state.FLASH] = f"Not saved: {outcome.refused[video_id]}."


def _read_more(scope: str | None, queued: list[Question]) -> Future[list[Question]]:
    """Read the next questions after ``queued`` (none of the skipped ones), once the answers
    handed over before are written (so none of those videos is asked again)."""
    exclude = [*st.session_state[SKIPPED], *(q.ask.video_id for q in queued)]
    return deferred.work().submit(
        None,
        partial(
            load_questions,
            db,
            user=user,
            node_id=scope,
            exclude_ids=exclude,
            settings=settings,
            tax=tax,
            limit=BATCH,
        ),
    )


def _take_more(scope: str | None, queued: list[Question], *, wait: bool) -> None:
    """Append the questions read in the background to ``queued``, once read (``wait``: block
    until they are); a read for another scope is dropped."""
    pending = st.session_state.get(MORE)
    if pending is None or pending[0] != scope:
        st.session_state.pop(MORE, None)
        return
    if not (wait or pending[1].done()):
        return
    del st.session_state[MORE]
    have = {q.ask.video_id for q in queued} | set(st.session_state[SKIPPED])
    queued.extend(q for q in pending[1].result() if q.ask.video_id not in have)


def _current(scope: str | None) -> Question | None:
    """The question to show, its video claimed; questions on videos taken meanwhile are dropped."""
    queue = st.session_state.get(QUEUE)
    if not queue or queue["scope"] != scope:
        queue = st.session_state[QUEUE] = {"scope": scope, "questions": []}
    questions: list[Question] = queue["questions"]
    _take_more(scope, questions, wait=not questions)
    if not questions:
        questions.extend(_read_more(scope, []).result())
    while questions:
        video_id = questions[0].ask.video_id
        if st.session_state.get(HELD) == video_id:
            return questions[0]
        try:
            actions.claim_video(db, video_id=video_id)
        except VideoClaimedError:
            questions.pop(0)
            continue
        st.session_state[HELD] = video_id
        return questions[0]
    return None


st.title("Binary review")
_collect()
notice = st.session_state.pop(state.FLASH, None)
if notice:
    st.warning(md_escape(notice))
if tax is None:
    st.warning("No taxonomy yet: an admin imports one on the Taxonomy page (or `tagger init`).")
    st.stop()

scope = st.selectbox(
    "Only ask about this tag and its narrower tags (optional)",
    tax.options,
    index=None,
    format_func=tax.path,
    key="binary_scope",
    placeholder="all tags",
)
question = _current(scope)
if question is None:
    st.info("No unreviewed predicted video is left to ask about.")
    st.stop()

ask = question.ask
st.subheader(f"Is this video {md_escape(tax.path(ask.node_id))}?")
st.caption(
    md_escape(
        f"#{ask.video_id} · model {ask.probability:.2f} (threshold ≈ {ask.threshold:.2f}) · "
        f"{len(st.session_state[QUEUE]['questions']) - 1} more loaded"
    )
)
st.markdown(f"**{md_escape(ask.title or f'Video {ask.video_id}')}**")
if question.thumbnails:
    media.expect(ask.video_id, thumbnails=question.thumbnails)
    for column, index in zip(
        st.columns(len(question.thumbnails)), question.thumbnails, strict=True
    ):
        with column:
            thumbnail_image(ask.video_id, index)
st.text(question.description or "(no description)")
others = [tax.path(n) for n in question.start.labels if n != ask.node_id]
st.caption(md_escape("Saved with: " + ", ".join(others)) if others else "No other tags.")

yes, no, skip = st.columns(3)
yes.button(
    "Yes",
    type="primary",
    shortcut="A",
    key="binary_yes",
    width="stretch",
    on_click=_answer,
    args=(ask.video_id, True),
)
no.button(
    "No",
    shortcut="X",
    key="binary_no",
    width="stretch",
    on_click=_answer,
    args=(ask.video_id, False),
)
skip.button(
    "Skip", shortcut="N", key="binary_skip", width="stretch", on_click=_skip, args=(ask.video_id,)
)
shortcut_legend(KEYS)

# read the next questions while this one is answered, not when the loaded ones run out
queued: list[Question] = st.session_state[QUEUE]["questions"]
if len(queued) < TOP_UP_AT and MORE not in st.session_state:
    st.session_state[MORE] = (scope, _read_more(scope, queued))
