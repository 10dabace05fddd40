"""visualize_model (torchview + Graphviz) and the plot helpers."""
import matplotlib

matplotlib.use("Agg")  # this test module draws off-screen; notebooks keep their inline backend

import warnings

import numpy as np
import pytest

pytest.importorskip("torchview")

from din_tutorial import DIN, SequenceFeature, SparseFeature, visualize_model
from din_tutorial import visualize as V


def small_din():
    features = [SparseFeature("user_id", 10, 8), SparseFeature("gender", 2, 4)]
    target = [SparseFeature("item_id", 20, 8), SparseFeature("cate_id", 5, 8)]
    hist = [SequenceFeature("hist_item_id", 20, 8, pooling="concat", shared_with="item_id"),
            SequenceFeature("hist_cate_id", 5, 8, pooling="concat", shared_with="cate_id")]
    return DIN(features, hist, target, mlp_params={"dims": [16], "activation": "dice"},
               attention_mlp={"dims": [8], "activation": "dice"})


def test_graph_saved_as_png_svg_and_dot_with_named_inputs(tmp_path):
    if V.shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    model = small_din().train()
    visualize_model(model, save_dir=str(tmp_path / "vis"), model_name="din")
    files = sorted(p.name for p in (tmp_path / "vis").iterdir())
    assert files == ["din.gv", "din.png", "din.svg"]
    assert (tmp_path / "vis" / "din.png").read_bytes()[:4] == b"\x89PNG"
    source = (tmp_path / "vis" / "din.gv").read_text()
    for name in model.input_names:
        assert f"<TD>{name}<BR/>depth:0</TD>" in source
    assert "input-tensor" not in source
    assert model.training  # the model's mode is restored


def test_without_graphviz_one_sentence_and_the_dot_source(tmp_path, monkeypatch):
    monkeypatch.setattr(V.shutil, "which", lambda name: None)
    with pytest.warns(V.GraphvizMissing, match="install it"):
        visualize_model(small_din(), save_dir=str(tmp_path), model_name="m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gv"]


def test_dice_curve_is_prelu_when_statistics_are_zero():
    s = np.linspace(-3, 3, 61)
    s = s[np.abs(s) > 0.05]
    assert np.allclose(V.dice_curve(s, 0.3, 0.0, 0.0), np.where(s > 0, s, 0.3 * s))
    # with wide statistics the gate is smooth: at s = E[s], p = 1/2
    assert V.dice_curve(np.array([1.0]), 0.0, 1.0, 4.0)[0] == pytest.approx(0.5)


def test_plots_return_figures():
    fig = V.plot_training_curves({"DIN": [{"epoch": 0, "train_loss": 0.6, "val_auc": 0.7, "val_gauc": 0.68},
                                          {"epoch": 1, "train_loss": 0.5, "val_auc": 0.8, "val_gauc": 0.77}]})
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2
    fig = V.plot_attention([0.1, -0.5, 2.0], labels=["a", "b", "c"], highlight=[False, False, True])
    assert len(fig.axes[0].patches) == 3
    fig = V.plot_dice_vs_prelu(alpha=0.1, mean=0.5, var=2.0)
    assert len(fig.axes[0].lines) == 3


def test_plot_dice_vs_prelu_at_zero_variance_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Var = 0 is the slider's minimum (PReLU's limit): no overflow warning
        fig = V.plot_dice_vs_prelu(alpha=0.25, mean=0.0, var=0.0)
    gate = fig.axes[1].lines[0]
    s = gate.get_xdata()
    np.testing.assert_allclose(gate.get_ydata()[np.abs(s) > 0.01], (s[np.abs(s) > 0.01] > 0).astype(float))


def test_dice_gate_is_the_sigmoid_of_the_standardised_input_and_a_step_at_zero_variance():
    s = np.linspace(-3, 3, 13)
    assert np.allclose(V.dice_gate(s, 0.5, 2.0), 1 / (1 + np.exp(-(s - 0.5) / np.sqrt(2.0 + 1e-8))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gate = V.dice_gate(np.array([-2.0, 2.0]), 0.0, 0.0)
    assert gate.tolist() == [0.0, 1.0]


def test_graph_reads_inputs_embeddings_attention_mlp_without_padding_plumbing(tmp_path):
    """The padding map (eq/where per lookup) happens inside the tables, so the drawing shows modules, not plumbing."""
    import re
    from collections import Counter

    visualize_model(small_din(), save_dir=str(tmp_path), model_name="din", formats=())
    nodes = Counter(re.findall(r"<TD[^>]*>([A-Za-z_]+)<BR/>depth:\d", (tmp_path / "din.gv").read_text()))
    assert nodes["PaddedEmbedding"] == 6 and nodes["ActivationUnit"] == 1 and nodes["MLP"] == 1
    assert nodes["eq"] == 0 and nodes["where"] == 0, nodes
