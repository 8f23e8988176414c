"""Binary mode: one question at a time, "is this video <tag>?", answered with one key.

Questions come most informative first: the (video, tag) pairs whose probability sits closest to
the tag's decision threshold, one per video, optionally within one tag's subtree. An answer is
an ordinary review save (claim and version checked, audited) of the labels the review form would
start from, with the tag added (yes) or removed with its narrower tags (no). Skipped videos are
released and not asked again in this browser tab, reloads included.

The question card runs in the browser (:mod:`dashboard.binary_widget`): the next question shows
as soon as a key is pressed, and answers are written by :mod:`dashboard.routes.binary` meanwhile.
This page only picks the scope.
"""

from __future__ import annotations

import uuid

import streamlit as st

from dashboard import cache
from dashboard.binary_widget import KEYS, binary_questions
from dashboard.components import require_taxonomy, shortcut_legend

BATCH = "binary_batch"  # (scope, batch id) of the browser's queue of questions

tax = cache.taxonomy()

st.title("Binary review")
tax = require_taxonomy(tax)

scope = st.selectbox(
    "Only ask about this tag and its narrower tags (optional)",
    tax.options,
    index=None,
    format_func=tax.path,
    key="binary_scope",
    placeholder="all tags",
)
current = st.session_state.get(BATCH)
if current is None or current[0] != scope:
    current = st.session_state[BATCH] = (scope, uuid.uuid4().hex)
binary_questions(scope=scope, batch=current[1])
shortcut_legend(KEYS)
