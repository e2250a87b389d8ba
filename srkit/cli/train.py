"""``sr-train``: train super-resolution models on packed stores, use and evaluate them."""

from __future__ import annotations


def main() -> None:
    from srkit.train.cli import app

    app()


if __name__ == "__main__":
    main()
