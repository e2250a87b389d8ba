"""Cut high-resolution pages into training tiles with scores, rejection reasons and a manifest."""
