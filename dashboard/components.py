"""Reusable rendering pieces: safe text, time formats, charts, the tag tree, and the HTML
(player, sign-in and sign-out forms) that talks to our own routes.

Everything a user or an importer typed (titles, descriptions, transcripts, tag names) goes
through :func:`md_escape` before any Markdown-rendering element (labels, headers, captions), or
is shown with ``st.text`` / dataframes, which never interpret markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd
import streamlit as st

from core import sso
from core.config import Settings
from core.taxonomy import Taxonomy
from dashboard.routes import media, session
from dashboard.routes import sso as sso_routes

if TYPE_CHECKING:
    from dashboard.cache import TaxonomyView

# Markdown/HTML metacharacters Streamlit's renderer understands (CommonMark, GFM, KaTeX "$",
# emoji shortcodes ":x:", directive-like "[text](url)"), each escaped with a backslash.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'])")


def require_taxonomy(tax: TaxonomyView | None) -> TaxonomyView:
    """The taxonomy; without one, says how to get it and ends the page's run."""
    if tax is None:
        st.warning("No taxonomy yet: an admin imports one on the Taxonomy page (or `tagger init`).")
        st.stop()
    return tax


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


_NOTE_STATUS = {"used": "used", "fallback": "replaced", "dropped": "missing", "warning": "check"}


def duration(seconds: float | None) -> str:
    """``3 h 5 min``, ``12 min`` (whole minutes, down); ``–`` for None."""
    if seconds is None:
        return "–"
    minutes = max(0, int(seconds // 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


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


def probability_chart(tags: Sequence[ScoredTag], *, top: int = 12) -> dict:
    """Horizontal bars of the most probable nodes, coloured predicted / not predicted: a
    Vega-Lite spec with its data inline, for ``st.vega_lite_chart``.

    Written as a plain spec rather than through Altair, whose schema validation took ~25 ms of
    every review page's run (more than the rest of the page's drawing) on the 2-core machine.
    """
    rows = sorted(tags, key=lambda t: -t.probability)[:top]
    return {
        "data": {
            "values": [
                {
                    "tag": t.path,
                    "probability": t.probability,
                    "decision": "predicted" if t.predicted else "below threshold",
                }
                for t in rows
            ]
        },
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "probability",
                "type": "quantitative",
                "scale": {"domain": [0, 1]},
                "title": "probability",
            },
            "y": {
                "field": "tag",
                "type": "nominal",
                "sort": "-x",
                "title": None,
                "axis": {"labelLimit": 260, "labelOverlap": False},
            },
            "color": {
                "field": "decision",
                "type": "nominal",
                "scale": {
                    "domain": ["predicted", "below threshold"],
                    "range": ["#2e7d32", "#b0bec5"],
                },
                "legend": {"orient": "top", "direction": "vertical", "title": None},
            },
            "tooltip": [
                {"field": "tag", "type": "nominal"},
                {"field": "probability", "type": "quantitative", "format": ".3f"},
                {"field": "decision", "type": "nominal"},
            ],
        },
        "height": {"step": 20},
    }


def tag_tree_lines(
    root_id: str,
    tags: Sequence[ScoredTag],
    taxonomy: Taxonomy,
    *,
    min_probability: float = 0.05,
) -> list[str]:
    """Indented text lines of the shown tags below ``root_id``, walked through the taxonomy's
    edges, so a tag with two parents appears under both (a path prefix names only one)."""
    shown = {t.node_id: t for t in tags if t.probability >= min_probability or t.predicted}
    lines: list[str] = []

    def visit(node_id: str, depth: int) -> None:
        for child in taxonomy.children(node_id):
            tag = shown.get(child.id)
            if tag is not None:
                mark = "✓" if tag.predicted else "·"
                lines.append(f"{'    ' * depth}{mark} {child.name}  {tag.probability:.2f}")
                visit(child.id, depth + 1)

    visit(root_id, 0)
    return lines


def render_tag_tree(
    tags: Sequence[ScoredTag], taxonomy: Taxonomy, *, min_probability: float = 0.05
) -> None:
    """An expandable tree: one expander per shown tier-1 tag, narrower tags indented beneath."""
    scores = {t.node_id: t for t in tags}
    for root in taxonomy.children(None):
        tag = scores.get(root.id)
        if tag is None or not (tag.probability >= min_probability or tag.predicted):
            continue
        marker = ":material/check_circle:" if tag.predicted else ":material/radio_button_unchecked:"
        label = f"{marker} {md_escape(root.name)} · {tag.probability:.2f}"
        with st.expander(label, expanded=tag.predicted):
            lines = tag_tree_lines(root.id, tags, taxonomy, min_probability=min_probability)
            st.text("\n".join(lines) if lines else "(no narrower tags above the display floor)")


