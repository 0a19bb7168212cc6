"""A Container Maker plugin: a PodDisruptionBudget per container (see :mod:`.plugin`)."""
