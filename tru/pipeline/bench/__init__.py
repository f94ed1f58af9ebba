"""`tru bench tofu|muse|wmdp`: a benchmark's whole protocol (fine-tune, oracle, unlearn, eval, attack,
report) as one resumable command; see tru.pipeline.protocol for the stages."""