def count_axis(title: str | None) -> alt.Axis:
    """An axis of whole counts (videos, reviews): Vega-Lite's default ticks would show half a
    video (0.5 steps) on small counts and "0.000000" on an all-zero one."""
    return alt.Axis(title=title, format="d", tickMinStep=1)


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


# --- HTML the browser talks to our own routes with (dashboard/routes/) ---------------------------
# st.html renders these inline (sanitised, no scripts); ids and numbers are the only values
# interpolated, so nothing a user typed reaches them.

_FORM_STYLE = """<style>
.tagger-form label { display: block; margin: 0 0 .75rem; font-size: .875rem; }
.tagger-form input { display: block; width: 100%; box-sizing: border-box; margin-top: .25rem;
  padding: .5rem .75rem; border: 1px solid rgba(49, 51, 63, .2); border-radius: .5rem;
  font: inherit; }
.tagger-form button { padding: .375rem .75rem; border-radius: .5rem; font: inherit;
  border: 1px solid rgba(49, 51, 63, .2); background: white; cursor: pointer; }
.tagger-form button.primary { background: #ff4b4b; border-color: #ff4b4b; color: white; }
</style>"""


def signin_form(settings: Settings) -> None:
    """The sign-in form, which posts to our route (it answers with the session cookie), and
    with single sign-on configured a button that starts it (dashboard/routes/sso.py) above it;
    without password sign-in, the button alone."""
    single_sign_on = sso.configured(settings)
    parts = [_FORM_STYLE]
    if single_sign_on:
        parts.append(
            f'<form class="tagger-form" method="get" action="{sso_routes.START_PATH}">'
            f'<button class="primary" type="submit">Sign in with '
            f"{html.escape(settings.oidc_name)}</button></form>"
        )
    if sso.password_signin_allowed(settings):
        if single_sign_on:
            parts.append('<p style="margin: 1rem 0 .5rem; font-size: .875rem;">or</p>')
        parts.append(
            f"""<form class="tagger-form" method="post" action="{session.SIGNIN_PATH}">
  <label>Username
    <input name="username" autocomplete="username" required maxlength="200" autofocus></label>
  <label>Password
    <input name="password" type="password" autocomplete="current-password" required></label>
  <button class="{"" if single_sign_on else "primary"}" type="submit">Sign in</button>
</form>"""
        )
    st.html("\n".join(parts))


def signout_form() -> None:
    """A "Sign out" button: our route revokes the session and clears the cookie."""
    st.html(
        f"""{_FORM_STYLE}
<form class="tagger-form" method="post" action="{session.SIGNOUT_PATH}">
  <button type="submit">Sign out</button>
</form>"""
    )


def video_player(video_id: int, *, captions: bool = False) -> None:
    """An HTML5 player streaming the stored file from our media route (Range requests), so
    the Streamlit server holds none of its bytes; :func:`seek_points` and the player keys seek
    it in the browser, without a run of the page."""
    track = (
        f'<track kind="captions" srclang="en" label="Transcript" default '
        f'src="{html.escape(media.captions_url(video_id))}">'
        if captions
        else ""
    )
    st.html(
        f'<video controls preload="metadata" style="width: 100%; max-height: 70vh" '
        f'data-testid="tagger-video" src="{html.escape(media.video_url(video_id))}">{track}</video>'
    )


def thumbnail_image(video_id: int, index: int, *, alt: str = "keyframe") -> None:
    """A keyframe thumbnail loaded by the browser from our media route."""
    st.html(_thumbnail_tag(video_id, index, alt))


def _thumbnail_tag(video_id: int, index: int, alt: str) -> str:
    src = html.escape(media.thumbnail_url(video_id, index))
    return (
        f'<img src="{src}" alt="{html.escape(alt)}" loading="lazy" '
        'style="width: 100%; border-radius: .25rem">'
    )


PREVIEW_S = 4.0  # the window a preview loops
PREVIEW_KEY = "P"


def preview_start(duration_s: float | None) -> float:
    """Where a video's preview starts: its window centred on the middle of the video (the
    opening seconds are often titles or black), or a few seconds in when the length is unknown.
    The browser moves it back if the file is shorter than its recorded length."""
    if not duration_s or duration_s <= 0:
        return PREVIEW_S / 2
    return max(0.0, duration_s / 2 - PREVIEW_S / 2)


