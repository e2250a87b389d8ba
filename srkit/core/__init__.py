"""The spine every stage shares: robust image I/O, atomic files, JSON Lines manifests,
sample keys, per-sample seeds and a parallel runner with progress.

Data flows one way (tiling -> degrade -> shards -> train); every package may import ``srkit.core``,
``srkit.core`` imports none of them.
"""
