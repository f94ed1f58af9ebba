"""Models and what runs them: loading, fingerprints, generation, scoring, the packed (fused) step and
its attention, the logits workspace, log-probabilities and model cards. Shared by training,
unlearning, evaluation and attacks."""
