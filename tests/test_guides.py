"""The guides in docs/ hold working code: each one's python blocks run here against the real registries
(the entry they add is removed afterwards), and every repository path the docs name exists."""

import math
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tru import cli
from tru.data.records import QAItem
from tru.evaluate import registry
from tru.modeling.context import step_context
from tru.unlearn import losses
from tru.unlearn.methods import METHODS, build_recipe

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def python_blocks(guide: str) -> list[str]:
    text = (DOCS / guide).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert blocks, f"docs/{guide} has no python block"
    return blocks


def run_guide(guide: str) -> dict:
    namespace = {"__name__": f"guide_{Path(guide).stem.replace('-', '_')}"}
    for block in python_blocks(guide):
        exec(compile(block, f"docs/{guide}", "exec"), namespace)
    return namespace


@contextmanager
def guide_entries(guide: str, table: dict):
    """Run the guide's python blocks; whatever they add to ``table`` (a registry) is removed afterwards."""
    before = set(table)
    try:
        yield run_guide(guide)
    finally:
        for name in set(table) - before:
            del table[name]


def tiny_forget_batch(seed: int = 0) -> tuple[torch.nn.Module, dict]:
    """A one-layer random Llama and a forget batch of two sequences whose first tokens are prompt."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=32,
        )
    )
    input_ids = torch.randint(0, 64, (2, 8))
    labels = input_ids.clone()
    labels[:, :4] = losses.IGNORE_INDEX  # the prompt carries no loss
    labels[1, 7] = losses.IGNORE_INDEX  # padding
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7] = 0
    return model, {"forget": {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}}


def test_the_method_guide_registers_a_recipe_with_a_finite_loss(capsys):
    with guide_entries("add-a-method.md", METHODS):
        assert "scaled_ga" in METHODS
        recipe = build_recipe("scaled_ga", {"weight": "0.25"})  # --set converts by the field's type
        assert recipe.weight == 0.25 and recipe.required_streams() == ("forget",)

        model, batch = tiny_forget_batch()
        terms = recipe.compute(step_context(model, batch))
        assert set(terms) == {"forget_ga", "loss"}
        loss = terms["loss"]
        assert loss.ndim == 0 and math.isfinite(loss.item())
        # GA is the negated token-mean NLL of the answer tokens, here times the weight
        forget = batch["forget"]
        logits = model(input_ids=forget["input_ids"], attention_mask=forget["attention_mask"]).logits
        nll = losses.nll_loss(*losses.token_log_probs(logits, forget["labels"]))
        assert loss.item() == pytest.approx(-0.25 * nll.item(), rel=1e-5)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)

        assert cli.main(["methods"]) == 0
        listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("scaled_ga")]
        assert listed and "weight=0.5" in listed[0]
    assert "scaled_ga" not in METHODS


def test_the_metric_guide_registers_a_per_item_metric():
    with guide_entries("add-a-metric.md", registry.METRICS):
        metric = registry.METRICS["exact_answer"]
        assert metric.sides == ("forget", "retain")
        assert metric.direction("forget") == "lower" and metric.direction("retain") == "higher"

        item = QAItem(
            question="Where was Ana born?",
            answer="Krakow",
            translations={"es": {"question": "¿Dónde nació Ana?", "answer": "Cracovia"}},
        )
        generations = [
            registry.Generated(item=item, query=item.question, answer="She was born in Krakow."),
            registry.Generated(item=item, query=item.question, answer="I can't share that."),
            registry.Generated(item=item, query="¿Dónde nació Ana?", answer="Nació en Cracovia.", lang="es"),
            # no reference answer in Russian: no value
            registry.Generated(item=item, query="Где родилась Ана?", answer="В Кракове.", lang="ru"),
        ]
        for side in ("forget", "retain"):
            per_item = registry.per_item(generations, side)
            assert per_item["exact_answer"] == [1.0, 0.0, 1.0, None]
        summary = registry.aggregate_all(registry.per_item(generations, "forget"))["exact_answer"]
        assert summary["n"] == 3 and summary["value"] == pytest.approx(2 / 3)
        missing = registry.aggregate_metric("exact_answer", [None])["missing"]
        assert missing == "no reference answer in the query's language"
    assert "exact_answer" not in registry.METRICS


DOCUMENTED = ("architecture.md", "add-a-method.md", "add-a-metric.md", "performance.md")
PATH = re.compile(r"(?<![\w./-])((?:tru|tests|bench|configs|docs)/[\w./-]*\w)")


@pytest.mark.parametrize("doc", DOCUMENTED)
def test_every_path_a_doc_names_exists(doc):
    text = (DOCS / doc).read_text(encoding="utf-8")
    named = set(PATH.findall(text))
    assert named, f"docs/{doc} names no repository path"
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert not missing, f"docs/{doc} names paths that do not exist: {missing}"
    # file names given without their folder (``streams.py`` after ``tru/modeling/context.py,``)
    modules = {p.name for folder in ("tru", "tests", "bench") for p in (REPO / folder).rglob("*.py")}
    unknown = sorted(set(re.findall(r"(?<![\w.])(\w+\.py)\b", text)) - modules)
    assert not unknown, f"docs/{doc} names files that do not exist: {unknown}"
