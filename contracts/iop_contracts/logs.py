"""Structured JSON logs with correlation ids and no personal data.

Log calls pass ids in `extra` (client_id, correlation_id, event_id, region_id, ...); anything else a
caller might put there is dropped unless it is on the allow-list, so a careless `extra={"contact":
...}` cannot leak.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

ALLOWED_FIELDS = frozenset(
    {
        "client_id",
        "region_id",
        "group_id",
        "therapist_id",
        "site_id",
        "event_id",
        "event_type",
        "correlation_id",
        "causation_id",
        "topic",
        "partition",
        "offset",
        "schedule_version",
        "channel",
        "batch_size",
        "solve_s",
        "status",
        "placed",
        "waitlisted",
        "reason",
        "count",
        "duration_s",
        "attempt",
        "outcome",
        "port",
    }
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in ALLOWED_FIELDS:
            if field in record.__dict__:
                entry[field] = record.__dict__[field]
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks may carry payload values.
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs whole record values (contact details among them) at DEBUG.
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, logging.getLevelName(level.upper())))
    # Run as `uvicorn module:create_app --factory`, uvicorn has given its loggers plain-text
    # handlers of their own before the factory runs: its lines go through ours instead, and its
    # access log (request paths hold client ids) is off.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
