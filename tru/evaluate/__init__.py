"""Evaluation: TOFU, MUSE and WMDP metrics, judges and scope control, over a saved model."""
