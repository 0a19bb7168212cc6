"""Container Maker's ingress plugin: HTTP routing to an EXPOSED container's Service.

One host per published TCP port under the operator's sandbox domain
(``settings.ingress_domain``; :mod:`.hosts`), each routing every path to that port of the
container's Service, so that no two containers or ports share a browser origin. EXPOSED without
a domain is refused before anything is created. Class and TLS Secret come from the settings.
The Ingress is owned by the pod.
"""
