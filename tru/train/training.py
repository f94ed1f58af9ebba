"""What fine-tuning and unlearning share: TrainingArguments, model loading, the run record, the atomic
model save."""

from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

from tru.core.errors import ConfigError
from tru.core.extension_builds import warn_about_old_build_locks
from tru.core.files import write_json
from tru.core.host_memory import configure_host_memory, host_memory_in_effect
from tru.core.processes import is_main_process, sharding_engine
from tru.core.rundir import prepare_run_dir, write_environment
from tru.core.settings import config_dict
from tru.modeling.models import (
    LoraSettings,
    ModelSettings,
    apply_lora,
    load_model,
    load_tokenizer,
    resolve_device,
    resolve_model_path,
)
from tru.train.config import TrainConfig


def model_settings(config: TrainConfig) -> ModelSettings:
    return ModelSettings(
        name=config.model,
        dtype=config.dtype,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
        gradient_checkpointing=config.gradient_checkpointing,
    )


def load_for_training(config: TrainConfig, recipe=None):
    """Tokenizer and model, LoRA-wrapped when asked. A recipe may choose the LoRA modules and
    prepare the model (freeze parameters, attach state) once it is wrapped. On the CPU, glibc is then
    told what to do with the memory a step frees (tru.core.host_memory: returned with gradient checkpointing)."""
    resolve_model_path(config.model)  # fails early, before anything is written
    if sharding_engine("") == "DEEPSPEED" and is_main_process():
        warn_about_old_build_locks()  # DeepSpeed builds ops as it starts, and waits on a stale lock silently
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    model = load_model(model_settings(config))
    lora = LoraSettings(r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    targets = recipe.lora_target_modules(model) if recipe is not None else None
    model = apply_lora(model, lora, target_modules=targets)
    if recipe is not None:
        recipe.prepare_model(model)
    if config.gradient_checkpointing and lora.r > 0:
        model.enable_input_require_grads()
    device = resolve_device(config.device)
    sparse_tied_embedding_gradient(model, device)
    configure_host_memory(device, gradient_checkpointing=config.gradient_checkpointing)
    return tokenizer, model


def sparse_tied_embedding_gradient(model, device) -> bool:
    """Let the input embedding pass a sparse gradient when its weight is the output layer's too.

    The embedding's dense backward fills a [vocabulary, hidden] tensor of zeros for the few rows a batch
    uses, and autograd then adds it to the output layer's dense gradient of the same weight: for SmolLM2
    two 113 MB tensors per step, a measurable part of a TRU step on a CPU (mostly faulting fresh pages
    in; BENCHMARKS.md, "Figures behind the code's comments"). A sparse gradient (the used rows only) is
    added into the dense one, so the weight's gradient is the same dense tensor. Only for a tied
    trainable weight (an untied embedding would end up with a sparse gradient, which AdamW does not
    take), in one process: DDP buckets an embedding marked sparse as a sparse gradient and fails on the
    dense sum, and FSDP and DeepSpeed shard gradients themselves. On the CPU only: on an accelerator the
    dense backward costs little, and the sparse one drops the padding token's rows by boolean indexing,
    which copies their count to the host (a synchronisation inside the step). True when switched on.
    """
    import os

    import torch

    if torch.device(device).type != "cpu" or sharding_engine("") or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return False
    embedding, head = model.get_input_embeddings(), model.get_output_embeddings()
    tied = (
        isinstance(embedding, torch.nn.Embedding)
        and head is not None
        and embedding.weight is getattr(head, "weight", None)
        and embedding.weight.requires_grad
    )
    if tied:
        embedding.sparse = True
    return tied


def fused_adamw_available() -> bool:
    """torch has a fused AdamW kernel for CPUs too from 2.4 on: the same update as the per-tensor loop,
    several times faster on a CPU (BENCHMARKS.md, "Figures behind the code's comments")."""
    import torch

    return tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4)


def adamw(params, *, lr: float, weight_decay: float = 0.0):
    """The AdamW that training uses, for loops outside the Trainer (relearning attack, benchmarks)."""
    import torch

    return torch.optim.AdamW(list(params), lr=lr, weight_decay=weight_decay, fused=fused_adamw_available() or None)


