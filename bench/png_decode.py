"""CPU time of decoding one 400 px PNG tile, by decoder: the figure behind srkit.core.png_decode.

The tiles are cut from the `dev` manga pages (gray, 400 px, step 400) and encoded as `sr-data tile`
writes them (OpenCV, the tiler's default PNG level 1, and level 6 for comparison). Each decoder
decodes every tile; the best of 5 passes of process CPU time per tile is printed, one thread.

    python bench/png_decode.py
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from srkit.core.images import encode_png, read_image  # noqa: E402
from srkit.core.png_decode import decode_verified_png, pepeline  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
DEV = ["manga/manga_bj_v01_p007.jpg", "manga/manga_bj_v01_p041.jpg", "manga/manga_bj_v01_p145.jpg"]


def tiles() -> list[np.ndarray]:
    out = []
    for name in DEV:
        page = read_image(REAL / name, "gray")[0]
        h, w = page.shape
        out += [page[y:y + 400, x:x + 400].copy()
                for y in range(0, h - 399, 400) for x in range(0, w - 399, 400)]
    return out


def per_tile_ms(decode, datas: list[bytes]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for data in datas:
            decode(data)
        best = min(best, (time.process_time() - start) / len(datas))
    return best * 1e3


def main() -> None:
    cv2.setNumThreads(1)
    imgs = tiles()
    decoders = {
        "OpenCV cv2.imdecode": lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_UNCHANGED),
        "Pillow": lambda d: np.asarray(Image.open(io.BytesIO(d))),
    }
    if pepeline is not None:
        decoders["pepeline (srkit.core.png_decode)"] = decode_verified_png
    print(f"{len(imgs)} gray tiles of 400 px from the dev pages; CPU ms per tile, best of 5, one thread")
    for level in (1, 6):
        datas = [encode_png(img, level) for img in imgs]
        size = sum(map(len, datas)) / len(datas) / 1024
        print(f"PNG level {level} ({size:.0f} KiB per tile):")
        for name, decode in decoders.items():
            print(f"  {name:34s} {per_tile_ms(decode, datas):6.3f} ms")


if __name__ == "__main__":
    main()
