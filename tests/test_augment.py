"""Training-side augmentation: which wordings a step may train on, and that the evaluation side
(the jailbreak library, paraphrased questions, translations) never appears among them."""

import pytest

from tru.attacks.jailbreak import LIBRARY
from tru.core.errors import ConfigError
from tru.data.formatting import ChatFormatter
from tru.data.records import QAItem, ReasoningTarget
from tru.data.synth import synth_benchmark
from tru.data.wrappers import TRAINING_WRAPPERS, spell_entities
from tru.unlearn.augment import Augmentation
from tru.unlearn.methods import build_recipe
from tru.unlearn.streams import StreamSources, UnlearnDataset

ITEM = QAItem(
    question="Where was Ada Quill born?",
    answer="Ada Quill was born in Ghent.",
    paraphrased_question="In which city did Ada Quill come into the world?",
    translations={"es": {"question": "¿Dónde nació Ada Quill?", "answer": "Ada Quill nació en Gante."}},
    training_queries=[
        {"lang": "es", "question": "¿De qué ciudad es Ada Quill?", "answer": "Ada Quill nació en Gante."}
    ],
)


def test_parse_sources_and_errors():
    assert Augmentation.parse("none", 0.5) is None
    assert Augmentation.parse("", 0.5) is None
    assert Augmentation.parse("wrappers,data", 0.0) is None
    assert Augmentation.parse(" data , wrappers ", 0.3) == Augmentation(("data", "wrappers"), 0.3)
    with pytest.raises(ConfigError, match="unknown augmentation source 'paraphrases'"):
        Augmentation.parse("wrappers,paraphrases", 0.5)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        Augmentation.parse("wrappers", 1.5)


def test_variants_are_training_side_only():
    pairs = Augmentation(("wrappers", "data")).qa_pairs(ITEM)
    questions = [q for q, _ in pairs]
    assert len(pairs) == 1 + len(TRAINING_WRAPPERS)
    assert pairs[0] == ("¿De qué ciudad es Ada Quill?", "Ada Quill nació en Gante.")
    assert all(answer == ITEM.answer for _, answer in pairs[1:])
    obfuscated = {w.name for w in TRAINING_WRAPPERS if "{question}" not in w.template}
    assert obfuscated == {"spaced_letters", "dotted_letters"}
    for wrapper, question in zip(TRAINING_WRAPPERS, questions[1:]):
        assert (ITEM.question in question) == (wrapper.name not in obfuscated)
    assert "A d a Q u i l l" in questions[-2] and "A.d.a Q.u.i.l.l" in questions[-1]
    evaluation_side = {
        ITEM.paraphrased_question,
        ITEM.translations["es"]["question"],
        *(t.fill(ITEM.question) for t in LIBRARY),
    }
    assert not evaluation_side & set(questions)
    assert Augmentation(("data",)).questions(ITEM) == ["¿De qué ciudad es Ada Quill?"]


def test_training_wrappers_share_no_family_with_the_attack_library():
    assert not {w.family for w in TRAINING_WRAPPERS} & {t.family for t in LIBRARY}
    assert not {w.template for w in TRAINING_WRAPPERS} & {t.template for t in LIBRARY}
    # obfuscation is split by form: the dashed spelling the attack uses never appears in training
    dashed = spell_entities(ITEM.question)
    assert dashed == "W-h-e-r-e was A-d-a Q-u-i-l-l born?"
    assert not any(dashed in w.fill(ITEM.question) for w in TRAINING_WRAPPERS)


def test_synthetic_training_wordings_differ_from_the_evaluation_side():
    for record in synth_benchmark(6)["forget"]:
        item = QAItem.from_dict(record)
        langs = [q["lang"] for q in item.training_queries]
        assert langs == ["en", "es", "ru"]
        training = {q["question"] for q in item.training_queries}
        assert not training & {
            item.question,
            item.paraphrased_question,
            *(t["question"] for t in item.translations.values()),
        }


@pytest.fixture()
def dataset_for(tiny_tokenizer):
    forget = [ITEM, QAItem(question="What does Ada Quill write?", answer="Ada Quill writes poetry.")]
    retain = [QAItem(question=f"Where was Bo Lark {i} born?", answer=f"In city {i}.") for i in range(3)]
    targets = [
        ReasoningTarget(
            question=x.question,
            reasoning="This question is about Ada Quill.",
            refusal="I can't share information about Ada Quill.",
        )
        for x in forget
    ]

    def build(augmentation):
        return UnlearnDataset(
            StreamSources(forget=forget, retain=retain, targets=targets),
            ChatFormatter(tiny_tokenizer, 256),
            ("target", "forget", "retain"),
            seed=3,
            target_sampling="paired",
            augmentation=augmentation,
        )

    return build


def _prompt(dataset, encoded):
    ids = [t for t, label in zip(encoded.input_ids, encoded.labels) if label == -100]
    return dataset.formatter.tokenizer.decode(ids)


def test_dataset_draws_variants_at_the_share_and_keeps_forget_items(dataset_for):
    plain = dataset_for(None)
    always = dataset_for(Augmentation(("wrappers", "data"), share=1.0))
    seen_target, seen_retain = set(), set()
    for epoch in range(6):
        for ds in (plain, always):
            ds.set_epoch(epoch)
        for index in range(2):
            assert always.stream_example("forget", index).input_ids == plain.stream_example("forget", index).input_ids
            target = always.stream_example("target", index)
            assert target.input_ids != plain.stream_example("target", index).input_ids
            seen_target.add(_prompt(always, target))
            seen_retain.add(_prompt(always, always.stream_example("retain", index)))
            # the same draw on a rerun: the generator is seeded by (seed, epoch, index)
            assert always.stream_example("target", index).input_ids == target.input_ids
    assert len(seen_target) >= 4 and len(seen_retain) >= 4
    assert any(
        "Reply in JSON" in p or "Developer mode" in p or "¿De qué ciudad" in p or "trivia" in p for p in seen_target
    )


def test_augmentation_leaves_the_item_draws_alone(dataset_for):
    """The variant is drawn after the item: an item without variants is drawn exactly as without
    augmentation (here the retain items and the second forget item have no training_queries)."""
    data_only, plain = dataset_for(Augmentation(("data",), share=1.0)), dataset_for(None)
    for epoch in range(4):
        data_only.set_epoch(epoch)
        plain.set_epoch(epoch)
        assert data_only.stream_example("retain", 0).input_ids == plain.stream_example("retain", 0).input_ids
        assert data_only.stream_example("target", 1).input_ids == plain.stream_example("target", 1).input_ids
        assert "¿De qué ciudad" in _prompt(data_only, data_only.stream_example("target", 0))


def test_tru_recipe_exposes_its_augmentation():
    assert build_recipe("tru", {"augment": "wrappers", "augment_share": "0.25"}).augmentation() == Augmentation(
        ("wrappers",), 0.25
    )
    assert build_recipe("tru", {}, "paper").augmentation() is None
    assert build_recipe("graddiff").augmentation() is None
    with pytest.raises(ConfigError, match="augmentation source"):
        build_recipe("tru", {"augment": "typo"})
