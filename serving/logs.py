"""Structured request logs: one JSON object per line on stderr (logger `spend.serving`), for a log
shipper to parse. Endpoint, status, milliseconds, caller role, model and version, degraded and why, how
many customers or payments; never ids or personal data (the audit trail names the key, this log does not).
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from functools import lru_cache

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json_line(record.created, record.levelname, record.getMessage(), getattr(record, "fields", {}))


def json_line(created: float, level: str, message: str, fields: dict) -> str:
    event = {"at": datetime.fromtimestamp(created, UTC), "level": level, "event": message} | fields
    # orjson: a line per request, and the standard library's json was a fortieth of a fraud score
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str).decode("utf-8")


@lru_cache(maxsize=1)
def request_logger() -> logging.Logger:
    """Built on first use (no handler is installed at import); BentoML's own log config is left alone."""
    logger = logging.getLogger("spend.serving")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_request(**fields) -> None:
    level = logging.WARNING if fields.get("status", 200) >= 500 or fields.get("degraded") else logging.INFO
    logger = request_logger()
    handler = _own_handler(logger)
    if handler is None:  # a handler or filter someone added: the logging module's whole path
        logger.log(level, "request", extra={"fields": fields})
    elif logger.isEnabledFor(level) and level >= handler.level:
        # The line the handler would write, without building a LogRecord and passing it through the
        # handler chain: that plumbing was half of this line's cost, on every request.
        line = json_line(time.time(), logging.getLevelName(level), "request", fields) + handler.terminator
        try:
            with handler.lock:
                handler.stream.write(line)
                handler.stream.flush()
        except Exception:  # noqa: BLE001 - a stream that fails is the logging module's to report, as before
            logger.log(level, "request", extra={"fields": fields})


def _own_handler(logger: logging.Logger) -> logging.StreamHandler | None:
    """The logger's handler when it is the one request_logger() installed, alone and unfiltered."""
    if len(logger.handlers) != 1 or logger.filters or logger.disabled:
        return None
    handler = logger.handlers[0]
    own = type(handler) is logging.StreamHandler and type(handler.formatter) is JsonFormatter
    return handler if own and not handler.filters else None


class NoValuesInErrors(logging.Filter):
    """BentoML logs every rejected request with a traceback, and pydantic's message in it repeats the
    values it rejected: card ids, customer ids. A rejected body becomes one line with the count and the
    fields; any other exception keeps its traceback without its message (which may hold values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[0] is None:
            return True
        kind, error, tb = record.exc_info
        from pydantic import ValidationError

        if isinstance(error, ValidationError):
            fields = sorted({".".join(map(str, e["loc"])) for e in error.errors(include_input=False)})
            record.msg, record.args = "request body rejected: %d error(s) in %s", (error.error_count(), fields)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
            return True
        record.exc_text = "Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb)) + kind.__name__
        record.exc_info = None
        return True


BENTOML_ERRORS = "bentoml._internal.server.http_app"  # the logger of BentoML's log_exception


def install_error_filter() -> None:
    logger = logging.getLogger(BENTOML_ERRORS)
    if not any(isinstance(f, NoValuesInErrors) for f in logger.filters):
        logger.addFilter(NoValuesInErrors())
    quiet_library_warnings()


def quiet_library_warnings() -> None:
    """BentoML's request handling reads `model_fields` on an instance, which pydantic 2.11 deprecates: a
    warning and its source line on the service's output at the first request, about code that is not
    Spend's. Only that one is silenced."""
    import warnings

    from pydantic.warnings import PydanticDeprecatedSince211

    warnings.filterwarnings("ignore", category=PydanticDeprecatedSince211, module=r"_bentoml_impl\.")
