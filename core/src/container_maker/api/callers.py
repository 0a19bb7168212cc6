"""The caller of the call being handled, for the servicer and the API's limits.

The interceptor authenticates each ContainerMakerAPI call and sets :data:`CALLER` for the
duration of its handler (a watch stream: for as long as it streams); :func:`current_caller`
reads it. Outside a call it is the anonymous local identity.
"""

from __future__ import annotations

from contextvars import ContextVar

from container_maker.auth import LOCAL_IDENTITY, Identity

CALLER: ContextVar[Identity] = ContextVar("container_maker_caller", default=LOCAL_IDENTITY)


def current_caller() -> Identity:
    """The authenticated caller of the call this thread is handling."""
    return CALLER.get()
