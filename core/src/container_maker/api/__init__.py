"""The gRPC API: the layer above the container manager that clients talk to.

- :mod:`.conversion`: protobuf messages <-> core models (the only place that knows both).
- :mod:`.servicer`: the ``containermaker.ContainerMakerAPI`` methods (convert in, call the
  manager, convert out).
- :mod:`.interceptor`: request ids, one log line per call, and the mapping of the core error
  hierarchy to gRPC status codes.
- :mod:`.limits`: the limits per caller (creates per second per tenant, open watch streams per
  caller), applied by the servicer.
- :mod:`.server`: :func:`create_server` (servicer, health, reflection, interceptor, TLS, and a
  health server on a port of its own) and the serving lifecycle (SIGTERM: health NOT_SERVING,
  then stop with a grace period; a second signal: stop now).
- :mod:`.signals`: SIGTERM and SIGINT without a lock in the handler (a wakeup pipe).
- :mod:`.kubeconfig`: how the server finds its Kubernetes cluster.
- :mod:`.logs`: structured logging, one JSON line per event, with the request id.
"""

from __future__ import annotations

from .server import ApiServer, TlsConfig, create_server

__all__ = ["ApiServer", "TlsConfig", "create_server"]
