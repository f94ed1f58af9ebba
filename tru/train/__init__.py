"""Training plumbing that fine-tuning and unlearning share (training.py, trainer.py), their settings
(config.py) and `tru finetune` (finetune.py)."""
