"""srkit: prepare super-resolution training data (tile, degrade, pack) and train SR models on it.

One import name for the whole toolkit. The stage packages live in the repository's top-level folders
and install as subpackages: ``tiling/`` is ``srkit.tiling``, ``degrade/`` is ``srkit.degrade``,
``recipes/`` is ``srkit.recipes``, ``shards/`` is ``srkit.shards`` and ``train/`` is ``srkit.train``
(the mapping is in ``pyproject.toml``). This folder holds what every stage shares (``srkit.core``),
the end-to-end demo (``srkit.demo``) and the two console scripts (``srkit.cli``). ARCHITECTURE.md
has the map.
"""

__version__ = "0.1.0"
