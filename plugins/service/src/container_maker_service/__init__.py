"""Container Maker's service plugin: the Service in front of a container's pod.

ClusterIP for CLUSTER_LOCAL; LoadBalancer for CLUSTER_EXTERNAL and EXPOSED (where requested node
ports are honoured). The Service is owned by the pod.
"""
