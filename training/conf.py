"""Training platform settings, read lazily so tests can override them."""

from django.conf import settings


def heartbeat_seconds() -> float:
    return float(getattr(settings, "TRAINING_HEARTBEAT_SECONDS", 10))


def stale_after_seconds() -> float:
    return float(getattr(settings, "TRAINING_STALE_AFTER_SECONDS", 120))


def max_attempts() -> int:
    return int(getattr(settings, "TRAINING_MAX_ATTEMPTS", 3))


def default_tolerance() -> float:
    return float(getattr(settings, "TRAINING_DEFAULT_TOLERANCE", 0.01))


def artifact_root():
    return settings.ARTIFACT_ROOT
