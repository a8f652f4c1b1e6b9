"""Log lines as JSON, one object a line, for a log collector (journald, Loki, Elasticsearch): the instant,
level, logger, message and any exception's traceback, with every phone-like run of digits masked in the
message and the traceback alike (a database error's text can carry the number it was given)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from dialer.core.privacy import scrub_phones


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            # The host's clock, as any log line's: when it was written, not the clinic's (rehearsal) time.
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_phones(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = scrub_phones(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = scrub_phones(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub_phones(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for `--log-format` / `[service] log_format`: "text" (the default) or "json"."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format: text or json, not {log_format!r}")


def use_format(log_format: str) -> None:
    """Switch every handler on the root logger to the format (after the settings name one)."""
    chosen = formatter(log_format)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(chosen)
