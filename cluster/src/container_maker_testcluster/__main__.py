"""``python -m container_maker_testcluster``: see :mod:`container_maker_testcluster.cli`."""

from container_maker_testcluster.cli import app

app(prog_name="python -m container_maker_testcluster")
