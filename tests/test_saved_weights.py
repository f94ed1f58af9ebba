"""A gathered state dict loses the tied output layer's copy before it is saved."""

from transformers import LlamaConfig, LlamaForCausalLM

from tru.train.trainer import without_tied_copies


def tiny(tied: bool):
    config = LlamaConfig(
        vocab_size=32,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=tied,
    )
    return LlamaForCausalLM(config)


def gathered(model) -> dict:
    """As DeepSpeed gathers it: every name, each tensor a copy of its own."""
    return {name: p.detach().clone() for name, p in model.named_parameters(remove_duplicate=False)}


def test_the_tied_copy_goes_and_everything_else_stays():
    model = tiny(tied=True)
    state = gathered(model)
    assert "lm_head.weight" in state
    kept = without_tied_copies(model, state)
    assert set(kept) == set(state) - {"lm_head.weight"}
    assert kept["model.embed_tokens.weight"] is state["model.embed_tokens.weight"]


def test_untied_weights_and_copies_that_differ_stay():
    untied = tiny(tied=False)
    assert set(without_tied_copies(untied, gathered(untied))) == set(gathered(untied))
    tied = tiny(tied=True)
    state = gathered(tied)
    state["lm_head.weight"] = state["lm_head.weight"] + 1  # not a copy: nothing is dropped silently
    assert "lm_head.weight" in without_tied_copies(tied, state)
    assert without_tied_copies(tied, {}) == {}
