"""Media-serving rows of the review benchmark: a real dashboard server, real Chromium sessions,
videos of about 500 MB each.

- player ready: from the click that opens a video for review to the player having its metadata
  (``readyState >= 1``), one moderator alone, then during three concurrent ones;
- server memory: the dashboard server's RSS after a warm-up sign-in, and after one moderator's
  opens then 3 concurrent browser sessions opening 20 large videos each (and its peak, VmHWM);
- with ``--baseline``, the same page with the old ``st.video`` player (the review page copied
  with only the player call swapped back) on a second server, one moderator, a few opens: it
  copies the whole file into Streamlit's in-memory media store on every open.

The videos (high-bitrate noise, distinct per file) are generated once with PyAV into the work
dir and reused. ``rows()`` returns the table rows for the review benchmark to include.

    python -m scripts.bench.media_serving --work-dir /tmp/bench-media [--baseline]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from core import auth
from core.config import get_settings
from db.queries import users as user_queries
from db.queries import videos as video_queries
from db.tables import VideoStatus
from scripts.bench.common import (
    REPO,
    Row,
    format_mib,
    format_seconds,
    fresh_settings,
    open_database,
)
from scripts.bench.live_dashboard import dashboard_server, run_browser_script

BROWSER_SCRIPT = REPO / "scripts" / "bench" / "media_browser.py"
PASSWORD = "bench password 1"
FPS = 25
WIDTH, HEIGHT = 640, 360
SEGMENT_FRAMES = 100  # one GOP of noise, encoded once per file and repeated
SESSION_DEADLINE_S = 1500
PLAYER_CALL = re.compile(r"^(\s*)video_player\(data\.video\.id,.*\)$", re.MULTILINE)
OLD_PLAYER = "{indent}st.video(str(data.media_path))"


@dataclass(frozen=True)
class Plan:
    video_mb: int = 500
    files: int = 4
    sessions: int = 3
    opens: int = 20
    solo_opens: int = 5
    baseline_opens: int = 3


def large_video(folder: Path, index: int, target_bytes: int) -> Path:
    """An H.264 mp4 of about ``target_bytes``: one GOP of seeded noise (nearly incompressible),
    repeated; cached in ``folder``."""
    path = folder / f"noise-{index}-{target_bytes // 2**20}MiB.mp4"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    segment = folder / f".segment-{index}.mp4"
    rng = np.random.default_rng(index)
    with av.open(str(segment), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "8", "bframes": "0", "g": "1000"}
        for _ in range(SEGMENT_FRAMES):
            image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    repeats = max(1, round(target_bytes / segment.stat().st_size))
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), "w") as out:
        dst = None
        offset = 0
        for _ in range(repeats):  # demuxed afresh each time: muxing rescales packets in place
            with av.open(str(segment)) as source:
                src = source.streams.video[0]
                dst = dst or out.add_stream_from_template(src)
                end = offset
                for packet in source.demux(src):
                    if not packet.size:
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + packet.duration)
                    packet.stream = dst
                    out.mux(packet)
            offset = end
    partial.rename(path)
    segment.unlink()
    return path


def _seed(data_dir: Path, files: list[Path], n_videos: int, usernames: list[str]) -> None:
    settings = fresh_settings(get_settings(), data_dir)
    db = open_database(settings)
    stored = []
    for file in files:
        target = settings.media_dir / file.name
        if not target.exists():
            target.hardlink_to(file)
        stored.append(str(target.relative_to(settings.data_dir)))
    password_hash = auth.hash_password(PASSWORD)
    with db.session() as s:
        for name in usernames:
            user_queries.create_user(s, username=name, password_hash=password_hash)
        for i in range(n_videos):
            video_queries.create_video(
                s,
                title=f"Large video {i}",
                stored_path=stored[i % len(stored)],
                content_hash=f"noise{i % len(stored)}",
                status=VideoStatus.READY,
            )
    db.dispose()


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"/proc/{pid}/status has no {field}")


def _browse(url: str, username: str, opens: int) -> tuple[list[float], list[float]]:
    """Seconds of each open (click to player ready) and of the player's own part of it."""
    args = [url, username, PASSWORD, str(opens)]
    seen = run_browser_script(BROWSER_SCRIPT, args, timeout_s=SESSION_DEADLINE_S)
    return seen["open_s"], seen["player_s"]


def _old_player_server(folder: Path) -> Path:
    """A copy of dashboard/ whose review page uses ``st.video`` again; its server file."""
    copy = folder / "dashboard_st_video"
    shutil.copytree(REPO / "dashboard", copy, ignore=shutil.ignore_patterns("__pycache__"))
    review = copy / "views" / "review.py"
    source, swapped = PLAYER_CALL.subn(
        lambda m: OLD_PLAYER.format(indent=m.group(1)), review.read_text()
    )
    if swapped != 1:
        raise SystemExit("cannot find the video_player(...) call in dashboard/views/review.py")
    review.write_text(source)
    return copy / "server.py"


@dataclass(frozen=True)
class Measured:
    solo_s: list[float]
    solo_player_s: list[float]
    concurrent_s: list[float]
    rss_before_kib: int
    rss_after_kib: int
    peak_kib: int


