"""The whole pipeline on procedural manga pages (``sr-data demo``), and the page generator it uses.

It drives every stage (tiling -> degrade -> shards -> train), so it sits above all of them; no stage
imports it. Tests and benchmarks use its pages (``srkit.demo.pages``) as data that needs no files.
"""
