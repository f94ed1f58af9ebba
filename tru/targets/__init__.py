"""Reasoning-based unlearning targets."""
