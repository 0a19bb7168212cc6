"""A real Kubernetes cluster for Container Maker's tests and local use.

The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) is built from
Go modules by ``cluster/kube`` and runs on loopback; nodes are simulated by KWOK. Use it from
the command line (``python -m container_maker_testcluster up``), from Python
(:class:`LocalCluster`), or from pytest (the ``kube_cluster`` and ``namespace`` fixtures, which
this distribution registers as a pytest plugin).
"""

from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.component import ClusterError

__all__ = ["ClusterError", "LocalCluster"]
