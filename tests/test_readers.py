import json

import pytest

from tru.core.errors import InputError
from tru.data import MCQItem, Passage, QAItem, ReasoningTarget, read_records
from tru.data.corpora import load_muse_knowmem, load_passages, load_wmdp_mcq
from tru.data.readers import read_text_file
from tru.data.specs import check_tofu_source, load_items, looks_like_path
from tru.data.tofu import load_tofu


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_jsonl_and_optional_fields(tmp_path):
    path = write(
        tmp_path,
        "qa.jsonl",
        json.dumps({"question": "Q?", "answer": "A", "perturbed_answer": ["x", "y"]})
        + "\n\n"
        + json.dumps({"prompt": "P?", "response": "R"})
        + "\n",
    )
    items = read_records(path, QAItem)
    assert [i.question for i in items] == ["Q?", "P?"]
    assert items[0].perturbed_answer == ["x", "y"] and items[1].answer == "R"


def test_json_list_errors_keep_line_numbers(tmp_path):
    text = '[\n  {"question": "a", "answer": "b"},\n  {"question": "c"}\n]\n'
    with pytest.raises(InputError) as err:
        read_records(write(tmp_path, "qa.json", text), QAItem)
    assert err.value.line == 3 and err.value.field == "answer"
    assert "qa.json:3" in str(err.value)


def test_invalid_json_names_line(tmp_path):
    path = write(tmp_path, "bad.jsonl", '{"question": "a", "answer": "b"}\n{"question": \n')
    with pytest.raises(InputError) as err:
        read_records(path, QAItem)
    assert err.value.line == 2 and "invalid JSON" in str(err.value)


@pytest.mark.parametrize(
    "record, field",
    [
        ({"answer": "b"}, "question"),
        ({"question": 3, "answer": "b"}, "question"),
        ({"question": "a", "answer": "b", "perturbed_answer": "not a list"}, "perturbed_answer"),
        ({"question": "a", "answer": "  "}, "answer"),
    ],
)
def test_missing_or_wrongly_typed_field(tmp_path, record, field):
    path = write(
        tmp_path, "qa.jsonl", json.dumps({"question": "ok", "answer": "ok"}) + "\n" + json.dumps(record) + "\n"
    )
    with pytest.raises(InputError) as err:
        read_records(path, QAItem)
    assert (err.value.line, err.value.field) == (2, field)


def test_empty_file_and_non_utf8(tmp_path):
    with pytest.raises(InputError, match="holds no records"):
        read_records(write(tmp_path, "empty.jsonl", "\n\n"), QAItem)
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        read_records(
            write(tmp_path, "latin.jsonl", b'{"question": "a", "answer": "b"}\n{"question": "caf\xe9"}\n', mode="wb"),
            QAItem,
        )
    assert err.value.line == 2


def test_duplicate_ids_and_missing_file(tmp_path):
    rows = [{"id": 1, "text": "x"}, {"id": "1", "text": "y"}]
    with pytest.raises(InputError, match="duplicate id") as err:
        read_records(write(tmp_path, "p.jsonl", "\n".join(json.dumps(r) for r in rows)), Passage)
    assert err.value.line == 2
    with pytest.raises(InputError, match="does not exist"):
        read_records(tmp_path / "nope.jsonl", Passage)


def test_target_and_mcq_records(tmp_path):
    target = read_records(
        write(
            tmp_path,
            "t.jsonl",
            json.dumps({"question": "q", "reasoning": "r", "refusal": "s", "provenance": {"generator": "x"}}),
        ),
        ReasoningTarget,
    )[0]
    assert target.provenance == {"generator": "x"}
    with pytest.raises(InputError) as err:
        read_records(
            write(tmp_path, "m.jsonl", json.dumps({"question": "q", "choices": ["a", "b"], "answer": 2})), MCQItem
        )
    assert err.value.field == "answer"


def test_shared_benchmarks_load(shared_data):
    forget = load_tofu(shared_data / "tofu", "forget01_perturbed")
    assert len(forget) == 40 and len(forget[0].perturbed_answer) == 5 and forget[0].paraphrased_question
    assert len(load_tofu(shared_data / "tofu", "retain99")) == 3960
    bio = load_wmdp_mcq(shared_data / "wmdp" / "bio.jsonl")
    assert len(bio) == 1520 and len(bio[0].choices) == 4
    news = load_passages(shared_data / "muse_news" / "forget.jsonl")
    assert len(news) == 888  # one empty article dropped
    assert len(load_muse_knowmem(shared_data / "muse_news" / "knowmem_forget_qa.jsonl")) == 100
    with pytest.raises(InputError, match="no TOFU split 'forget02'"):
        load_tofu(shared_data / "tofu", "forget02")


@pytest.mark.parametrize(
    "load",
    [
        lambda path: read_records(path, QAItem),
        lambda path: load_items(str(path), "locuslab/TOFU"),  # peeks at the first record before reading
        lambda path: read_text_file(path),
    ],
    ids=["read_records", "load_items", "read_text_file"],
)
def test_a_folder_is_named_as_one(tmp_path, load):
    with pytest.raises(InputError, match="is a folder") as err:
        load(tmp_path)
    assert err.value.path == str(tmp_path)


@pytest.mark.parametrize(
    "source, message",
    [
        ("./nope", "TOFU folder does not exist"),
        ("../nope", "TOFU folder does not exist"),
        ("~/no/such/tofu", "TOFU folder does not exist"),
        ("nope/a/b", "TOFU folder does not exist"),
        ("file.txt", "is a file"),
    ],
)
def test_a_tofu_path_that_is_no_folder(tmp_path, monkeypatch, source, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match=message) as err:
        load_items("tofu:forget01", source)
    assert err.value.path == source


def test_hub_ids_are_not_taken_for_paths():
    assert not looks_like_path("locuslab/TOFU")
    assert looks_like_path("./tofu") and looks_like_path("data/tofu/full") and looks_like_path("/abs")
    check_tofu_source("locuslab/TOFU")  # no error: the hub loader reports what it finds
