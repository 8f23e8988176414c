"""Log lines as JSON objects, one a line (``TAGGER_LOG_FORMAT=json``): log aggregators (Loki,
Elasticsearch, Cloud Logging) then read each field as it is instead of parsing text lines."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# what every record has; any other attribute came from the ``extra=`` of the logging call
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, to the millisecond), ``level``, ``logger``,
    ``message``, ``exception`` (the traceback) and ``stack`` where the call logged them, and the
    record's ``extra=`` fields, as their ``str()`` where JSON cannot hold them. An extra field
    named like one of those gives way to it; attributes with a leading underscore are left
    out."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .removesuffix("+00:00")
            + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            # an underscore: a record factory's own (Ray stamps ``_ray_timestamp_ns`` on every
            # record of a process that imported it), not the call's
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                line.setdefault(name, value)
        return json.dumps(line, default=str)
