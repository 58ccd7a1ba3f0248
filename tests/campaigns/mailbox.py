"""Email backends of the send tests: a file backend the test can stall at a given message,
so a real worker can be killed at a known point; and a reader of what was delivered."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend as FileBackend

_HEADER = re.compile(rb"^(Message-ID|To): (.+?)\r?$", re.MULTILINE)


class StallingFileBackend(FileBackend):
    """Writes each message to EMAIL_FILE_PATH (flushed per message); before message number
    MAILBOX_STALL_AT (counted across the process) it touches MAILBOX_STALL_FILE and sleeps,
    so the test knows the worker is in the middle of a batch when it kills it."""

    delivered = 0

    def send_messages(self, messages):
        stall_at = int(os.environ.get("MAILBOX_STALL_AT", "0"))
        for message in messages:
            StallingFileBackend.delivered += 1
            if StallingFileBackend.delivered == stall_at:
                Path(os.environ["MAILBOX_STALL_FILE"]).touch()
                time.sleep(120)
            super().send_messages([message])
        return len(messages)


def delivered(directory: Path) -> tuple[Counter[str], Counter[str]]:
    """(messages per Message-ID, messages per recipient address) in a file backend's files."""
    by_id: Counter[str] = Counter()
    by_address: Counter[str] = Counter()
    for path in directory.glob("*.log"):
        for name, value in _HEADER.findall(path.read_bytes()):
            (by_id if name == b"Message-ID" else by_address)[value.decode()] += 1
    return by_id, by_address
