"""The request log: one JSON line per request on stderr, written directly when the logger is Spend's own
and through the logging module's handlers when someone added theirs; the same line either way."""

from __future__ import annotations

import io
import json
import logging

import pytest

from spend.serving import logs


@pytest.fixture()
def logger():
    """Spend's request logger as the service has it: its own handler alone. pytest attaches its capture
    handlers to every logger that does not propagate, at each phase of a test; the tests set them aside
    with `_alone` and the fixture puts the logger back as it found it."""
    log = logging.getLogger("spend.serving")
    kept = (log.handlers[:], log.filters[:], log.level, log.propagate)
    log.handlers.clear()
    logs.request_logger.cache_clear()
    logs.request_logger()
    stream = io.StringIO()
    log.handlers[0].stream = stream
    yield log, stream
    log.handlers[:], log.filters[:] = kept[0], kept[1]
    log.setLevel(kept[2])
    log.propagate = kept[3]
    logs.request_logger.cache_clear()


def _alone(log: logging.Logger) -> None:
    log.handlers[:] = [h for h in log.handlers if type(h.formatter) is logs.JsonFormatter]


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_handlers_line(logger, monkeypatch):
    log, stream = logger
    _alone(log)
    through_handlers = []
    monkeypatch.setattr(log, "handle", through_handlers.append)  # the logging module's path, watched
    logs.log_request(endpoint="fraud_score", status=200, ms=1.25, role="pricing-engine", payments=1)
    assert not through_handlers  # written directly
    monkeypatch.undo()
    log.addFilter(lambda record: True)  # a filter of someone's: the logging module's path
    logs.log_request(endpoint="fraud_score", status=200, ms=1.25, role="pricing-engine", payments=1)
    direct, handled = _lines(stream)
    assert direct.pop("at") and handled.pop("at")
    assert (
        direct
        == handled
        == {
            "endpoint": "fraud_score",
            "event": "request",
            "level": "INFO",
            "ms": 1.25,
            "payments": 1,
            "role": "pricing-engine",
            "status": 200,
        }
    )
    assert list(direct) == sorted(direct)  # keys sorted, as the formatter writes them


def test_levels_are_kept_on_the_direct_path(logger):
    log, stream = logger
    _alone(log)
    logs.log_request(endpoint="churn_score", status=503, ms=2.0)
    logs.log_request(endpoint="fraud_score", status=200, ms=1.0, degraded=True)
    log.handlers[0].setLevel(logging.WARNING)
    logs.log_request(endpoint="fraud_score", status=200, ms=1.0)  # below the handler's level: not written
    log.setLevel(logging.ERROR)
    logs.log_request(endpoint="churn_score", status=503, ms=2.0)  # below the logger's: not written
    assert [line["level"] for line in _lines(stream)] == ["WARNING", "WARNING"]


def test_a_handler_someone_added_gets_every_request(logger):
    log, stream = logger
    _alone(log)
    records: list[logging.LogRecord] = []
    extra = logging.Handler()
    extra.emit = records.append
    log.addHandler(extra)
    logs.log_request(endpoint="segments_lookup", status=200, ms=0.5)
    assert len(records) == 1 and records[0].fields["endpoint"] == "segments_lookup"
    assert _lines(stream)[0]["endpoint"] == "segments_lookup"


def test_a_stream_that_fails_is_reported_as_logging_reports_it(logger, monkeypatch):
    """A closed or broken stream must not fail the request: the logging module's handleError reports it
    (on stderr, without raising), as it did before the line was written directly."""
    log, stream = logger
    _alone(log)
    stream.close()
    reported = []
    monkeypatch.setattr(log.handlers[0], "handleError", reported.append)
    logs.log_request(endpoint="fraud_score", status=200, ms=1.0)
    assert len(reported) == 1 and reported[0].fields["endpoint"] == "fraud_score"