def preview_thumbnail(
    video_id: int, thumbnail: int | None, *, start_s: float | None, alt: str
) -> None:
    """Keyframe ``thumbnail`` of the video (a blank box when None) that plays the video muted
    over itself, looping :data:`PREVIEW_S` seconds from ``start_s``, while the mouse is over it,
    once it is clicked or tapped, or on :data:`PREVIEW_KEY` in its grid column; ``start_s`` None
    (no file to play): the thumbnail only. The browser does it all (:func:`preview_keys` on the
    page): no run of the page, and only the ranges played are fetched from the media route."""
    image = (
        _thumbnail_tag(video_id, thumbnail, alt)
        if thumbnail is not None
        else f'<div class="{_PREVIEW_CLASS}-blank">no keyframe</div>'
    )
    if start_s is None:
        st.html(image)
        return
    st.html(
        f'<div class="{_PREVIEW_CLASS}" data-preview-src="{html.escape(media.video_url(video_id))}"'
        f' data-preview-start="{start_s:.2f}" title="Preview: hover, click or press '
        f'{PREVIEW_KEY}">{image}</div>'
    )


@dataclass(frozen=True)
class SeekPoint:
    """A place in the video the moderator can jump to: a keyframe or a transcript line."""

    seconds: float
    label: str  # shown after the time
    thumbnail: int | None = None  # keyframe index whose thumbnail the point shows


def seek_points(
    video_id: int, points: Sequence[SeekPoint], *, columns: int = 1, height_px: int | None = None
) -> None:
    """Buttons that seek the page's player in the browser (no run of the page, so a jump is
    instant and costs the server nothing), one HTML element for all of them: ``columns`` per
    row, scrolling beyond ``height_px``. Needs :func:`player_keys` on the page."""
    buttons = []
    for point in points:
        image = (
            _thumbnail_tag(video_id, point.thumbnail, f"keyframe at {timecode(point.seconds)}")
            if point.thumbnail is not None
            else ""
        )
        text = f"▶ {timecode(point.seconds)}" + (f"  {point.label}" if point.label else "")
        buttons.append(
            f'<button type="button" class="{_SEEK_CLASS}" data-seek="{point.seconds:.2f}">'
            f"{image}<span>{html.escape(text)}</span></button>"
        )
    scroll = f"max-height: {height_px}px; overflow-y: auto; " if height_px else ""
    st.html(
        f'<div style="{scroll}display: grid; gap: .35rem; '
        f'grid-template-columns: repeat({columns}, minmax(0, 1fr))">{"".join(buttons)}</div>'
    )


# --- the page script: keys and previews ----------------------------------------------------------

