"""Log format of every ``bridge`` command: text lines (default) or JSON lines
(``BRIDGE_LOG_FORMAT=json``) for log collectors.

A JSON line has ``ts`` (ISO-8601, UTC), ``level``, ``logger``, ``message`` and, for an
exception, ``exc_type`` and ``exc_where`` (the innermost frames, file and line). The
exception's message is left out: it may quote a value of a row. The bridge's own messages
name tables, keys, reference ids and error codes only (docs/design.md, decision 8).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import datetime, timezone
from typing import Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            frames = traceback.extract_tb(record.exc_info[2])[-4:]
            line["exc_where"] = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, fmt: Literal["text", "json"]) -> None:
    """The root logger of a ``bridge`` process, on standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
