"""Shortcuts a fourth independent read found through package functions an exercise's prompt or an earlier
notebook shows: each is refused, with the thing it used named (the honest answers pass in tests/test_exercises_NN.py).

The refusal reads an answer's code before the check calls it, so these answers only need to reach for the
function: their bodies are not run, and some (the split, the trainer's evaluation) stop short of a full answer."""
import numpy as np
import pytest

from din_tutorial.checks import ExerciseFailed
from din_tutorial.checks.data_checks import check_leave_one_out, check_pad_history
from din_tutorial.checks.evaluation_checks import check_gauc, check_reliability_bins
from din_tutorial.checks.real_data_checks import check_seed_interval


def split_by_the_package(items):
    from din_tutorial.data import draw_samples, sort_log  # the package's own pieces of generate_seq_feature
    import pandas as pd

    log = sort_log(pd.DataFrame({"user_id": 0, "item_id": items, "timestamp": range(len(items))}))
    draw_samples(log, shuffle=False, neg_ratio=0, max_len=len(items) + 1)
    return [], [], []


def pad_by_the_package(history, max_len):
    from din_tutorial.data import history_window

    column = np.array(list(history) + [-1] * max_len)
    return list(history_window(column, [max(0, len(history) - max_len)], np.array([min(len(history), max_len)]),
                               max_len)[0])


def gauc_by_the_trainer(y, p, u):
    from din_tutorial.training import CTRTrainer

    return CTRTrainer.evaluate  # reaching for the trainer's evaluation is the shortcut


def bins_by_the_display(y, p, n_bins):
    from sklearn.calibration import CalibrationDisplay

    d = CalibrationDisplay.from_predictions(y, p, n_bins=n_bins)
    return d.prob_pred, d.prob_true


def interval_by_the_ablation_summary(values):
    import pandas as pd

    from din_tutorial.tuning import summarize_ablation

    runs = pd.DataFrame({"variant": "a", "seed": range(len(values)), "test_gauc": values})
    r = summarize_ablation(runs).iloc[0]
    return r["mean"], r["high"] - r["mean"]


@pytest.mark.parametrize("check, answer, words", [
    (check_leave_one_out, split_by_the_package, "calls draw_samples"),
    (check_pad_history, pad_by_the_package, "calls history_window"),
    (check_gauc, gauc_by_the_trainer, "calls CTRTrainer"),
    (check_reliability_bins, bins_by_the_display, "calls CalibrationDisplay"),
    (check_seed_interval, interval_by_the_ablation_summary, "calls summarize_ablation"),
])
def test_a_package_function_shown_elsewhere_is_refused(check, answer, words):
    with pytest.raises(ExerciseFailed, match=words):
        check(answer)


def test_the_onnx_parity_check_refuses_verify_onnx():
    pytest.importorskip("onnxruntime")
    from din_tutorial.checks.export_checks import check_parity

    def via_verify_onnx(model, session, batches):
        from din_tutorial.export import verify_onnx

        return verify_onnx(model, session._model_path, batches=batches, shapes=(), atol=float("inf"))["max_abs_diff"]

    with pytest.raises(ExerciseFailed, match="calls verify_onnx"):
        check_parity(via_verify_onnx)
