"""Attacks on unlearned models: cross-lingual, paraphrase, jailbreak, relearning, quantization."""
