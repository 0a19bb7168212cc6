"""The host of each EXPOSED port (pure): one browser origin per container and port.

A host is one DNS label under the operator's sandbox domain::

    <port>-<name>-<namespace>-<hash>.<domain>
    80-web-demo-6lhnhmlqcsfsz.containers.localhost     (port 80 of web in demo)

``<hash>`` is the first 13 characters of the base32 SHA-256 of the container id, namespace,
name and port (65 bits). It makes the label unambiguous where the readable part is not (names
and namespaces contain "-": web-a in b and web in a-b read alike), it keeps hosts distinct when
the readable part had to be shortened, and, because the container id is random and never
reused, a container created again under the same name gets a new origin: nothing a previous
holder of the name left in visitors' browsers (a service worker, cookies) applies to it.

Length: a DNS label is at most 63 characters, so the readable ``<name>-<namespace>`` part gets
what the port, the hash and two hyphens leave (43 characters with a 5-digit port). When it is
longer, name and namespace are cut to a fair share each (either gets the other's unused share),
and a hyphen left at the end of a cut piece is dropped. The domain is limited to 189 characters
by the settings, so a host never exceeds DNS's 253.
"""

from __future__ import annotations

import base64
import hashlib

MAX_LABEL = 63
HASH_LENGTH = 13


def host_hash(container_id: str, namespace: str, name: str, port: int) -> str:
    """The label's suffix: 13 base32 characters (lowercase letters and 2-7)."""
    digest = hashlib.sha256(f"{container_id}\n{namespace}\n{name}\n{port}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:HASH_LENGTH]


def _readable(name: str, namespace: str, budget: int) -> str:
    """``<name>-<namespace>`` in at most ``budget`` characters."""
    if len(name) + 1 + len(namespace) <= budget:
        return f"{name}-{namespace}"
    room = budget - 1  # one for the hyphen between the two
    name_length = min(len(name), max(room // 2, room - len(namespace)))
    return f"{name[:name_length].rstrip('-')}-{namespace[: room - name_length].rstrip('-')}"


def host_label(container_id: str, namespace: str, name: str, port: int) -> str:
    """The first label of the host of ``port`` of a container (at most 63 characters)."""
    head = str(port)
    suffix = host_hash(container_id, namespace, name, port)
    budget = MAX_LABEL - len(head) - len(suffix) - 2
    return f"{head}-{_readable(name, namespace, budget)}-{suffix}"


def ingress_host(domain: str, container_id: str, namespace: str, name: str, port: int) -> str:
    """The host of ``port`` of a container under ``domain``."""
    return f"{host_label(container_id, namespace, name, port)}.{domain}"
