"""Logging that carries the run id on every line, and the one-line causes users are shown."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets


def new_run_id() -> str:
    """Sortable and unique enough: UTC time plus a short random suffix."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def one_line(message: str) -> str:
    """What failed, in one line: the message's first line or, for an error the Spark Connect client
    passes on from gRPC (whose first line is only "<_MultiThreadedRendezvous of RPC ...>" or
    "<_InactiveRpcError ...>"), the server's own words (its `details`); for an error raised in a
    Python worker (a traceback), the exception's own line."""
    text = message.strip()
    if details := re.search(r'details = "(.*?)"\n', text + "\n"):
        text = details[1].replace("\\n", "\n").strip()
    if "Traceback (most recent call last)" in text:  # an error in a Python worker: its last line says it
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return next((line for line in reversed(lines) if not line.startswith(("at ", "File "))), lines[-1])
    return text.splitlines()[0] if text else ""


class _RunIdFilter(logging.Filter):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


def setup_logging(run_id: str, level: str = "INFO") -> logging.Logger:
    handler = logging.StreamHandler()
    handler.addFilter(_RunIdFilter(run_id))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(run_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("py4j", "pyspark", "urllib3", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("lakehouse")


class Progress:
    """What a long job is doing, line by line, with its run id and the time since it started: on a
    terminal (stderr), so a 30-day run is never silent for minutes; in the log at INFO either way."""

    def __init__(self, run_id: str, enabled: bool | None = None) -> None:
        import sys
        import time

        self.run_id, self._clock, self._started = run_id, time.perf_counter, time.perf_counter()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, message: str) -> None:
        import sys

        logging.getLogger("lakehouse.progress").info("%s", message)
        if self.enabled:
            print(
                f"[{self.run_id} {self._clock() - self._started:7.1f} s] {message}",
                file=sys.stderr,
                flush=True,
            )
