"""The one name of Container Maker's plugin system and its pluggy markers.

``NAME`` is the pluggy project name, the marker name and the entry-point group in which plugins
declare themselves.
"""

from __future__ import annotations

import pluggy

NAME = "container_maker"

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)
