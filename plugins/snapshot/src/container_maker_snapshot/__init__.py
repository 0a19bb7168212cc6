"""Container Maker's snapshot plugin: the sidecar that saves a container (``saveContainer``).

It adds the ``cm-snapshot`` container to every pod through ``cm_pod_extras`` (shaped by
:func:`container_maker.sidecar.sidecar_container`) and answers ``cm_save`` by running the Go
agent of ``snapshot-agent/`` in that sidecar. It owns no kind.
"""
