"""Run ``sr-data`` and SIGKILL it right after its N-th record is put into a shard (a crash mid-pack).

    python kill_after.py N pack lmdb --hr ... --out ...

The kill goes into ``StoreBuilder.put``, the one call every layout writes its records through, so the
product carries no test hook.
"""

from __future__ import annotations

import os
import signal
import sys

from srkit.shards.builder import StoreBuilder


def kill_after(records: int) -> None:
    put = StoreBuilder.put
    count = 0

    def put_then_maybe_die(self: StoreBuilder, item: object) -> None:
        nonlocal count
        put(self, item)
        count += 1
        if count >= records:
            os.kill(os.getpid(), signal.SIGKILL)

    StoreBuilder.put = put_then_maybe_die  # type: ignore[method-assign]


if __name__ == "__main__":
    kill_after(int(sys.argv.pop(1)))
    from srkit.cli.data import main

    main()
