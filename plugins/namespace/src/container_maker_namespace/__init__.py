"""Container Maker's namespace plugin: the namespace ("network") a container lives in.

Creates the namespace when missing (labelled as made by Container Maker, with Pod Security
Standards enforced, a ResourceQuota and a LimitRange), waits out a namespace that is still
terminating, and deletes only namespaces that Container Maker created.
"""
