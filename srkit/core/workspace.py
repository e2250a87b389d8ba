"""The names of the files and folders the stages hand to each other, defined once.

A working folder holds ``tiles/`` (``tiles.jsonl``), ``lr/<recipe>/`` (``degradations.jsonl``), the
stores (``data.lmdb/``, ``data.h5/``, each with ``index.json``) and ``runs/<name>/``. Every stage
writes a ``run.json`` (what it was run with) and an ``errors.jsonl`` (inputs it could not use) in its
output folder. A stage that reads another's output imports the name from here, so a rename cannot
leave one reader behind.
"""

from __future__ import annotations

TILES_DIR = "tiles"
LR_DIR = "lr"
RUNS_DIR = "runs"
LMDB_STORE = "data.lmdb"
HDF5_STORE = "data.h5"

TILES_MANIFEST = "tiles.jsonl"        # tile and page records of `sr-data tile`
DEGRADATIONS_LOG = "degradations.jsonl"  # one plan per sample of `sr-data degrade` (and of eval)
RUN_RECORD = "run.json"               # the options a stage ran with (a rerun with others is refused)
ERRORS_LOG = "errors.jsonl"           # one line per input that could not be used
STORE_INDEX = "index.json"            # written last: a store without it is an unfinished pack
METRICS_LOG = "metrics.jsonl"         # a training run's losses and validation scores, one line each
