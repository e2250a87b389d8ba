"""Estimators: what a folder of real low-quality images went through, measured image by image.

Each module holds pure functions on uint8 (or float) gray images, with its method in its docstring:
`jpeg_tables` (quality, subsampling, progressive from a JPEG file's own tables), `blocks` (the JPEG
quality left in an image saved again losslessly), `noise`, `levels` (black and white points, gamma,
screentone), `edges` (blur), `upscale` (enlarged or native). `measure` runs them all on one file.
"""
