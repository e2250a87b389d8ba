"""Training, models, losses, upscaling and evaluation."""
