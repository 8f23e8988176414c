"""core/logs.py: one JSON object per record, with the fields a log aggregator reads."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.logs import JsonFormatter


def _record(message: str = "rank job started", *args: object, **extra: object) -> logging.LogRecord:
    """The record of ``logging.getLogger("core.lifecycle").info(message, *args, extra=extra)``."""
    return logging.getLogger("core.lifecycle").makeRecord(
        "core.lifecycle", logging.INFO, __file__, 1, message, args, None, extra=extra
    )


def test_a_record_is_one_json_line_with_time_level_logger_and_message() -> None:
    record = _record("rank job %s started", 7)
    record.created = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC).timestamp()

    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-03-01T12:30:05.123Z",
        "level": "INFO",
        "logger": "core.lifecycle",
        "message": "rank job 7 started",
    }


def test_a_message_with_line_breaks_and_quotes_stays_on_one_line() -> None:
    line = JsonFormatter().format(_record('a "quoted"\nsecond line'))
    assert "\n" not in line
    assert json.loads(line)["message"] == 'a "quoted"\nsecond line'


def test_an_exception_comes_as_its_traceback() -> None:
    try:
        raise ValueError("no such tag")
    except ValueError:
        record = _record("job failed")
        record.exc_info = sys.exc_info()

    fields = json.loads(JsonFormatter().format(record))

    assert fields["message"] == "job failed"
    assert fields["exception"].startswith("Traceback (most recent call last):")
    assert fields["exception"].endswith("ValueError: no such tag")


def test_no_exception_field_without_one() -> None:
    assert "exception" not in json.loads(JsonFormatter().format(_record()))


def test_a_stack_asked_for_comes_along() -> None:
    record = _record()
    record.stack_info = 'Stack (most recent call last):\n  File "x.py", line 1, in <module>'
    assert json.loads(JsonFormatter().format(record))["stack"] == record.stack_info


def test_extra_fields_come_along_as_they_are() -> None:
    fields = json.loads(
        JsonFormatter().format(_record(video_id=42, tags=["Sports", "Travel"], ok=None))
    )
    assert fields["video_id"] == 42
    assert fields["tags"] == ["Sports", "Travel"]
    assert fields["ok"] is None


def test_an_extra_field_json_cannot_hold_comes_as_its_str() -> None:
    fields = json.loads(JsonFormatter().format(_record(path=Path("/data/a.mp4"), when={1})))
    assert fields["path"] == "/data/a.mp4"
    assert fields["when"] == "{1}"


def test_an_extra_field_does_not_replace_a_standard_one() -> None:
    fields = json.loads(JsonFormatter().format(_record("mine", level="fake", logger="fake")))
    assert fields["level"] == "INFO"
    assert fields["logger"] == "core.lifecycle"


@pytest.mark.parametrize("attribute", ["args", "msg", "pathname", "lineno", "process", "thread"])
def test_the_records_own_attributes_are_not_taken_for_extra_fields(attribute: str) -> None:
    assert attribute not in json.loads(JsonFormatter().format(_record()))


def test_a_record_factorys_private_attributes_are_left_out() -> None:
    """Ray's record factory stamps every record of a process that imported it."""
    record = _record("mine", job=7)
    record._ray_timestamp_ns = 1796638466200126205
    fields = json.loads(JsonFormatter().format(record))
    assert "_ray_timestamp_ns" not in fields and fields["job"] == 7


def test_a_logger_with_the_formatter_writes_json_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.core.test_logs")
    logger.addHandler(handler)
    try:
        logger.warning("first")
        logger.error("second", extra={"job_id": 3})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "first"),
        ("ERROR", "second"),
    ]
    assert lines[1]["job_id"] == 3
