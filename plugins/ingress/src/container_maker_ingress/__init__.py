"""Container Maker's ingress plugin: HTTP routing to an EXPOSED container's Service.

One path per published TCP port, ``/<namespace>/<container>/<port>``, unique per container so
that two containers never collide on one host. Host and ingress class come from the settings.
The Ingress is owned by the pod.
"""
