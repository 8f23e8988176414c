"""The video file types the product takes in: folder scans, dataset video folders and uploads.

Its own light module so that the dashboard's upload form can name them without loading the
ingest pipeline (PyAV, the encoders). A file of another type is never picked up; one of these
types that does not decode is rejected by the probe with its reason.
"""

from __future__ import annotations

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".flv",
        ".wmv",
        ".3gp",
    }
)