def _measure(data_dir: Path, plan: Plan, *, server_file: Path | None, concurrent: bool) -> Measured:
    env = {"TAGGER_DATA_DIR": str(data_dir)}
    extra = {"server_file": server_file} if server_file else {}
    with dashboard_server(env, data_dir / "server.log", **extra) as (url, pid):
        _browse(url, "solo", 0)  # warm-up: sign in, queue page (every module imported)
        before = _rss_kib(pid)
        solo, solo_player = _browse(
            url, "solo", plan.solo_opens if concurrent else plan.baseline_opens
        )
        together: list[float] = []
        if concurrent:
            with ThreadPoolExecutor(plan.sessions) as pool:
                runs = [
                    pool.submit(_browse, url, f"mod{i}", plan.opens) for i in range(plan.sessions)
                ]
                for run in runs:
                    together += run.result()[0]
        after, peak = _rss_kib(pid), _rss_kib(pid, "VmHWM")
        return Measured(solo, solo_player, together, before, after, peak)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def rows(work: Path, plan: Plan = Plan(), *, baseline: bool = False) -> list[Row]:
    """Measure and return the media rows (section ``media``)."""
    files = [large_video(work / "videos", i, plan.video_mb * 10**6) for i in range(plan.files)]
    size_mb = statistics.mean(f.stat().st_size for f in files) / 10**6
    users = ["solo", *(f"mod{i}" for i in range(plan.sessions))]
    n_videos = plan.solo_opens + plan.sessions * plan.opens + plan.files
    with tempfile.TemporaryDirectory(dir=work, prefix="run-") as folder:
        run = Path(folder)
        _seed(run / "streamed", files, n_videos, users)
        streamed = _measure(run / "streamed", plan, server_file=None, concurrent=True)
        old = None
        if baseline:
            _seed(run / "st_video", files, plan.baseline_opens + 1, users)
            old = _measure(
                run / "st_video", plan, server_file=_old_player_server(run), concurrent=False
            )
    solo = statistics.median(streamed.solo_s)
    old_solo = statistics.median(old.solo_s) if old else None
    player = statistics.median(streamed.solo_player_s) if streamed.solo_player_s else None
    old_player = statistics.median(old.solo_player_s) if old and old.solo_player_s else None
    growth = streamed.rss_after_kib - streamed.rss_before_kib
    old_growth = old.rss_after_kib - old.rss_before_kib if old else None
    n_total = plan.sessions * plan.opens
    return [
        Row(
            "media",
            f"review page of a {size_mb:.0f} MB video until the player is ready, one moderator "
            f"(median of {len(streamed.solo_s)}, max {format_seconds(max(streamed.solo_s))})",
            format_seconds(solo),
            f"st.video: {format_seconds(old_solo)}" if old else "not measured",
            f"{old_solo / solo:.1f}x faster" if old else "-",
            "< 1 s",
            solo < 1,
        ),
        Row(
            "media",
            "of which the player itself: its element in the page -> metadata loaded (median)",
            format_seconds(player) if player is not None else "not measured",
            f"st.video: {format_seconds(old_player)}" if old_player is not None else "-",
            f"{old_player / player:.1f}x faster" if player and old_player else "-",
        ),
        Row(
            "media",
            f"same, while {plan.sessions} moderators open {plan.opens} videos each "
            f"(p50 / p95 of {len(streamed.concurrent_s)})",
            f"{format_seconds(statistics.median(streamed.concurrent_s))} / "
            f"{format_seconds(_p95(streamed.concurrent_s))}",
        ),
        Row(
            "media",
            f"dashboard server RSS growth: {plan.solo_opens} opens by one moderator, then "
            f"{plan.sessions} concurrent browser sessions open {plan.opens} videos of "
            f"{size_mb:.0f} MB each ({n_total} opens; "
            f"{format_mib(streamed.rss_before_kib)} before, {format_mib(streamed.rss_after_kib)} "
            f"after, peak {format_mib(streamed.peak_kib)})",
            f"+{format_mib(growth)}",
            f"st.video: +{format_mib(old_growth)} after {plan.baseline_opens} opens, one "
            f"moderator (peak {format_mib(old.peak_kib)})"
            if old
            else "not measured",
            "-",
            "< 150 MB",
            growth * 1024 < 150 * 10**6,
        ),
    ]


def markdown(table: list[Row]) -> str:
    lines = [
        "| measure | value | compared with | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in table:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        lines.append(f"| {r.measure} | {r.value} | {r.baseline} | {r.ratio} | {r.goal} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True, help="videos are cached here")
    parser.add_argument("--baseline", action="store_true", help="also measure st.video")
    parser.add_argument("--video-mb", type=int, default=Plan.video_mb)
    parser.add_argument("--opens", type=int, default=Plan.opens, help="per concurrent session")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    plan = Plan(video_mb=args.video_mb, opens=args.opens)
    print(markdown(rows(args.work_dir.resolve(), plan, baseline=args.baseline)))


if __name__ == "__main__":
    main()