def training_arguments(config: TrainConfig, run_dir: Path):
    from transformers import TrainingArguments

    report_to = [] if config.report_to in ("", "none") else [x.strip() for x in config.report_to.split(",")]
    return TrainingArguments(
        output_dir=str(run_dir / "trainer"),  # TensorBoard events land in trainer/runs/
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        optim="adamw_torch_fused" if fused_adamw_available() else "adamw_torch",
        warmup_steps=config.warmup_steps,
        lr_scheduler_type=config.lr_scheduler,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        # the filter reads every step's loss back to the host to test it for NaN (a synchronisation
        # per step on a GPU) and hides a diverged step from the logged mean the divergence guard reads
        logging_nan_inf_filter=False,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_steps=config.save_steps if config.save_steps > 0 else 500,
        save_total_limit=2,
        report_to=report_to,
        remove_unused_columns=False,
        use_cpu=config.device == "cpu",
        dataloader_pin_memory=config.device != "cpu" and __import__("torch").cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def require_process_per_device(args, option: str) -> None:
    """A packed step needs one process per device: run as one process on several GPUs, the Trainer
    wraps the model in DataParallel, which would split the single packed row."""
    from tru.core.errors import ConfigError

    if args.n_gpu > 1:
        raise ConfigError(
            f"this process sees {args.n_gpu} GPUs: start one process per GPU with accelerate launch "
            f"(e.g. --config_file configs/accelerate/ddp.yaml), set CUDA_VISIBLE_DEVICES to one GPU, "
            f"or pass {option}"
        )


def check_run_folder(config: TrainConfig, inputs: dict[str, str]):
    """The checks of ``open_run`` that need nothing loaded: run them first, so that a refused --out
    costs no model load. Returns what the folder holds."""
    from tru.core.run_lock import RunLock
    from tru.core.rundir import check_inputs_outside, check_output_folder, inspect_folder

    folder = inspect_folder(config.out)
    check_output_folder(folder, overwrite=config.overwrite, resume=config.resume)
    check_inputs_outside(config.out, inputs)
    if folder.exists and is_main_process():
        RunLock(folder.path, "").check_free()
    return folder


@contextmanager
def open_run(config: TrainConfig, extra: dict, inputs: dict[str, str], command: str):
    """Check, lock and prepare the run directory; yields (run_dir, checkpoint to resume from or None).

    Nothing is written or deleted until every check has passed: an --out that is not a tru run folder is
    never emptied, ``--resume`` continues only an unfinished run (its settings must match; logged steps
    after the checkpoint are dropped so that the loss log has neither gaps nor duplicates), and no input
    may lie inside --out. The main process holds the folder's lock (tru.core.run_lock) until the block ends.
    """
    from accelerate import PartialState

    from tru.core.checkpoints import check_resumable, checkpoint_step, trim_loss_log
    from tru.core.run_lock import LOCK_NAME, RunLock
    from tru.core.rundir import RUN_OUTPUTS, inspect_folder

    state = PartialState()
    run_dir = Path(config.out).expanduser()
    folder = check_run_folder(config, inputs)
    record = {**config_dict(config), **extra}
    say = print if state.is_main_process else (lambda _text: None)
    resuming = config.resume and folder.is_run
    checkpoint = check_resumable(run_dir, json.loads(json.dumps(record, default=str)), say) if resuming else None
    state.wait_for_everyone()  # every process has looked before the main one changes anything
    lock = RunLock(run_dir, command) if state.is_main_process else None
    try:
        if lock is not None:
            lock.acquire()
            if _entries_besides(inspect_folder(run_dir), LOCK_NAME) != _entries_besides(folder, LOCK_NAME):
                raise ConfigError(f"{run_dir} changed while this run was starting (another process?); run again")
            if checkpoint is not None:
                trim_loss_log(run_dir / "losses.jsonl", checkpoint_step(checkpoint))
            else:
                if resuming:
                    say(
                        f"tru: no complete checkpoint in {run_dir}; the run starts again from step 0 "
                        f"(only its own files are replaced: {', '.join(RUN_OUTPUTS)})"
                    )
                prepare_run_dir(folder, replace=config.overwrite or resuming, keep=(LOCK_NAME,))
                write_json(run_dir / "config.json", record)
            write_environment(
                run_dir,
                world_size=state.num_processes,
                per_device_batch=config.batch_size,
                grad_accum=config.grad_accum,
                seed=config.seed,
                device=str(state.device),
                extra={
                    "distributed_type": sharding_engine(str(state.distributed_type.value)),
                    "host_memory": host_memory_in_effect(),
                },
            )
        state.wait_for_everyone()
        yield run_dir, checkpoint
    finally:
        if lock is not None:
            lock.release()


def _entries_besides(folder, name: str) -> tuple[str, ...]:
    return tuple(n for n in folder.entries if n != name)


def train_with_recovery(trainer, run_dir: Path, checkpoint: Path | None, guard):
    """trainer.train with resume and the divergence guard's verdict: the guard marks each good checkpoint
    complete and removes a bad one; a diverged run, or one whose final weights fail the guard's check,
    raises TrainingDiverged (naming the last good checkpoint) and leaves ``diverged.json``, so that no
    final model is written from a diverged state."""
    from tru.core.checkpoints import last_complete_checkpoint
    from tru.core.errors import TrainingDiverged

    trainer.add_callback(guard)
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    problem = guard.final_problem(trainer.model, trainer.state.global_step)
    if problem:
        good = last_complete_checkpoint(run_dir)
        if trainer.is_world_process_zero():
            write_json(
                run_dir / "diverged.json",
                {
                    "reason": problem,
                    "step": trainer.state.global_step,
                    "rejected_checkpoints": guard.rejected,
                    "last_good_checkpoint": str(good) if good else None,
                },
            )
        kept = (
            f"the last good checkpoint is {good} (--resume continues from it)"
            if good
            else "no good checkpoint was written before it"
        )
        raise TrainingDiverged(
            f"training diverged: {problem}; no final model was written, {kept} (lower --lr, or raise --max-forget-nll)"
        )
    return result


def save_model_atomically(
    trainer, tokenizer, target: Path, *, card: str | None = None, adapter_base: str | None = None
) -> None:
    """Save weights (safetensors, or the LoRA adapter), tokenizer and model card, then rename into place.

    Every process takes part (DeepSpeed and FSDP gather weights for the save); the main one writes.
    The files reach the disk (fsync) before the rename, so a power loss leaves the old model or the
    whole new one. ``card`` replaces the README.md (PEFT writes a blank one); ``adapter_base`` is the
    base model a saved adapter names (an alias's hub id instead of its local cache).
    """
    from tru.core.files import fsync_tree
    from tru.modeling.model_card import name_adapter_base, write_model_card

    tmp = target.with_name(f".{target.name}.partial")
    main = trainer.is_world_process_zero()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        tokenizer.save_pretrained(tmp)
        if adapter_base:
            name_adapter_base(tmp, adapter_base)
        if card is not None:
            write_model_card(tmp, card)
        fsync_tree(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    trainer.accelerator.wait_for_everyone()
