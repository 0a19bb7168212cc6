"""Container Maker's status plugin: the sidecar that reports what the control plane cannot see.

It adds the ``cm-status`` container to every pod through ``cm_pod_extras`` (shaped by
:func:`container_maker.sidecar.sidecar_container`), running the Go agent of ``status-agent/``,
and owns the kind "status": the report Lease of each container and the namespace's status
identity.
"""
