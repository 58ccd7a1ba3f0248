from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError


class KindBusy(RuntimeError):
    """Another run of this kind is running for the tenant; try again later."""


class RunStillRunning(RuntimeError):
    """The run is held by a live worker (fresh heartbeat); check again later."""


# Errors worth retrying: the database or broker blinked, the work itself is fine.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError)
