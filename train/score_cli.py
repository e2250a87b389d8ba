"""``sr-train score``: any upscaler's outputs against the originals, with PSNR / SSIM and the manga
scores (the command; the work is in ``score_pairs``)."""

from __future__ import annotations

from pathlib import Path

import typer

from srkit.core.console import (
    EXIT_CODES_HELP,
    EXIT_SKIPPED,
    UsageError,
    console,
    friendly_errors,
    make_progress,
)

SCORE_HELP = (
    "Score upscaled images against their originals: Y-PSNR / SSIM (as eval) and the manga scores "
    "tone_kept, moire, line_precision, line_recall, line_f1 and paper_noise (see the README).\n\n"
    "Pairs every image under --hr with the image of the same relative path under --sr (the suffix may "
    "differ: p01.jpg pairs with p01.png), so the outputs of any upscaler can be scored. Prints the "
    "table (each image and the means) and writes scores.csv and scores.md to --out; pairs that cannot "
    "be scored (missing, unreadable, another size) are skipped with a reason.\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``score`` to the ``sr-train`` app."""
    app.command("score", help=SCORE_HELP)(score_command)


@friendly_errors
def score_command(
    hr: Path = typer.Option(..., "--hr", help="Folder of the original (HR) images."),
    sr: Path = typer.Option(..., "--sr", help="Folder of the upscaled images, named as the originals."),
    scale: int = typer.Option(0, "--scale", help="Upscaling factor: that many pixels are shaved from "
                              "every side before scoring, as eval does (0: none)."),
    out: Path = typer.Option(Path("scores"), "--out", help="Output folder for scores.csv and scores.md."),
) -> None:
    from srkit.train.score_pairs import SCORES_CSV, SCORES_MD, images_under, score_folders

    for flag, folder in (("--hr", hr), ("--sr", sr)):
        if not folder.is_dir():
            raise UsageError(f"{flag} {folder} is not a folder")
    if scale < 0:
        raise UsageError(f"--scale must be 0 or more, not {scale}")
    total = len(images_under(hr))
    if not total:
        raise UsageError(f"no image files in {hr}")
    with make_progress("images") as progress:
        task = progress.add_task("score", total=total)
        report = score_folders(hr, sr, scale, out, progress=lambda: progress.advance(task))
    shave = f", {scale} px shaved" if scale else ""
    console.print(report.rich_table(f"{sr} against {hr}{shave}"))
    for line in report.skipped:
        console.print(f"[red]skipped[/red] {line}")
    console.print(f"wrote {out / SCORES_CSV} and {out / SCORES_MD}")
    if report.skipped:
        raise typer.Exit(EXIT_SKIPPED)
