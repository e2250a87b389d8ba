"""The store format that `sr-data pack` writes and `sr-train` reads: shards, index, reader, verify."""
