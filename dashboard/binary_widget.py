"""Binary mode's question card: a custom component (``st.components.v2``) whose script holds
the queue of questions in the browser (``binary_widget.js``).

A Streamlit run re-sends and re-draws the whole page, ~100-200 ms on 2 cores before the next
question shows, however fast the answer is written. Here a key (``A`` yes, ``X`` no, ``N``
skip) shows the next question at once from the queue, and the script posts the answer to
:mod:`dashboard.routes.binary` in the background, one at a time and in order, reading more
questions before the queue runs out: no Streamlit run until the moderator changes the scope.
``P`` plays a muted loop of the video's middle over the question, from the media route.
The script keeps its queue per ``batch``, so a rerun of the page (same batch) resumes where the
moderator is instead of asking the first questions again.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.routes.binary import ANSWERS_PATH, QUESTIONS_PATH

KEYS = (("A", "yes"), ("X", "no"), ("N", "skip"), ("P", "preview the video, muted (again: stop)"))
_HERE = Path(__file__).resolve().parent
_CSS = """
.tagger-binary { font-family: var(--st-font, sans-serif); color: var(--st-text-color, inherit); }
.tagger-binary h3 { margin: 0 0 .25rem; font-weight: 600; }
.tagger-binary .caption { font-size: .875rem; opacity: .7; margin: .25rem 0; }
.tagger-binary .notice { padding: .5rem .75rem; border-radius: .5rem;
  background: var(--st-yellow-background-color, rgba(255, 200, 0, .15)); }
.tagger-binary .stopped { padding: .5rem .75rem; border-radius: .5rem;
  background: var(--st-red-background-color, rgba(255, 0, 0, .12)); }
.tagger-binary .thumbnails { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr));
  gap: .5rem; margin: .5rem 0; }
.tagger-binary .thumbnails img { width: 100%; border-radius: .25rem; }
.tagger-binary .description { white-space: pre-wrap; }
.tagger-binary .preview-video { width: min(100%, 640px); aspect-ratio: 16 / 9; background: #000;
  border-radius: .25rem; }
.tagger-binary .preview-toggle { margin-top: .5rem; }
.tagger-binary .answers { display: grid; grid-template-columns: repeat(3, 1fr); gap: .75rem; }
.tagger-binary button { font: inherit; padding: .5rem; cursor: pointer; color: inherit;
  border-radius: .5rem; border: 1px solid var(--st-border-color, rgba(128, 128, 128, .4));
  background: var(--st-secondary-background-color, transparent); }
.tagger-binary button.primary { background: var(--st-primary-color, #ff4b4b); color: #fff;
  border-color: transparent; }
"""

_component = st.components.v2.component(
    "tagger.binary_questions",
    html='<div class="tagger-binary" aria-live="polite"></div>',
    css=_CSS,
    js=(_HERE / "binary_widget.js").read_text(encoding="utf-8"),
    isolate_styles=False,  # every rule is under .tagger-binary; tests and tools see the card
)


def binary_questions(*, scope: str | None, batch: str) -> None:
    """The question card for ``scope`` (a tag id, or None for every tag); ``batch`` names the
    browser's queue: a new one starts afresh, the same one resumes."""
    _component(
        data={
            "batch": batch,
            "scope": scope,
            "questions_url": QUESTIONS_PATH,
            "answers_url": ANSWERS_PATH,
        },
        key="binary_questions",
    )
