"""Plumbing under every layer: errors, atomic files, processes, run folders, checkpoints, settings.
Nothing here knows models, data or the pipeline stages."""
