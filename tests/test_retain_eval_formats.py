"""`--retain-eval` reads tru's evaluation folder or open-unlearning's TOFU_EVAL.json (issue 26)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tru import metrics
from tru.core.errors import InputError
from tru.evaluate import tofu_suite
from tru.evaluate.retain_logs import read_retain_truth_ratios, retain_truth_ratios_for

# the retain model's mean NLLs on 6 forget items: the paraphrased answer, and 3 perturbed answers each
PARA_NLL = [0.9, 1.4, 2.1, 0.7, 1.8, 1.1]
PERT_NLL = [[1.2, 1.0, 1.5], [1.1, 1.6, 1.3], [1.9, 2.4, 2.0], [1.5, 0.8, 1.0], [1.7, 1.9, 2.2], [0.6, 1.3, 1.2]]
# the evaluated (unlearned) model's forget truth ratios
EVALUATED = [0.4, 0.9, 1.3, 0.2, 2.5, 0.7]


def write_tru_eval(folder, ratios):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "EVAL.json").write_text(json.dumps({"metrics": {"forget": {"truth_ratio": list(ratios)}}}))
    return folder


def write_open_unlearning(file, para_nll, pert_nll):
    """TOFU_EVAL.json as open-unlearning writes it: its truth_ratio metric (src/evals/metrics/memorization.py)
    stores wrong_prob / (correct_prob + 1e-10) per index, the losses of the perturbed answers averaged."""
    correct = np.exp(-np.asarray(para_nll))
    wrong = np.exp(-np.asarray(pert_nll).mean(axis=1))
    scores = wrong / (correct + 1e-10)
    logs = {
        "forget_Q_A_Prob": {"agg_value": 0.5, "value_by_index": {str(i): {"prob": 0.5} for i in range(len(scores))}},
        "forget_truth_ratio": {
            "agg_value": float(np.mean(np.minimum(scores, 1 / (scores + 1e-10)))),
            "value_by_index": {str(i): {"score": float(s)} for i, s in enumerate(scores)},
        },
        "forget_quality": {"agg_value": None},
    }
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(logs, indent=4))
    return file


def test_open_unlearning_logs_give_the_forget_quality_of_the_equivalent_tru_evaluation(tmp_path):
    tru_ratios = metrics.truth_ratio(PARA_NLL, PERT_NLL).tolist()
    tru_folder = write_tru_eval(tmp_path / "tru", tru_ratios)
    ou_file = write_open_unlearning(tmp_path / "ou" / "TOFU_EVAL.json", PARA_NLL, PERT_NLL)

    from_tru = read_retain_truth_ratios(tru_folder)
    for given in (ou_file, ou_file.parent):  # the file, or the folder holding it
        from_ou = read_retain_truth_ratios(given)
        assert from_ou == pytest.approx(from_tru, rel=1e-8)  # the same raw R = p_pert / p_para
        assert metrics.forget_quality(EVALUATED, from_ou) == pytest.approx(metrics.forget_quality(EVALUATED, from_tru))
    # the reader tofu_suite.summarise uses, with the count check
    assert retain_truth_ratios_for(ou_file, len(EVALUATED)) == pytest.approx(from_tru, rel=1e-8)
    assert tofu_suite.load_retain_truth_ratios(str(ou_file)) == pytest.approx(from_tru, rel=1e-8)
    # not the clipped min(R, 1/R) form: that would be a different distribution
    clipped = np.minimum(from_tru, 1 / np.asarray(from_tru)).tolist()
    assert read_retain_truth_ratios(ou_file) != pytest.approx(clipped)


def test_a_folder_with_a_tru_evaluation_is_read_as_before(tmp_path):
    folder = write_tru_eval(tmp_path / "retain", [0.5, 1.5])
    assert read_retain_truth_ratios(folder) == [0.5, 1.5]
    assert read_retain_truth_ratios(folder / "EVAL.json") == [0.5, 1.5]


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"forget_Q_A_Prob": {"agg_value": 0.5}}),  # open-unlearning logs without the truth ratio
        json.dumps({"metrics": {"forget": {}}}),  # tru's shape without the ratios
        json.dumps([1, 2, 3]),
        "not json {",
    ],
)
def test_a_file_that_is_neither_format_is_one_clear_error(tmp_path, content):
    file = tmp_path / "logs.json"
    file.write_text(content)
    with pytest.raises(InputError) as info:
        read_retain_truth_ratios(file)
    message = str(info.value)
    assert str(file) in message
    assert "expected tru's EVAL.json (metrics.forget.truth_ratio)" in message
    assert "open-unlearning's TOFU_EVAL.json (forget_truth_ratio.value_by_index.<index>.score)" in message


def test_a_missing_score_names_its_index(tmp_path):
    file = tmp_path / "TOFU_EVAL.json"
    file.write_text(json.dumps({"forget_truth_ratio": {"value_by_index": {"0": {"score": 0.5}, "1": {"score": None}}}}))
    with pytest.raises(InputError, match=re.escape("field 'forget_truth_ratio.value_by_index.1.score'")):
        read_retain_truth_ratios(file)
    file.write_text(json.dumps({"forget_truth_ratio": {"agg_value": 0.5}}))
    with pytest.raises(InputError, match=re.escape("field 'forget_truth_ratio.value_by_index': holds no per-item")):
        read_retain_truth_ratios(file)


def test_a_folder_with_neither_file_is_not_found(tmp_path):
    with pytest.raises(InputError, match="retain model evaluation not found"):
        read_retain_truth_ratios(tmp_path)
    with pytest.raises(InputError, match="retain model evaluation not found"):
        read_retain_truth_ratios(tmp_path / "missing.json")


def test_the_item_count_must_match_the_evaluated_forget_split(tmp_path):
    ou_file = write_open_unlearning(tmp_path / "TOFU_EVAL.json", PARA_NLL, PERT_NLL)
    with pytest.raises(InputError) as info:
        retain_truth_ratios_for(ou_file, 40)
    assert str(ou_file) in str(info.value)
    assert "has 6 forget truth ratios, the evaluated forget split has 40 items" in str(info.value)
    folder = write_tru_eval(tmp_path / "tru", [0.5, 1.5])
    with pytest.raises(InputError, match="has 2 forget truth ratios, the evaluated forget split has 6 items"):
        retain_truth_ratios_for(folder, 6)