# Keys Streamlit's ``shortcut=`` cannot bind ("/" is punctuation) or that act on the browser's
# own <video> elements, and the previews of :func:`preview_thumbnail`. Installed once per browser
# tab (by whichever page comes first, hence one script for all pages); each part acts only while
# a page that rendered its marker element is shown, and no key acts while the user types in a
# field (a focused checkbox is not typing: it is how a keyboard user is on a sweep card).
_REVIEW_MARKER = "tagger-review-keys"
_PREVIEW_MARKER = "tagger-preview-keys"
_SEEK_CLASS = "tagger-seek"
_PREVIEW_CLASS = "tagger-preview"
_PAGE_SCRIPT = """
<span id="%(marker)s" hidden></span>
<style>
.%(seek)s { display: flex; flex-direction: column; gap: .2rem; width: 100%%; padding: .25rem;
  text-align: left; font: inherit; color: inherit; background: none; cursor: pointer;
  border: 1px solid rgba(128, 128, 128, .3); border-radius: .35rem; white-space: pre-wrap; }
.%(seek)s:hover, .%(seek)s:focus-visible { border-color: currentColor; }
.%(preview)s { position: relative; cursor: pointer; border-radius: .25rem; overflow: hidden; }
.%(preview)s img { display: block; }
.%(preview)s-video { position: absolute; inset: 0; width: 100%%; height: 100%%;
  object-fit: cover; background: #000; }
.%(preview)s-blank { aspect-ratio: 16 / 9; display: flex; align-items: center;
  justify-content: center; font-size: .8rem; opacity: .6; border-radius: .25rem;
  border: 1px dashed rgba(128, 128, 128, .5); }
</style>
<script>
(() => {
  if (window.__taggerPageScript) return;
  window.__taggerPageScript = true;
  const shown = (marker) => document.getElementById(marker) !== null;
  const CARD = ".%(preview)s[data-preview-src]";
  const WINDOW_S = %(window)s;
  let preview = null;  // {card, video, byKey}

  const stopPreview = () => {
    if (!preview) return;
    const video = preview.video;
    preview = null;
    video.pause();
    video.removeAttribute("src");
    video.load();  // aborts the fetch in flight
    video.remove();
  };
  const startPreview = (card, byKey) => {
    if (preview && preview.card === card && preview.video.isConnected) return;
    stopPreview();
    const video = document.createElement("video");
    const start = Number(card.dataset.previewStart) || 0;
    video.muted = true;
    video.playsInline = true;
    video.preload = "none";
    video.className = "%(preview)s-video";
    video.dataset.from = String(start);
    const from = () => Number(video.dataset.from);
    video.addEventListener("loadedmetadata", () => {
      const last = Number.isFinite(video.duration) ? video.duration - WINDOW_S : start;
      video.dataset.from = String(Math.max(0, Math.min(start, last)));
      video.currentTime = from();
    });
    video.addEventListener("timeupdate", () => {
      if (video.currentTime >= from() + WINDOW_S) video.currentTime = from();
    });
    video.addEventListener("ended", () => {
      video.currentTime = from();
      video.play().catch(() => {});
    });
    video.src = card.dataset.previewSrc;
    card.appendChild(video);
    preview = {card, video, byKey};
    video.play().catch(() => {});
  };
  const isCard = (node) => node instanceof Element && node.matches(CARD);
  const columnOf = (node) =>
    node instanceof Element ? node.closest('[data-testid="stColumn"]') : null;
  const typing = (target) => {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === "INPUT") return !["checkbox", "radio"].includes(target.type);
    return ["TEXTAREA", "SELECT"].includes(target.tagName);
  };

  document.addEventListener("mouseenter", (event) => {
    if (isCard(event.target)) startPreview(event.target, false);
  }, true);
  document.addEventListener("mouseleave", (event) => {
    if (preview && event.target === preview.card) stopPreview();
  }, true);
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const card = target && target.closest(CARD);
    if (card) { startPreview(card, false); return; }
    const point = target && target.closest(".%(seek)s[data-seek]");
    const video = document.querySelector("video");
    if (point && video) video.currentTime = Number(point.dataset.seek);
  }, true);
  document.addEventListener("focusin", (event) => {
    if (preview && preview.byKey && !columnOf(event.target)?.contains(preview.card)) {
      stopPreview();
    }
  }, true);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key.toLowerCase();
    if (shown("%(preview_marker)s") && key === "%(preview_key)s") {
      const card = columnOf(event.target)?.querySelector(CARD);
      if (!card) return;
      event.preventDefault();
      if (preview && preview.card === card) { stopPreview(); } else { startPreview(card, true); }
      return;
    }
    if (!shown("%(review_marker)s")) return;
    const video = document.querySelector("video");
    if (key === "/") {
      const search = document.querySelector('[data-testid="stMultiSelect"] input');
      if (search) { event.preventDefault(); search.focus(); }
    } else if (video && key === "k") {
      event.preventDefault();
      if (video.paused) { video.play(); } else { video.pause(); }
    } else if (video && key === "j") {
      video.currentTime = Math.max(0, video.currentTime - %(step)s);
    } else if (video && key === "l") {
      video.currentTime = Math.min(video.duration || Infinity, video.currentTime + %(step)s);
    }
  }, true);
})();
</script>
"""
SEEK_STEP_S = 5
PLAYER_KEYS = (
    ("/", "focus the tag search"),
    ("K", "play / pause"),
    ("J / L", f"seek back / forward {SEEK_STEP_S} s"),
)
PREVIEW_KEYS = ((PREVIEW_KEY, "preview the focused video (again: stop)"),)


def _page_script(marker: str) -> None:
    """The page script (constants only: no user text reaches it) and ``marker``, which turns on
    its part for this page (an invisible element)."""
    st.html(
        _PAGE_SCRIPT
        % {
            "marker": marker,
            "review_marker": _REVIEW_MARKER,
            "preview_marker": _PREVIEW_MARKER,
            "seek": _SEEK_CLASS,
            "preview": _PREVIEW_CLASS,
            "step": SEEK_STEP_S,
            "window": PREVIEW_S,
            "preview_key": PREVIEW_KEY.lower(),
        },
        unsafe_allow_javascript=True,
    )


def player_keys() -> None:
    """Bind the :data:`PLAYER_KEYS` and the clicks on :func:`seek_points` on this page."""
    _page_script(_REVIEW_MARKER)


def preview_keys() -> None:
    """Play the :func:`preview_thumbnail` previews of this page on hover, click or tap, and
    bind the :data:`PREVIEW_KEYS`."""
    _page_script(_PREVIEW_MARKER)


def shortcut_legend(keys: Sequence[tuple[str, str]]) -> None:
    """The page's keyboard shortcuts, one line: ``S`` save & next · ``N`` skip ..."""
    st.caption("Keys: " + " · ".join(f"`{key}` {md_escape(what)}" for key, what in keys))


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_csv(table: pd.DataFrame) -> bytes:
    """``table`` as UTF-8 CSV for people to open in a spreadsheet: a text cell that starts like a
    formula (``=``, ``+``, ``-``, ``@``, tab, carriage return: OWASP's CSV injection list) gets a
    leading ``'`` so it is shown as text instead of run (audit details hold titles and comments
    that anyone who uploads or reviews can write)."""

    def safe(value: object) -> object:
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            return "'" + value
        return value

    return table.map(safe).to_csv(index=False).encode("utf-8")
