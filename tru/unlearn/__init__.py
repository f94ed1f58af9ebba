"""Unlearning: loss functions, method recipes and the Trainer that runs them."""
