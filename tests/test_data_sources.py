"""Your own data: CSV and parquet files, hf: hub datasets, chat `messages` records and --question-field /
--answer-field column names, with errors that name the source, the line or row, and the field."""

import hashlib
import json
from pathlib import Path

import datasets
import pytest

from tru.cli import main
from tru.config import EvalConfig, UnlearnConfig, config_dict
from tru.core.errors import ConfigError, InputError
from tru.data.hub import parse_hub_spec
from tru.data.records import ColumnMap, Passage, QAItem
from tru.data.specs import load_items, read_source_table

CUSTOM = ColumnMap(question="prompt_text", answer="completion")


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch):
    """datasets writes what it reads into its cache: a folder of the test's, outside the folder a test compares."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("datasets_cache"))


def write_csv(folder: Path, text: str, name: str = "forget.csv") -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def write_jsonl(folder: Path, rows: list, name: str = "forget.jsonl") -> str:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def chat(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


# --- CSV and parquet -------------------------------------------------------------------------------------


def test_csv_with_custom_columns_keeps_every_cell_as_written(tmp_path):
    path = write_csv(
        tmp_path,
        'prompt_text,completion,id\n"Who wrote it, really?",1987,a\nWhat was the answer?,NA,b\n',
    )
    items = load_items(path, "locuslab/TOFU", CUSTOM)
    assert [(i.question, i.answer, i.id) for i in items] == [
        ("Who wrote it, really?", "1987", "a"),  # a number-like answer is text, not 1987
        ("What was the answer?", "NA", "b"),  # and NA is not a missing value
    ]


def test_csv_with_standard_columns_needs_no_mapping(tmp_path):
    items = load_items(write_csv(tmp_path, "question,answer\nQ1?,A1\nQ2?,A2\n"), "locuslab/TOFU")
    assert [(i.question, i.answer) for i in items] == [("Q1?", "A1"), ("Q2?", "A2")]


def test_a_csv_row_error_names_file_row_and_field(tmp_path):
    path = write_csv(tmp_path, "prompt_text,completion\nQ1?,A1\nQ2?,\n")
    with pytest.raises(InputError) as err:
        load_items(path, "locuslab/TOFU", CUSTOM)
    assert (err.value.path, err.value.row, err.value.field) == (path, 2, "answer")
    assert str(err.value).startswith(f"{path}, row 2: field 'answer': ")


def test_a_missing_mapped_column_names_the_file_the_column_and_the_columns_there(tmp_path):
    path = write_csv(tmp_path, "question,answer\nQ1?,A1\n")
    with pytest.raises(InputError) as err:
        load_items(path, "locuslab/TOFU", ColumnMap(question="prompt_text"))
    text = str(err.value)
    assert err.value.field == "prompt_text"
    for name in (path, "'prompt_text'", "--question-field", "question, answer"):
        assert name in text, (name, text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "has no header row"),
        ("question,question\nQ?,A\n", "named twice"),
        ("question,answer\nQ1?,A1\nQ2?,A2,extra,more\n", "cannot be read as csv"),
    ],
    ids=["empty", "column-twice", "ragged-row"],
)
def test_a_damaged_csv_is_one_error_naming_the_file(tmp_path, text, message):
    path = write_csv(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        load_items(path, "locuslab/TOFU")
    assert err.value.path == path and "\n" not in str(err.value)


def test_a_csv_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "forget.csv"
    path.write_bytes(b"question,answer\nQ1?,A1\ncaf\xe9?,A2\n")
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        load_items(str(path), "locuslab/TOFU")
    assert err.value.line == 3


def test_parquet_rows_become_qa_items_or_passages(tmp_path):
    qa, passages = tmp_path / "qa.parquet", tmp_path / "news.parquet"
    datasets.Dataset.from_list([{"q": "Q1?", "a": "A1"}, {"q": "Q2?", "a": "A2"}]).to_parquet(str(qa))
    datasets.Dataset.from_list([{"text": "one passage"}, {"text": "another"}]).to_parquet(str(passages))
    items = load_items(str(qa), "locuslab/TOFU", ColumnMap(question="q", answer="a"))
    assert [(i.question, i.answer) for i in items] == [("Q1?", "A1"), ("Q2?", "A2")]
    assert [p.text for p in load_items(str(passages), "locuslab/TOFU")] == ["one passage", "another"]
    assert all(isinstance(p, Passage) for p in load_items(str(passages), "locuslab/TOFU"))


def test_a_parquet_row_of_the_wrong_type_names_the_row(tmp_path):
    path = tmp_path / "qa.parquet"
    datasets.Dataset.from_list([{"question": "Q1?", "answer": 1}, {"question": "Q2?", "answer": 2}]).to_parquet(
        str(path)
    )
    with pytest.raises(InputError, match="expected a string") as err:
        load_items(str(path), "locuslab/TOFU")
    assert (err.value.row, err.value.field) == (1, "answer")


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    path = tmp_path / "qa.parquet"
    path.write_text("question,answer\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot be read as parquet") as err:
        load_items(str(path), "locuslab/TOFU")
    assert err.value.path == str(path)


# --- JSON Lines with other column names, chat messages ---------------------------------------------------


def test_jsonl_columns_are_mapped_per_record(tmp_path):
    path = write_jsonl(tmp_path, [{"prompt_text": "Q1?", "completion": "A1"}, {"prompt_text": "Q2?", "other": "x"}])
    with pytest.raises(InputError) as err:
        load_items(path, "locuslab/TOFU", CUSTOM)
    assert (err.value.line, err.value.field) == (2, "completion")
    assert "--answer-field" in str(err.value) and "prompt_text, other" in str(err.value)
    good = write_jsonl(tmp_path, [{"prompt_text": "Q1?", "completion": "A1"}], name="good.jsonl")
    assert [(i.question, i.answer) for i in load_items(good, "locuslab/TOFU", CUSTOM)] == [("Q1?", "A1")]


def test_swapped_columns_are_read_as_mapped(tmp_path):
    path = write_jsonl(tmp_path, [{"question": "the answer", "answer": "the question?"}])
    items = load_items(path, "locuslab/TOFU", ColumnMap(question="answer", answer="question"))
    assert (items[0].question, items[0].answer) == ("the question?", "the answer")


def test_chat_messages_become_the_last_exchange(tmp_path):
    rows = [
        chat(("system", "Be brief."), ("user", "Who is Ada?"), ("assistant", "A mathematician.")),
        chat(
            ("user", "Hi"),
            ("assistant", "Hello."),
            ("user", "Where was she born?"),
            ("assistant", "London."),
            ("user", "Thanks"),  # no reply yet: the pair before it is the item
        ),
    ]
    items = load_items(write_jsonl(tmp_path, rows), "locuslab/TOFU")
    assert [(i.question, i.answer) for i in items] == [
        ("Who is Ada?", "A mathematician."),
        ("Where was she born?", "London."),
    ]


@pytest.mark.parametrize(
    "record, message",
    [
        (chat(("system", "s"), ("user", "Who?")), "no assistant turn"),
        (chat(("system", "s"), ("assistant", "An answer.")), "no user turn"),
        (chat(("assistant", "Hi."), ("user", "Who?")), "no user turn before"),  # the user turn comes after
        ({"messages": "Who? Ada."}, "expected a list"),
    ],
    ids=["no-assistant", "no-user", "user-only-after", "not-a-list"],
)
def test_a_chat_record_without_a_question_or_answer_names_file_line_and_messages(tmp_path, record, message):
    path = write_jsonl(tmp_path, [chat(("user", "Q?"), ("assistant", "A.")), record])
    with pytest.raises(InputError, match=message) as err:
        load_items(path, "locuslab/TOFU")
    assert (err.value.path, err.value.line, err.value.field) == (path, 2, "messages")
    assert f"{path}:2: field 'messages'" in str(err.value)


def test_an_empty_chat_turn_names_the_turn(tmp_path):
    path = write_jsonl(tmp_path, [chat(("user", "Q?"), ("assistant", " "))])
    with pytest.raises(InputError) as err:
        load_items(path, "locuslab/TOFU")
    assert (err.value.line, err.value.field) == (1, "messages[1].content")


# --- hf: hub datasets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, dataset, config, split",
    [
        ("hf:locuslab/TOFU:forget01@train", "locuslab/TOFU", "forget01", "train"),
        ("hf:owner/name", "owner/name", None, "train"),
        ("hf:owner/name@test", "owner/name", None, "test"),
        ("hf:squad", "squad", None, "train"),
    ],
)
def test_hub_specs(spec, dataset, config, split):
    hub = parse_hub_spec(spec)
    assert (hub.dataset, hub.config, hub.split) == (dataset, config, split)


@pytest.mark.parametrize("spec", ["hf:", "hf:/name", "hf:a/b/c", "hf:owner/name:x:y", "hf:owner/name@a@b"])
def test_a_malformed_hub_spec_shows_the_syntax(spec):
    with pytest.raises(ConfigError, match=r"hf:OWNER/NAME\[:CONFIG\]\[@SPLIT\]"):
        parse_hub_spec(spec)


def test_a_hub_dataset_loads_with_its_columns_mapped(monkeypatch):
    calls = []

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return datasets.Dataset.from_list([{"prompt_text": "Q1?", "completion": "A1", "score": 3}])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    items = load_items("hf:me/my-qa:v2@validation", "locuslab/TOFU", CUSTOM)
    assert [(i.question, i.answer) for i in items] == [("Q1?", "A1")]
    assert calls == [("me/my-qa", "v2", {"split": "validation"})]
    with pytest.raises(InputError) as err:
        load_items("hf:me/my-qa", "locuslab/TOFU", ColumnMap(question="text"))
    assert "hf:me/my-qa" in str(err.value) and "prompt_text, completion, score" in str(err.value)


def offline(path, *args, **kwargs):  # what datasets raises without a network
    raise ConnectionError(f"Couldn't reach '{path}' on the Hub (LocalEntryNotFoundError)")


def not_found(path, *args, **kwargs):
    raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")


@pytest.mark.parametrize("load, message", [(offline, "could not reach"), (not_found, "no dataset 'me/gone'")])
def test_an_unavailable_hub_dataset_is_one_line_naming_the_spec(monkeypatch, load, message):
    monkeypatch.setattr(datasets, "load_dataset", load)
    with pytest.raises(InputError, match=message) as err:
        load_items("hf:me/gone@train", "locuslab/TOFU")
    assert str(err.value).startswith("hf:me/gone@train: ") and "\n" not in str(err.value)


def tree(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def test_tru_targets_offline_hub_is_refused_with_nothing_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "load_dataset", offline)
    before = tree(tmp_path)
    code = main(["targets", "--forget", "hf:me/my-qa@train", "--out", "targets.jsonl", "--scope", "me"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "hf:me/my-qa@train" in err[0] and "could not reach" in err[0]
    assert tree(tmp_path) == before


# --- the flags -------------------------------------------------------------------------------------------


def test_tru_targets_reads_a_csv_by_the_named_columns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path, "prompt_text,completion\nWho is Ada Quill?,Ada Quill is a baker in Leeds.\n")
    args = ["targets", "--forget", "forget.csv", "--out", "targets.jsonl", "--scope", "the bakers"]
    assert main(args + ["--question-field", "prompt_text", "--answer-field", "completion"]) == 0, capsys.readouterr()
    written = [json.loads(line) for line in (tmp_path / "targets.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["question"] for t in written] == ["Who is Ada Quill?"]
    capsys.readouterr()
    assert main(args + ["--overwrite"]) == 2  # without the names, the file has no question column
    assert "forget.csv, row 1: field 'question'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["unlearn", "finetune", "eval", "attack", "targets"])
def test_every_qa_command_takes_the_column_flags(command, capsys):
    assert main([command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "--question-field" in shown and "--answer-field" in shown


def test_unset_column_names_leave_the_recorded_settings_as_they_were():
    assert not {"question_field", "answer_field"} & set(config_dict(UnlearnConfig(forget="f.csv")))
    named = config_dict(EvalConfig(model="m", question_field="q"))
    assert named["question_field"] == "q" and "answer_field" not in named


def test_json_sources_have_no_table(tmp_path):
    path = write_jsonl(tmp_path, [{"question": "Q?", "answer": "A"}])
    assert read_source_table(path) is None
    assert isinstance(load_items(path, "locuslab/TOFU")[0], QAItem)
