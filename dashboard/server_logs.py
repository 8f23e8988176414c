"""The dashboard server's log lines on stderr, the product's and Streamlit's (its server,
uvicorn) alike: text lines to read, or with ``TAGGER_LOG_FORMAT=json`` one JSON object a line
(:class:`core.logs.JsonFormatter`) for a log aggregator."""

from __future__ import annotations

import functools
import logging

from streamlit import logger as streamlit_logger

from core.config import Settings
from core.logs import JsonFormatter

# the product's own text lines, as Streamlit's are written (dashboard/.streamlit/config.toml)
TEXT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"


def set_up_server_logs(settings: Settings) -> None:
    """The root logger writes to stderr at ``settings.log_level`` in ``settings.log_format``;
    in JSON, Streamlit's and uvicorn's loggers too. A second call changes nothing (the server
    file calls it too, for a server started by ``streamlit run`` itself)."""
    if settings.log_format == "text":
        logging.basicConfig(
            level=settings.log_level, format=TEXT_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"
        )
        return
    logging.basicConfig(level=settings.log_level, handlers=[_json_handler(logging.NOTSET)])
    _streamlit_logs_as_json()
    # Python writes the warnings of a logger that has no handler as bare text: uvicorn's
    # (an exception in a request, a request that is not HTTP) since Streamlit and then uvicorn
    # set that logger up
    logging.lastResort = _json_handler(logging.WARNING)


def _json_handler(level: int) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter())
    return handler


def _streamlit_logs_as_json() -> None:
    """Streamlit's loggers do not propagate: each has a console handler of Streamlit's with a
    text formatter (``logger.messageFormat``), given when the logger is first asked for and
    again whenever Streamlit parses its config, and Streamlit has no setting for another
    formatter. So its ``setup_formatter`` is wrapped to put the JSON formatter on that handler,
    and the handlers of the loggers made so far get it now."""
    set_up_text = streamlit_logger.setup_formatter
    if hasattr(set_up_text, "__wrapped__"):  # set up already (dashboard/run_streamlit.py)
        return

    @functools.wraps(set_up_text)
    def set_up_json(logger: logging.Logger) -> None:
        set_up_text(logger)
        _console_handler_as_json(logger)

    streamlit_logger.setup_formatter = set_up_json
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            _console_handler_as_json(logger)


def _console_handler_as_json(logger: logging.Logger) -> None:
    """Streamlit's handler only, and not put back where uvicorn took it off: that would turn on
    uvicorn's access log, which Streamlit turns off."""
    if handler := getattr(logger, "streamlit_console_handler", None):
        handler.setFormatter(JsonFormatter())
