"""Reusable rendering pieces: safe text, time formats, charts and the tag tree.

Everything a user or an importer typed (titles, descriptions, transcripts, tag names) goes
through :func:`md_escape` before any Markdown-rendering element (labels, headers, captions), or
is shown with ``st.text`` / dataframes, which never interpret markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import pandas as pd
import streamlit as st

# Markdown/HTML metacharacters Streamlit's renderer understands (CommonMark, GFM, KaTeX "$",
# emoji shortcodes ":x:", directive-like "[text](url)"), each escaped with a backslash.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'])")


def md_escape(text: str) -> str:
    """``text`` shown literally by Markdown elements: no links, images, HTML, emphasis or math.

    Newlines become spaces: callers use it for one-line labels; long text goes to ``st.text``.
    """
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def timecode(seconds: float) -> str:
    """``75.4`` -> ``01:15``; hours appear when needed."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def webvtt(segments: Sequence[dict]) -> str:
    """Transcript segments as WebVTT captions for ``st.video(subtitles=...)``."""

    def stamp(t: float) -> str:
        ms = round(t * 1000)
        hours, ms = divmod(ms, 3_600_000)
        minutes, ms = divmod(ms, 60_000)
        secs, ms = divmod(ms, 1000)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"

    cues = [
        f"{stamp(s['start'])} --> {stamp(max(s['end'], s['start'] + 0.5))}\n{' '.join(str(s['text']).split())}"
        for s in segments
        if str(s.get("text", "")).strip()
    ]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


_NOTE_STATUS = {"used": "used", "fallback": "replaced", "dropped": "missing"}


def render_ingest_details(notes: Sequence[dict], onscreen: Sequence[dict]) -> None:
    """What ingest used for each modality and what it left out and why (damaged files), and
    the text read on the keyframes with when it was on screen."""
    if onscreen:
        with st.expander(f"On-screen text ({len(onscreen)} lines)", expanded=False):
            st.dataframe(
                pd.DataFrame(
                    {
                        "shown": [f"{timecode(s['start'])}–{timecode(s['end'])}" for s in onscreen],
                        "text": [s["text"] for s in onscreen],
                    }
                ),
                hide_index=True,
                width="stretch",
            )
    if not notes:
        return
    problems = [n for n in notes if n["status"] != "used"]
    label = f"Inputs used for tagging ({len(problems)} problem{'s' * (len(problems) != 1)})"
    with st.expander(label, expanded=bool(problems)):
        st.dataframe(
            pd.DataFrame(
                {
                    "modality": [n["modality"] for n in notes],
                    "status": [_NOTE_STATUS.get(n["status"], n["status"]) for n in notes],
                    "detail": [n["detail"] for n in notes],
                }
            ),
            hide_index=True,
            width="stretch",
        )


@dataclass(frozen=True)
class ScoredTag:
    """One node of a prediction, for display."""

    node_id: str
    path: str
    name: str
    level: int
    probability: float
    predicted: bool


def probability_chart(tags: Sequence[ScoredTag], *, top: int = 12) -> alt.Chart:
    """Horizontal bars of the most probable nodes, coloured predicted / not predicted."""
    rows = sorted(tags, key=lambda t: -t.probability)[:top]
    frame = pd.DataFrame(
        {
            "tag": [t.path for t in rows],
            "probability": [t.probability for t in rows],
            "decision": ["predicted" if t.predicted else "below threshold" for t in rows],
        }
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
            y=alt.Y(
                "tag:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)
            ),
            color=alt.Color(
                "decision:N",
                scale=alt.Scale(
                    domain=["predicted", "below threshold"], range=["#2e7d32", "#b0bec5"]
                ),
                legend=alt.Legend(orient="top", direction="horizontal", title=None),
            ),
            tooltip=["tag", alt.Tooltip("probability:Q", format=".3f"), "decision"],
        )
        .properties(height=alt.Step(20))
    )


def render_tag_tree(tags: Sequence[ScoredTag], *, min_probability: float = 0.05) -> None:
    """An expandable tree: one expander per tier-1 node, deeper nodes indented beneath it.

    ``tags`` must be in taxonomy order (parents before children).
    """
    shown = [t for t in tags if t.probability >= min_probability or t.predicted]
    roots = [t for t in shown if t.level == 1]
    for root in roots:
        marker = (
            ":material/check_circle:" if root.predicted else ":material/radio_button_unchecked:"
        )
        label = f"{marker} {md_escape(root.name)} · {root.probability:.2f}"
        with st.expander(label, expanded=root.predicted):
            prefix = root.path + ": "
            lines = [
                f"{'    ' * (t.level - 2)}{'✓' if t.predicted else '·'} {t.name}  {t.probability:.2f}"
                for t in shown
                if t.path.startswith(prefix)
            ]
            st.text("\n".join(lines) if lines else "(no narrower tags above the display floor)")


def metric_history_chart(frame: pd.DataFrame, *, title: str) -> alt.Chart:
    """Lines of metric values over model versions; ``frame`` has version, metric, value."""
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("version:O", title="model version"),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
            color=alt.Color("metric:N", title=None),
            tooltip=["version", "metric", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=220)
    )
