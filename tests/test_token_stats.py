"""Batched evaluation passes agree with straightforward one-at-a-time computations."""

import pytest
import torch

from tru.data.formatting import ChatFormatter
from tru.evaluate.token_stats import token_stats
from tru.modeling.generation import generate_from_ids
from tru.modeling.log_probs import sequence_log_prob, token_log_probs
from tru.modeling.models import ModelSettings, load_model


@pytest.fixture(scope="module")
def tiny(tiny_tokenizer):
    return load_model(ModelSettings(name="tiny-llama")), tiny_tokenizer


def test_token_stats_match_a_full_forward_per_example(tiny):
    model, tokenizer = tiny
    formatter = ChatFormatter(tokenizer, max_length=64)
    examples = [formatter.qa("Who wrote it?", "A long answer " * k) for k in (1, 4, 2)]
    stats = token_stats(model, examples, tokenizer.pad_token_id, batch_size=2)
    for example, s in zip(examples, stats):
        ids, labels = torch.tensor([example.input_ids]), torch.tensor([example.labels])
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        total, count = sequence_log_prob(*token_log_probs(logits, labels))
        assert s.nll == pytest.approx(-(total / count).item(), abs=1e-5)
        assert s.label_ids == [t for t in example.labels[1:] if t != -100]
        positions = labels[0, 1:].ne(-100)
        assert s.argmax_ids == logits[0, :-1][positions].argmax(-1).tolist()
        assert all(sd >= 0 for sd in s.dist_stds)


@pytest.mark.parametrize("batch_size", [2, 3, 16])
def test_shared_prompt_scoring_equals_separate_scoring(tiny, batch_size):
    """Groups of candidates sharing a prompt, cut or packed several to a call, score as if run alone."""
    model, tokenizer = tiny
    formatter = ChatFormatter(tokenizer, max_length=64)
    examples = [
        formatter.qa("Where was she born?", answer)
        for answer in ("In Paris.", "In a small town by the sea.", "Nowhere")
    ]
    examples += [formatter.qa("Alone?", "Yes, alone."), formatter.qa("Where was she born?", "Lyon.")]
    examples += [
        formatter.qa("What did the author of that long novel do before writing?", a)
        for a in ("She taught.", "He was a sailor on a whaling ship for ten years.")
    ]
    examples += [formatter.qa("Alone?", "No.")]
    shared = token_stats(model, examples, tokenizer.pad_token_id, batch_size=batch_size)
    separate = token_stats(model, examples, tokenizer.pad_token_id, batch_size=batch_size, share_prompts=False)
    for a, b in zip(shared, separate):
        assert a.label_ids == b.label_ids and a.argmax_ids == b.argmax_ids
        for x, y in ((a.log_probs, b.log_probs), (a.dist_means, b.dist_means), (a.dist_stds, b.dist_stds)):
            assert x == pytest.approx(y, abs=1e-4)


def test_group_batches_pack_whole_groups_and_cut_large_ones():
    from tru.evaluate.token_stats import _group_batches

    a, b, c = (1,), (2, 3), (4,)
    assert _group_batches([(a, [0, 1]), (b, [2, 3, 4]), (c, [5, 6])], 4) == [
        [(a, [0, 1])],
        [(b, [2, 3, 4])],
        [(c, [5, 6])],
    ]
    assert _group_batches([(a, [0, 1]), (b, [2, 3]), (c, [4, 5, 6, 7, 8])], 4) == [
        [(a, [0, 1]), (b, [2, 3])],
        [(c, [4, 5, 6, 7])],
        [(c, [8])],
    ]


def test_batched_generation_equals_one_by_one(tiny):
    model, tokenizer = tiny
    formatter = ChatFormatter(tokenizer, max_length=64)
    prompts = [formatter.prompt_ids(q) for q in ("Hi", "Where was the author of that long novel born?", "Why?")]
    batched = generate_from_ids(model, tokenizer, prompts, max_new_tokens=8, batch_size=3)
    single = [generate_from_ids(model, tokenizer, [p], max_new_tokens=8, batch_size=1)[0] for p in prompts]
    assert batched == single
