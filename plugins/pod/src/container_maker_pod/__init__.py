"""Container Maker's pod plugin: the pod that is the container.

The pod holds the user's container, the sidecars contributed through ``cm_pod_extras`` and the
shared snapshot volume. It never runs privileged containers, mounts no ServiceAccount token, and
is created with a retry while a new namespace's default ServiceAccount does not exist yet.
"""
