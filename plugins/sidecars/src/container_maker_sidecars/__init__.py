"""Container Maker's sidecar plugins: ``snapshot`` and ``status``.

Each adds one container to every pod through the ``cm_pod_extras`` hook: unprivileged, with all
capabilities dropped, its own small resource requests (``Settings.sidecar_resources``) and its
image from the settings. The programs inside the images arrive with the save and status issues;
until then the containers run whatever the configured images run.
"""
