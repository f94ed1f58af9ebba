"""`tru unlearn`: validate everything, then train the recipe and write the run directory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tru.core.checkpoints import DivergenceGuard, remove_checkpoints
from tru.core.errors import ConfigError, TrainingDiverged
from tru.core.files import write_json, write_jsonl
from tru.data.formatting import ChatFormatter, encode_item
from tru.data.records import QAItem
from tru.data.specs import align_targets, load_items, load_refusals, load_targets, retain_default
from tru.modeling.collate import StreamCollator
from tru.modeling.logits_workspace import LogitsWorkspace, head_projection_problem, workspace_for
from tru.modeling.model_card import check_hub_push, data_entry, push_model_folder, training_card
from tru.modeling.models import alias_hub_id, is_peft_model, process_device, resolve_device
from tru.modeling.scoring import mean_nll, score_sequences
from tru.train.training import (
    check_run_folder,
    load_for_training,
    open_run,
    require_process_per_device,
    save_model_atomically,
    train_with_recovery,
    training_arguments,
)
from tru.unlearn.anchors import anchor_questions, cached_self_answered, reference_items
from tru.unlearn.config import UnlearnConfig
from tru.unlearn.methods import Recipe, build_recipe, recipe_settings
from tru.unlearn.streams import DEFAULT_REFUSALS, StreamSources, UnlearnDataset
from tru.unlearn.trainer import FrozenReference, UnlearnTrainer
from tru.unlearn.validation import (
    RETAIN_CAP,
    SIDE_METRICS,
    ScopeMonitor,
    ValidationSplit,
    check_until,
    hold_out,
    parse_until,
    scope_check,
)

# forget items whose NLL the divergence guard measures on a checkpoint when --summary-items is 0
GUARD_PROBE_ITEMS = 16


def _load_sources(config: UnlearnConfig, recipe) -> StreamSources:
    streams = recipe.required_streams()
    forget = load_items(config.forget, config.tofu, config.columns())
    if not forget:
        raise ConfigError("the forget set is empty")
    retain_spec = config.retain or retain_default(config.forget)
    retain = (
        load_items(retain_spec, config.tofu, config.columns())
        if retain_spec and ("retain" in streams or config.summary_items or config.validation_share)
        else []
    )
    if "retain" in streams and not retain:
        raise ConfigError(f"method '{recipe.name}' needs retain data: give --retain FILE or tofu:SPLIT")
    refusals = load_refusals(config.refusals) if config.refusals else list(DEFAULT_REFUSALS)
    targets = []
    if "target" in streams:
        if not config.targets:
            raise ConfigError(
                f"method '{recipe.name}' needs reasoning targets: give --targets FILE "
                "(or rtofu:PATH to R-TOFU idkcot traces)"
            )
        targets = align_targets(load_targets(config.targets, refusals, config.seed), forget, config.targets)
    if any("idk" == s for s in streams) and not all(isinstance(i, QAItem) for i in forget):
        raise ConfigError(f"method '{recipe.name}' pairs forget questions with refusals; it needs QA forget data")
    return StreamSources(forget=forget, retain=retain, targets=targets, refusals=refusals)


def split_off_validation(config: UnlearnConfig, sources: StreamSources) -> tuple[StreamSources, ValidationSplit]:
    """The training sources without the held-out validation items, and the validation split
    (tru.unlearn.validation). Only QA items have questions to ask: passages are never held out."""
    qa = all(isinstance(x, QAItem) for x in sources.forget)
    share = config.validation_share
    if config.validation:
        held_forget = list(load_items(config.validation, config.tofu, config.columns()))
        kept = list(range(len(sources.forget)))
        if not all(isinstance(x, QAItem) for x in held_forget):
            raise ConfigError(f"--validation {config.validation} must hold QA items (question/answer)")
    elif qa:
        kept, held = hold_out(list(range(len(sources.forget))), share, config.seed, "forget")
        held_forget = [sources.forget[i] for i in held]
    else:
        kept, held_forget = list(range(len(sources.forget))), []
    retain_qa = all(isinstance(x, QAItem) for x in sources.retain)
    retain, held_retain = (
        hold_out(sources.retain, share, config.seed, "retain", cap=RETAIN_CAP) if retain_qa else (sources.retain, [])
    )
    training = StreamSources(
        forget=[sources.forget[i] for i in kept],
        retain=retain,
        targets=[sources.targets[i] for i in kept] if sources.targets else [],
        refusals=sources.refusals,
    )
    return training, ValidationSplit(forget=held_forget, retain=held_retain)


def _precompute_reference(dataset: UnlearnDataset, model, streams, pad_id: int, batch_size: int) -> dict:
    """Reference log-probabilities of the fixed streams, from the model before any update."""
    reference = {}
    for stream in streams:
        examples = [dataset.stream_example(stream, i) for i in range(len(dataset))]
        call = None
        if hasattr(model, "disable_adapter"):

            def call(**kw):
                with model.disable_adapter():
                    return model(**kw)

        totals, _ = score_sequences(model, examples, pad_id, batch_size=batch_size, reference_call=call)
        reference[stream] = totals
    return reference


def _summary_examples(sources: StreamSources, formatter: ChatFormatter, limit: int):
    return (
        [encode_item(formatter, x) for x in sources.forget[:limit]],
        [encode_item(formatter, x) for x in sources.retain[:limit]],
    )


@dataclass
class UnlearnSetup:
    """Everything a step needs: the recipe, model, stream dataset and (when the method needs one)
    the frozen reference. Shared by `tru unlearn`, the benchmarks and the step tests (which run a step
    outside the Trainer with tru.modeling.context.step_context)."""

    recipe: Recipe
    sources: StreamSources
    tokenizer: object
    formatter: ChatFormatter
    model: object
    dataset: UnlearnDataset
    reference: FrozenReference | None = None
    logits_chunk: int = 0  # see UnlearnConfig.logits_chunk
    logits_workspace: LogitsWorkspace | None = None  # the fused step's logits memory (CPU), see logits_workspace_for
    validation: ValidationSplit = field(default_factory=lambda: ValidationSplit([], []))
    anchors: dict = field(default_factory=dict)  # side -> self-answered anchor questions (tru.unlearn.anchors)

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def collator(self, fuse: bool, share_prefixes: bool = True) -> StreamCollator:
        return StreamCollator(self.pad_id, pack=fuse, share_prefixes=share_prefixes)

    def precompute_reference(self, batch_size: int) -> dict:
        """Reference log-probabilities of the streams that need them, from the current model."""
        streams = self.recipe.precomputed_reference()
        if streams:
            self.dataset.reference = _precompute_reference(self.dataset, self.model, streams, self.pad_id, batch_size)
        return self.dataset.reference

    def attach_reference(self) -> None:
        self.reference = FrozenReference(self.model) if self.recipe.needs_reference_model() else None


def prepare_unlearning(config: UnlearnConfig) -> UnlearnSetup:
    """Validate the settings, read the data and load the model (nothing is written)."""
    config.validate()
    recipe = build_recipe(config.method, config.set, config.preset)
    sources, validation = split_off_validation(config, _load_sources(config, recipe))
    if config.until:
        check_until(parse_until(config.until), validation)
    tokenizer, model = load_for_training(config, recipe)
    formatter = ChatFormatter(tokenizer, config.max_length, recipe.reasoning_format())
    anchors = answer_anchors(config, recipe, model, formatter)
    sources = replace(sources, anchors=anchors.get("training", []))
    validation = replace(validation, outside=anchors.get("tuning", []))
    dataset = UnlearnDataset(
        sources,
        formatter,
        recipe.required_streams(),
        seed=config.seed,
        target_sampling=recipe.target_sampling_mode(),
        fixed_refusals=recipe.fixed_refusals(),
        augmentation=recipe.augmentation(),
        anchor_share=recipe.anchoring().share,
        forget_tokens=recipe.forget_token_rule(),
    )
    if config.logits_chunk:
        check_chunkable_head(model)
    return UnlearnSetup(
        recipe,
        sources,
        tokenizer,
        formatter,
        model,
        dataset,
        logits_chunk=config.logits_chunk,
        logits_workspace=logits_workspace_for(config, model),
        validation=validation,
        anchors=anchors,
    )


def answer_anchors(config: UnlearnConfig, recipe: Recipe, model, formatter: ChatFormatter) -> dict[str, list[QAItem]]:
    """The recipe's training anchors (drawn in the retain stream), with the reference answers or the model's
    own before any update, and ``--anchor-checks`` tuning anchors (the scope check's outside side) with their
    reference answers (tru.unlearn.anchors)."""
    anchoring, out = recipe.anchoring(), {}
    if anchoring.count:
        own = anchoring.answers == "model"
        out["training"] = (
            _own_answers(config, model, formatter, anchoring.count)
            if own
            else reference_items("training", anchoring.count)
        )
    if config.anchor_checks:
        out["tuning"] = reference_items("tuning", config.anchor_checks)
    return out


def _own_answers(config: UnlearnConfig, model, formatter: ChatFormatter, count: int) -> list[QAItem]:
    """The model's greedy answers to the first ``count`` training anchors, from the cache when it answered
    them before. Under several processes each answers them itself, on its own device, from the same weights."""
    from tru.modeling.fingerprint import model_fingerprint

    model.to(process_device(config.device))
    return cached_self_answered(
        model,
        formatter,
        anchor_questions("training", count),
        fingerprint=model_fingerprint(config.model),
        settings={"dtype": config.dtype},  # what else changes a greedy answer: the model, the length, the questions
        max_new_tokens=config.validation_new_tokens,
    )


def check_chunkable_head(model) -> None:
    """--logits-chunk reads the output layer's weight outside the model's forward call and projects the
    final hidden states itself."""
    problem = head_projection_problem(model)
    if problem:
        raise ConfigError(f"--logits-chunk {problem}. Drop --logits-chunk")


def logits_workspace_for(config: UnlearnConfig, model) -> LogitsWorkspace | None:
    """The fused step's logits workspace (tru.modeling.logits_workspace): on the CPU, for the fused step
    without --logits-chunk, when the output layer can be applied outside the model's forward call."""
    if not config.fuse or config.logits_chunk:
        return None
    return workspace_for(model, resolve_device(config.device))


def unlearn(config: UnlearnConfig) -> Path:
    """Run one unlearning method; returns the run directory."""
    config.validate()
    inputs = {
        "--model": config.model,
        "--forget": config.forget,
        "--retain": config.retain,
        "--targets": config.targets,
        "--refusals": config.refusals,
        "--tofu": config.tofu,
    }
    check_run_folder(config, inputs)  # before the model loads
    if config.push_to_hub:
        check_hub_push(config.push_to_hub)
    setup = prepare_unlearning(config)
    args = training_arguments(config, Path(config.out).expanduser())  # validated before anything is written
    if config.fuse:
        require_process_per_device(args, "--no-fuse")
    settings = {"recipe": recipe_settings(setup.recipe)}
    with open_run(config, settings, inputs, "tru unlearn") as (run_dir, checkpoint):
        return _train_and_save(config, setup, args, run_dir, checkpoint)


def _train_and_save(config: UnlearnConfig, setup: UnlearnSetup, args, run_dir: Path, checkpoint) -> Path:
    recipe, model, tokenizer = setup.recipe, setup.model, setup.tokenizer
    model.to(args.device)
    pad_id = setup.pad_id
    if setup.precompute_reference(config.batch_size) and args.process_index == 0:
        write_json(run_dir / "reference_logps.json", setup.dataset.reference)
    forget_eval, retain_eval = _summary_examples(setup.sources, setup.formatter, config.summary_items)
    before = _nll_summary(model, forget_eval, retain_eval, pad_id) if config.summary_items else {}

    setup.attach_reference()
    trainer = UnlearnTrainer(
        model=model,
        args=args,
        train_dataset=setup.dataset,
        data_collator=setup.collator(config.fuse),
        recipe=recipe,
        reference=setup.reference,
        loss_log_path=run_dir / "losses.jsonl",
        fuse=config.fuse,
        group_by_length=config.group_by_length,
        logits_chunk=setup.logits_chunk,
        logits_workspace=setup.logits_workspace,
    )
    probe = forget_eval or _summary_examples(setup.sources, setup.formatter, GUARD_PROBE_ITEMS)[0]
    guard = DivergenceGuard(
        config.max_forget_nll, config.stop_forget_nll, forget_nll_probe=lambda m: mean_nll(m, probe, pad_id)
    )
    monitor = _scope_monitor(config, setup, run_dir)
    if monitor is not None and config.eval_steps:
        trainer.add_callback(monitor.callback())
    started = time.time()
    result = train_with_recovery(trainer, run_dir, checkpoint, guard)
    best_step = monitor.restore_best(model) if monitor is not None else None
    if best_step is not None:
        problem = guard.weights_problem(model)
        if problem:
            raise TrainingDiverged(f"the best state by --until (step {best_step}) fails the guard: {problem}")
    after = _nll_summary(model, forget_eval, retain_eval, pad_id) if config.summary_items else {}
    scope = _final_scope_check(monitor, model, result.global_step, best_step)  # before the save: the card shows it
    summary = {
        "method": recipe.name,
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": round(time.time() - started, 2),
        "nll_before": before,
        "nll_after": after,
        "lora": config.lora_r > 0,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "early_stop": guard.reached,
        "until": _until_outcome(config, monitor, best_step),
        "scope_check": scope and {side: scope[side] for side in SIDE_METRICS if side in scope},
        "scope_check_skipped": _why_no_scope_check(setup, args) if scope is None else None,
        "anchors": {side: len(items) for side, items in setup.anchors.items()},
    }
    main = trainer.is_world_process_zero()
    card = _model_card(config, setup, summary, scope) if main else None
    save_model_atomically(trainer, tokenizer, run_dir / "model", card=card, adapter_base=alias_hub_id(config.model))
    if main:
        if scope is not None:
            write_json(run_dir / "scope_check.json", scope)
        if setup.anchors:
            write_jsonl(
                run_dir / "anchors.jsonl",
                [{"side": side, **x.to_dict()} for side, items in setup.anchors.items() for x in items],
            )
        write_json(run_dir / "summary.json", summary)
        if not config.keep_checkpoints:
            remove_checkpoints(run_dir)
        if config.push_to_hub:
            url = push_model_folder(
                run_dir / "model", config.push_to_hub, message=f"tru unlearn --method {recipe.name} on {config.model}"
            )
            print(f"tru: uploaded {run_dir / 'model'} to {url}")
    return run_dir


def _model_card(config: UnlearnConfig, setup: UnlearnSetup, summary: dict, scope: dict | None) -> str:
    trained, held = len(setup.sources.forget), len(setup.validation.forget)
    if config.validation:
        data = [
            data_entry("forget set", config.forget, trained, config.tofu),
            data_entry("held-out questions (scope check)", config.validation, held, config.tofu),
        ]
    else:
        note = f"{trained} trained on, {held} held out for the scope check" if held else ""
        data = [data_entry("forget set", config.forget, trained + held, config.tofu, note=note)]
    retain_spec = config.retain or retain_default(config.forget)
    anchors = setup.sources.anchors
    if setup.sources.retain and retain_spec:
        data.append(data_entry("retain set", retain_spec, len(setup.sources.retain), config.tofu))
    if anchors:
        data.append(
            data_entry(
                "out-of-scope anchors, answered by the model before unlearning", "tru.data.anchors", len(anchors)
            )
        )
    if setup.sources.targets:
        data.append(data_entry("reasoning targets", config.targets, len(setup.sources.targets)))
    return training_card(
        config,
        command="tru unlearn",
        method=setup.recipe.name,
        settings=recipe_settings(setup.recipe),
        data=data,
        summary=summary,
        scope=scope,
        adapter=is_peft_model(setup.model),
    )


def _scope_monitor(config: UnlearnConfig, setup: UnlearnSetup, run_dir: Path) -> ScopeMonitor | None:
    """The scope check of this run (None: nothing held out, or several processes, where it is skipped)."""
    from tru.core.processes import world_size

    if setup.validation.empty or world_size() > 1:
        return None

    def measure(model) -> dict:
        return scope_check(
            model,
            setup.tokenizer,
            setup.formatter,
            setup.validation,
            max_new_tokens=config.validation_new_tokens,
            batch_size=16,
        )

    return ScopeMonitor(
        measure, config.eval_steps, parse_until(config.until) if config.until else [], run_dir / "validation.jsonl"
    )


def _final_scope_check(monitor: ScopeMonitor | None, model, step: int, best_step: int | None) -> dict | None:
    """The scope check of the weights being saved: the best state's measurement when it was restored, the
    last measurement when it was taken at the last step, else measured now. Printed; None without one."""
    if monitor is None:
        return None
    if best_step is not None:
        step, result = best_step, monitor.best_result
    elif monitor.last is not None and monitor.last[0] == step:
        result = monitor.last[1]
    else:
        monitor.check(model, step)
        result = monitor.last[1]
    return {"step": step, **result}


def _why_no_scope_check(setup: UnlearnSetup, args) -> str:
    if setup.validation.empty:
        return "no held-out questions (--validation-share 0 and no --validation, or passages, or under 3 items)"
    return (
        f"skipped under {args.world_size} processes: evaluate the saved model with tru eval "
        "(the scope check generates in one process)"
    )


def _until_outcome(config: UnlearnConfig, monitor: ScopeMonitor | None, best_step: int | None) -> dict | None:
    if not config.until or monitor is None:
        return None
    return {
        "criteria": config.until,
        "met": monitor.met_at is not None,
        "met_at_step": monitor.met_at,
        "saved_step": best_step if best_step is not None else (monitor.last[0] if monitor.last else None),
    }


def _nll_summary(model, forget_eval, retain_eval, pad_id) -> dict:
    out = {"forget": mean_nll(model, forget_eval, pad_id)}
    if retain_eval:
        out["retain"] = mean_nll(model, retain_eval, pad_id)
    return out
