"""Fixtures of the training platform's tests: the scripted trainer and a real worker."""

from __future__ import annotations

import tests.training.scripted_trainer  # noqa: F401  (registers the scripted kind here too)
from tests.worker import STALE_SECONDS, needs_worker, start_worker  # noqa: F401  (fixtures)
