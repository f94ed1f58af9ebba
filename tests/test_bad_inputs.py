"""Every input error of every command is one line on stderr that names the file, flag or key, exit status 2,
and nothing written: the whole test folder (inputs and --out) is the same before and after.

The errors fire in the settings checks or while reading the inputs, before a model is loaded; a damaged
model folder is found by reading its files' headers, not by loading it."""

import errno
import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tru.cli import main
from tru.config import UnlearnConfig, load_yaml_settings
from tru.core.errors import InputError

QA = [{"question": f"Who is person {i}?", "answer": f"Person {i} is a baker."} for i in range(4)]


def tree(root: Path) -> dict:
    """Every path under root with a hash of its content: what a refused command must leave alone."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def write_yaml(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def damaged_models(tmp_path_factory) -> SimpleNamespace:
    """Copies of the tiny model with a torn config.json, a truncated model.safetensors and no weights at all,
    and a run folder whose run never saved its model."""
    from tru.modeling.models import tiny_llama_path

    root = tmp_path_factory.mktemp("damaged_models")
    torn_config, truncated, no_weights = root / "torn_config", root / "truncated", root / "no_weights"
    for folder in (torn_config, truncated, no_weights):
        shutil.copytree(tiny_llama_path(), folder)
    (torn_config / "config.json").write_text('{"model_type": "llama", "hidden_', encoding="utf-8")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (no_weights / "model.safetensors").unlink()
    unfinished_run = root / "unfinished_run"
    unfinished_run.mkdir()
    for name in ("config.json", "environment.json"):
        (unfinished_run / name).write_text('{"method": "ga"}', encoding="utf-8")
    return SimpleNamespace(
        torn_config=str(torn_config),
        truncated=str(truncated),
        no_weights=str(no_weights),
        unfinished_run=str(unfinished_run),
    )


@pytest.fixture
def no_model_loads(monkeypatch):
    """Every refusal comes before a tokenizer or model is loaded (a load fails the test)."""
    import transformers

    def load(*args, **kwargs):
        raise AssertionError("a tokenizer or model was loaded before the input error")

    for loader in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        monkeypatch.setattr(loader, "from_pretrained", load)


@pytest.fixture
def f(tmp_path, monkeypatch, damaged_models, no_model_loads) -> SimpleNamespace:
    """The inputs of the cases, good and bad, all under tmp_path (the working directory)."""
    monkeypatch.chdir(tmp_path)
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(x) + "\n" for x in QA), encoding="utf-8")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "caf\xe9?", "answer": "a"}\n')
    folder = tmp_path / "a_folder"
    folder.mkdir()
    file = tmp_path / "a_file"
    file.write_text("not a folder\n", encoding="utf-8")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01lr: 1\n")
    return SimpleNamespace(
        root=tmp_path,
        qa=str(qa),
        latin=str(latin),
        folder=str(folder),
        file=str(file),
        binary=str(binary),
        out=str(tmp_path / "out"),
        models=damaged_models,
        yaml=lambda text, name="preset.yaml": write_yaml(tmp_path, name, text),
    )


def assert_refused(capsys, root: Path, args: list[str], names: list[str]) -> None:
    before = tree(root)
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1, err
    assert ": error: " in err[0] and "Traceback" not in err[0]
    for name in names:
        assert str(name) in err[0], (name, err[0])
    assert tree(root) == before, "a refused command wrote or deleted something"


def run_case(capsys, f, base: list[str], case) -> None:
    extra, names = case(f)
    assert_refused(capsys, f.root, base + extra, names)


def case(build, id):
    return pytest.param(build, id=id)


# cases every training command shares: (extra args, what the error line must name)
TRAIN_CASES = [
    case(lambda f: (["--config", f.yaml("lr: fast\n")], ["preset.yaml:1", "'lr'", "fast"]), "yaml-lr-text"),
    case(
        lambda f: (["--config", f.yaml("seed: 0\nbatch_size: 2.5\n")], ["preset.yaml:2", "'batch_size'"]),
        "yaml-int-with-fraction",
    ),
    case(
        lambda f: (["--config", f.yaml("overwrite: maybe\n")], ["preset.yaml:1", "'overwrite'", "true or false"]),
        "yaml-bool-word",
    ),
    case(
        lambda f: (["--config", f.yaml("max_steps: 1\nmax-steps: 2\n")], ["preset.yaml:2", "given twice"]),
        "yaml-key-twice",
    ),
    case(lambda f: (["--config", f.folder], [f.folder, "is a folder"]), "config-is-a-folder"),
    case(lambda f: (["--config", f.binary], [f.binary, "not valid UTF-8"]), "config-is-binary"),
    case(lambda f: (["--lr", "nan"], ["--lr", "finite"]), "lr-nan"),
    case(
        lambda f: (["--report-to", "tensorboard,wandbb"], ["--report-to wandbb", "unknown logger"]), "report-to-unknown"
    ),
    case(lambda f: (["--lr", "inf"], ["--lr", "finite"]), "lr-inf"),
    case(lambda f: (["--epochs", "nan"], ["--epochs", "finite"]), "epochs-nan"),
    case(lambda f: (["--weight-decay", "inf"], ["--weight-decay", "finite"]), "weight-decay-inf"),
    case(lambda f: (["--warmup-steps", "-5"], ["--warmup-steps"]), "warmup-negative"),
    case(lambda f: (["--lora-r", "-1"], ["--lora-r"]), "lora-r-negative"),
    case(lambda f: (["--lora-r", "2", "--lora-dropout", "2"], ["--lora-dropout"]), "lora-dropout-2"),
    case(lambda f: (["--lora-r", "2", "--lora-alpha", "-4"], ["--lora-alpha"]), "lora-alpha-negative"),
    case(lambda f: (["--seed", "-1"], ["--seed"]), "seed-negative"),
    case(lambda f: (["--out", f.file], ["--out", f.file, "is a file"]), "out-is-a-file"),
    case(lambda f: (["--out", f.file + "/run"], ["--out", "is a file"]), "out-under-a-file"),
    case(lambda f: (["--model", f.models.torn_config], ["config.json", "damaged"]), "model-config-torn"),
    case(lambda f: (["--model", f.models.truncated], ["model.safetensors", "damaged"]), "model-weights-truncated"),
]


@pytest.mark.parametrize(
    "build",
    TRAIN_CASES
    + [
        case(lambda f: (["--data", f.folder], [f.folder, "is a folder", ".jsonl"]), "data-is-a-folder"),
        case(lambda f: (["--data", f.latin], [f.latin + ":1", "not valid UTF-8"]), "data-not-utf8"),
        case(lambda f: (["--data", "tofu:full", "--tofu", "./no-tofu"], ["./no-tofu", "does not exist"]), "tofu-dot"),
        case(
            lambda f: (["--data", "tofu:full", "--tofu", "../no-tofu"], ["../no-tofu", "does not exist"]), "tofu-dotdot"
        ),
        case(
            lambda f: (["--data", "tofu:full", "--tofu", "no/such/tofu"], ["no/such/tofu", "does not exist"]),
            "tofu-nested",
        ),
        case(lambda f: (["--data", "tofu:full", "--tofu", f.file], [f.file, "is a file"]), "tofu-is-a-file"),
    ],
)
def test_finetune(capsys, f, build):
    base = [
        "finetune",
        "--model",
        "tiny-llama",
        "--data",
        f.qa,
        "--out",
        f.out,
        "--max-steps",
        "1",
        "--report-to",
        "none",
        "--max-length",
        "64",
    ]
    run_case(capsys, f, base, build)


@pytest.mark.parametrize(
    "build",
    TRAIN_CASES
    + [
        case(lambda f: (["--config", f.yaml("set: 5\n")], ["preset.yaml:1", "'set'"]), "yaml-set-not-a-mapping"),
        case(
            lambda f: (["--config", f.yaml("set:\n  alpha: [1, 2]\n")], ["preset.yaml:2", "'set'", "alpha"]),
            "yaml-set-value-a-list",
        ),
        case(lambda f: (["--config", f.yaml("summary_items: -1\n")], ["--summary-items"]), "yaml-summary-negative"),
        case(lambda f: (["--summary-items", "-1"], ["--summary-items"]), "summary-items-negative"),
        case(lambda f: (["--max-forget-nll", "-1"], ["--max-forget-nll"]), "max-forget-nll-negative"),
        case(lambda f: (["--stop-forget-nll", "-1"], ["--stop-forget-nll"]), "stop-forget-nll-negative"),
        case(lambda f: (["--max-forget-nll", "nan"], ["--max-forget-nll", "finite"]), "max-forget-nll-nan"),
        case(lambda f: (["--forget", f.folder], [f.folder, "is a folder"]), "forget-is-a-folder"),
        case(lambda f: (["--retain", f.folder], [f.folder, "is a folder"]), "retain-is-a-folder"),
        case(lambda f: (["--method", "tru", "--targets", f.folder], [f.folder, "is a folder"]), "targets-is-a-folder"),
        case(lambda f: (["--refusals", f.folder], [f.folder, "is a folder"]), "refusals-is-a-folder"),
        case(lambda f: (["--forget", f.latin], [f.latin + ":1", "not valid UTF-8"]), "forget-not-utf8"),
        case(lambda f: (["--refusals", f.latin], [f.latin + ":1", "not valid UTF-8"]), "refusals-not-utf8"),
        case(
            lambda f: (["--forget", "tofu:forget01", "--tofu", "./no-tofu"], ["./no-tofu", "does not exist"]),
            "tofu-dot",
        ),
        case(lambda f: (["--batch-size", "2.5"], ["--batch-size", "2.5"]), "flag-int-with-fraction"),
        case(lambda f: (["--set", "alpha"], ["--set", "KEY=VALUE"]), "flag-set-without-value"),
    ],
)
def test_unlearn(capsys, f, build):
    base = [
        "unlearn",
        "--model",
        "tiny-llama",
        "--method",
        "graddiff",
        "--forget",
        f.qa,
        "--retain",
        f.qa,
        "--out",
        f.out,
        "--max-steps",
        "1",
        "--report-to",
        "none",
        "--max-length",
        "64",
    ]
    run_case(capsys, f, base, build)


def test_quoted_no_never_overwrites_a_run(capsys, f):
    """overwrite: "no" is false, not a truthy string: the earlier run stays."""
    out = Path(f.out)
    out.mkdir()
    (out / "keep.txt").write_text("an earlier result\n", encoding="utf-8")
    base = [
        "unlearn",
        "--model",
        "tiny-llama",
        "--method",
        "graddiff",
        "--forget",
        f.qa,
        "--retain",
        f.qa,
        "--out",
        f.out,
        "--max-steps",
        "1",
        "--report-to",
        "none",
        "--max-length",
        "64",
    ]
    assert_refused(capsys, f.root, base + ["--config", f.yaml('overwrite: "no"\n')], [f.out])


EVAL_CASES = [
    case(lambda f: (["--forget", f.folder], [f.folder, "is a folder"]), "forget-is-a-folder"),
    case(lambda f: (["--forget", f.latin], [f.latin + ":1", "not valid UTF-8"]), "forget-not-utf8"),
    case(lambda f: (["--retain", f.folder], [f.folder, "is a folder"]), "retain-is-a-folder"),
    case(lambda f: (["--benchmark", "tofu", "--tofu", "./no-tofu"], ["./no-tofu", "does not exist"]), "tofu-dot"),
    case(lambda f: (["--out", f.file], ["--out", f.file]), "out-is-a-file"),
    case(lambda f: (["--model", f.models.truncated], ["model.safetensors", "damaged"]), "model-weights-truncated"),
    case(lambda f: (["--model", f.models.torn_config], ["config.json", "damaged"]), "model-config-torn"),
    case(lambda f: (["--model", f.models.no_weights], [f.models.no_weights, "no weights"]), "model-without-weights"),
    case(
        lambda f: (["--model", f.models.unfinished_run], [f.models.unfinished_run, "has not finished"]),
        "model-an-unfinished-run",
    ),
    case(lambda f: (["--config", f.yaml("limit: 2.5\n")], ["preset.yaml:1", "'limit'"]), "yaml-limit-fraction"),
    case(
        lambda f: (["--config", f.yaml("max_new_tokens: many\n")], ["preset.yaml:1", "'max_new_tokens'"]),
        "yaml-tokens-text",
    ),
]


@pytest.mark.parametrize(
    "build",
    EVAL_CASES
    + [
        case(
            lambda f: (["--config", f.yaml("judge: no\n")], ["preset.yaml:1", "'judge'", "quote it"]),
            "yaml-judge-unquoted-no",
        ),
        case(
            lambda f: (
                [
                    "--judge",
                    "llm",
                    "--judge-url",
                    "http://127.0.0.1:9/v1",
                    "--judge-model",
                    "m",
                    "--judge-key-file",
                    f.folder,
                ],
                [f.folder, "--judge-key-file"],
            ),
            "judge-key-is-a-folder",
        ),
        case(
            lambda f: (
                [
                    "--judge",
                    "llm",
                    "--judge-url",
                    "http://127.0.0.1:9/v1",
                    "--judge-model",
                    "m",
                    "--judge-key-file",
                    f.binary,
                ],
                [f.binary, "not valid UTF-8"],
            ),
            "judge-key-not-utf8",
        ),
        case(
            lambda f: (["--benchmark", "wmdp", "--forget", "", "--wmdp", f.folder], [f.folder, "--wmdp"]),
            "wmdp-is-a-folder",
        ),
    ],
)
def test_eval(capsys, f, build):
    base = ["eval", "--model", "tiny-llama", "--benchmark", "custom", "--forget", f.qa, "--out", f.out]
    run_case(capsys, f, base, build)


@pytest.mark.parametrize(
    "build",
    EVAL_CASES
    + [
        case(lambda f: (["--relearn-lr", "nan"], ["--relearn-lr", "finite"]), "relearn-lr-nan"),
        case(lambda f: (["--relearn-share", "nan"], ["--relearn-share"]), "relearn-share-nan"),
        case(lambda f: (["--seed", "-1"], ["--seed"]), "seed-negative"),
        case(
            lambda f: (["--attacks", "crosslingual", "--translations", f.folder], [f.folder, "is a folder"]),
            "translations-is-a-folder",
        ),
        case(
            lambda f: (["--attacks", "crosslingual", "--translations", f.latin], [f.latin + ":1", "not valid UTF-8"]),
            "translations-not-utf8",
        ),
        case(
            lambda f: (["--attacks", "jailbreak", "--jailbreak-templates", f.latin], [f.latin, "not valid UTF-8"]),
            "jailbreak-templates-not-utf8",
        ),
        case(
            lambda f: (
                [
                    "--translate-url",
                    "http://127.0.0.1:9/v1",
                    "--translate-model",
                    "m",
                    "--translate-key-file",
                    f.folder,
                ],
                [f.folder, "--translate-key-file"],
            ),
            "key-is-a-folder",
        ),
        case(
            lambda f: (["--reuse-eval", f.yaml("[]\n", "EVAL.json")], ["EVAL.json", "JSON list"]), "reuse-eval-a-list"
        ),
    ],
)
def test_attack(capsys, f, build):
    base = [
        "attack",
        "--model",
        "tiny-llama",
        "--benchmark",
        "custom",
        "--forget",
        f.qa,
        "--out",
        f.out,
        "--attacks",
        "paraphrase",
    ]
    run_case(capsys, f, base, build)


@pytest.mark.parametrize(
    "build",
    [
        case(lambda f: (["--forget", f.folder], [f.folder, "is a folder"]), "forget-is-a-folder"),
        case(lambda f: (["--forget", f.latin], [f.latin + ":1", "not valid UTF-8"]), "forget-not-utf8"),
        case(
            lambda f: (["--forget", "tofu:forget01", "--tofu", "../no-tofu"], ["../no-tofu", "does not exist"]),
            "tofu-dotdot",
        ),
        case(lambda f: (["--temperature", "nan"], ["--temperature", "finite"]), "temperature-nan"),
        case(lambda f: (["--config", f.yaml("max_tries: 1.5\n")], ["preset.yaml:1", "'max_tries'"]), "yaml-fraction"),
        case(
            lambda f: (["--config", f.yaml("allow_partial: 1\n")], ["preset.yaml:1", "'allow_partial'"]),
            "yaml-bool-as-number",
        ),
        case(
            lambda f: (
                [
                    "--generator",
                    "openai",
                    "--base-url",
                    "http://127.0.0.1:9/v1",
                    "--model",
                    "m",
                    "--prompt-set",
                    "custom",
                    "--prompt-file",
                    f.latin,
                ],
                [f.latin, "not valid UTF-8"],
            ),
            "prompt-file-not-utf8",
        ),
        case(lambda f: (["--out", f.file + "/targets.jsonl"], ["--out", "is a file"]), "out-under-a-file"),
        case(
            lambda f: (
                [
                    "--generator",
                    "openai",
                    "--base-url",
                    "http://127.0.0.1:9/v1",
                    "--model",
                    "m",
                    "--api-key-file",
                    f.latin,
                ],
                [f.latin, "not valid UTF-8"],
            ),
            "api-key-file-not-utf8",
        ),
        case(
            lambda f: (["--forget", "tofu:forget01", "--tofu", "nobody/no-such-tofu"], ["nobody/no-such-tofu", "hub"]),
            "tofu-hub-unreachable",
        ),
    ],
)
def test_targets(capsys, f, build, monkeypatch):
    import datasets

    def offline(hub_id, *args, **kwargs):  # what datasets raises without a network, at once
        raise ConnectionError(f"Couldn't reach '{hub_id}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    base = ["targets", "--forget", f.qa, "--out", str(f.root / "targets.jsonl"), "--scope", "the bakers"]
    run_case(capsys, f, base, build)


def finished_folders(root: Path) -> SimpleNamespace:
    """A run folder and an evaluation folder as `tru report` reads them (contents irrelevant here)."""
    run, ev = root / "run", root / "ev"
    for folder in (run, ev):
        folder.mkdir()
    (run / "config.json").write_text("{}", encoding="utf-8")
    (run / "summary.json").write_text("{}", encoding="utf-8")
    (run / "losses.jsonl").write_text('{"step": 1, "loss": 1.0}\n', encoding="utf-8")
    (ev / "SUMMARY.json").write_text("{}", encoding="utf-8")
    (ev / "EVAL.json").write_text("{}", encoding="utf-8")
    return SimpleNamespace(run=run, ev=ev)


def rewritten(folder: str, name: str, content: bytes, names: list[str]):
    """A case that replaces one file of the finished folders (``run`` or ``ev``) with bad content."""

    def build(f):
        (getattr(f.done, folder) / name).write_bytes(content)
        return [], names

    return build


def _report_over_a_folder_of_others(f):
    (Path(f.folder) / "notes.txt").write_text("mine\n", encoding="utf-8")
    return ["--out", f.folder, "--overwrite"], [f.folder, "not a report folder"]


@pytest.mark.parametrize(
    "build",
    [
        case(rewritten("ev", "EVAL.json", b"[1, 2]", ["EVAL.json", "JSON list"]), "eval-json-a-list"),
        case(rewritten("ev", "SUMMARY.json", b"[]", ["SUMMARY.json", "JSON list"]), "summary-json-a-list"),
        case(
            rewritten(
                "run",
                "losses.jsonl",
                b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": \xff}\n',
                ["losses.jsonl:2", "not valid UTF-8"],
            ),
            "losses-not-utf8",
        ),
        case(
            rewritten("run", "losses.jsonl", b'[1]\n{"step": 2}\n', ["losses.jsonl:1", "JSON list"]),
            "losses-row-a-list",
        ),
        case(rewritten("run", "summary.json", b'"done"', ["summary.json", "JSON string"]), "run-summary-a-string"),
        case(
            lambda f: (["--runs", f"m={f.done.run},{f.done.ev},{f.folder}"], [f.folder, "SUMMARY.json"]),
            "attack-folder-empty",
        ),
        case(lambda f: (["--out", f.file], ["--out", f.file, "is a file"]), "out-is-a-file"),
        case(_report_over_a_folder_of_others, "overwrite-a-folder-that-is-no-report"),
        case(lambda f: (["--config", f.yaml("runs: 5\n")], ["preset.yaml:1", "'runs'"]), "yaml-runs-not-a-mapping"),
        case(
            lambda f: (["--config", f.yaml("examples: all\n")], ["preset.yaml:1", "'examples'"]), "yaml-examples-text"
        ),
    ],
)
def test_report(capsys, f, build):
    f.done = finished_folders(f.root)
    base = ["report", "--runs", f"m={f.done.run},{f.done.ev}", "--out", f.out]
    run_case(capsys, f, base, build)


@pytest.mark.parametrize(
    "build",
    [
        case(lambda f: (["--out", f.file], ["--out", f.file, "is a file"]), "out-is-a-file"),
        case(lambda f: (["--out", f.file + "/synth"], ["--out", "is a file"]), "out-under-a-file"),
        case(
            lambda f: (["--config", f.yaml("entities: many\n")], ["preset.yaml:1", "'entities'"]), "yaml-entities-text"
        ),
        case(lambda f: (["--seed", "-1"], ["--seed"]), "seed-negative"),
    ],
)
def test_data_synth(capsys, f, build):
    run_case(capsys, f, ["data", "synth", "--entities", "3", "--out", f.out], build)


def _tofu_without_splits(f):
    folder = Path(f.folder)
    (folder / "forget01.jsonl").write_text(Path(f.qa).read_text(encoding="utf-8"), encoding="utf-8")
    return ["--tofu", f.folder], ["retain99.jsonl", "not found", "--tofu"]


@pytest.mark.parametrize(
    "build",
    [
        case(lambda f: (["--tofu", "./no-tofu"], ["./no-tofu", "does not exist"]), "tofu-dot"),
        case(lambda f: (["--tofu", f.file], [f.file, "is a file"]), "tofu-is-a-file"),
        case(_tofu_without_splits, "tofu-folder-missing-splits"),
        case(lambda f: (["--out", f.file], ["--out", f.file, "is a file"]), "out-is-a-file"),
        case(lambda f: (["--unlearn-lr", "nan"], ["--unlearn-lr", "finite"]), "unlearn-lr-nan"),
        case(lambda f: (["--targets", f.folder], [f.folder, "is a folder"]), "targets-is-a-folder"),
        case(lambda f: (["--refusals", f.latin], [f.latin, "not valid UTF-8"]), "refusals-not-utf8"),
        case(lambda f: (["--config", f.yaml("authors: 2.5\n")], ["preset.yaml:1", "'authors'"]), "yaml-authors"),
        case(lambda f: (["--config", f.yaml("set: {tru.lam: [5]}\n")], ["preset.yaml:1", "'set'"]), "yaml-set-list"),
    ],
)
def test_bench_tofu(capsys, f, build):
    """The bench would start with a cached data stage: the checks run before it (and before the hub)."""
    run_case(capsys, f, ["bench", "tofu", "--model", "tiny-llama", "--tofu", f.folder, "--out", f.out], build)


@pytest.mark.parametrize(
    "command, build",
    [
        ("muse", lambda f: (["--muse", "./no-muse"], ["./no-muse", "does not exist"])),
        ("muse", lambda f: (["--muse", f.folder], ["forget.jsonl", "not found", "--muse"])),
        ("wmdp", lambda f: (["--wmdp", f.folder], ["deduped_corpus_split_0.jsonl", "--wmdp"])),
    ],
    ids=["muse-missing", "muse-empty-folder", "wmdp-empty-folder"],
)
def test_bench_corpora(capsys, f, command, build):
    run_case(capsys, f, ["bench", command, "--model", "tiny-llama", "--out", f.out], build)


@pytest.mark.parametrize(
    "make_error, names",
    [
        (
            lambda path: OSError(errno.ENOSPC, "No space left on device", path),
            ["no space left on device", "forget.jsonl"],
        ),
        (lambda path: RuntimeError("I/O error: No space left on device (os error 28)"), ["no space left on device"]),
    ],
    ids=["oserror", "library-error-text"],
)
def test_full_disk_is_one_line(capsys, f, monkeypatch, make_error, names):
    """A full disk anywhere is one line (naming the file when the error carries it), not a traceback."""

    def full_disk(path, rows):
        raise make_error(str(path))

    monkeypatch.setattr("tru.data.synth.write_jsonl", full_disk)
    assert main(["data", "synth", "--entities", "3", "--out", f.out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(name in err[0] for name in names), err


def test_other_exceptions_still_show_their_traceback(f, monkeypatch):
    """Only storage errors become one line: a bug must stay visible."""

    def bug(path, rows):
        raise RuntimeError("a bug")

    monkeypatch.setattr("tru.data.synth.write_jsonl", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["data", "synth", "--entities", "3", "--out", f.out])


def test_yaml_values_convert_by_setting_type(tmp_path):
    path = write_yaml(
        tmp_path,
        "p.yaml",
        'lr: 1e-3\nmax_steps: "3"\nepochs: 2\nbatch_size: 4.0\noverwrite: "no"\n'
        "fuse: yes\nset:\n  alpha: 0.2\n  retain_loss: kl\n  tru_flag: true\n"
        "model: tiny-llama\nseed: 7\n",
    )
    values = load_yaml_settings(path, UnlearnConfig)
    assert values == {
        "lr": 0.001,
        "max_steps": 3,
        "epochs": 2.0,
        "batch_size": 4,
        "overwrite": False,
        "fuse": True,
        "set": {"alpha": "0.2", "retain_loss": "kl", "tru_flag": "true"},
        "model": "tiny-llama",
        "seed": 7,
    }
    assert type(values["lr"]) is float and type(values["max_steps"]) is int and values["overwrite"] is False


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("lr: 1e-3\nbatch_size: 2.5\n", 2, "batch_size"),
        ("overwrite: 1\n", 1, "overwrite"),
        ("lr: .nan\n", 1, "lr"),
        ("method:\n", 1, "method"),
        ("method: graddiff\n\nmetod: ga\n", 3, "metod"),
    ],
)
def test_yaml_errors_name_file_line_and_key(tmp_path, text, line, key):
    path = write_yaml(tmp_path, "p.yaml", text)
    with pytest.raises(InputError) as err:
        load_yaml_settings(path, UnlearnConfig)
    assert err.value.line == line and err.value.field == key and err.value.path == path


def test_python_api_values_are_checked_too(tmp_path):
    """The same type checks guard the Python API, where no YAML or argparse converts anything."""
    from tru.core.errors import ConfigError

    config = UnlearnConfig(model="tiny-llama", forget="f.jsonl", out=str(tmp_path / "o"), overwrite="no")
    with pytest.raises(ConfigError, match="--overwrite must be true or false"):
        config.validate()


def test_serve_token_file_not_utf8(capsys, f):
    assert_refused(
        capsys, f.root, ["serve", "--model", "tiny-llama", "--token-file", f.latin], [f.latin, "not valid UTF-8"]
    )
