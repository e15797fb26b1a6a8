"""antorcha.summary: torchinfo's model summary, checked against counts worked out by hand.

Each figure is written as its arithmetic (weights + biases, elements x 4 bytes, x 2 for the
gradient); the last tests compare with torchinfo itself on the torch twin, where it is installed.
"""

from __future__ import annotations

import pytest

import antorcha
from antorcha import nn
from antorcha.gpt.model import Block, GPTConfig

F32 = 4  # bytes per float32 element


def lesson_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 1))


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 10),
    )


def rows(stats) -> list[tuple]:
    return [(r.class_name, r.depth, r.output_size, r.num_params, r.macs) for r in stats.summary_list]


def test_lesson_mlp_figures() -> None:
    stats = antorcha.summary(lesson_mlp(), input_size=(64, 10), verbose=0)
    fc1, fc2 = 10 * 100 + 100, 100 * 1 + 1
    assert rows(stats)[0][:4] == ("Sequential", 0, [64, 1], fc1 + fc2)
    assert rows(stats)[1:] == [
        ("Linear", 1, [64, 100], fc1, 64 * fc1),  # torchinfo: each weight and bias once per batch row
        ("ReLU", 1, [64, 100], 0, 0),
        ("Linear", 1, [64, 1], fc2, 64 * fc2),
    ]
    assert stats.total_params == stats.trainable_params == 1_201
    assert stats.total_mult_adds == 64 * fc1 + 64 * fc2 == 76_864
    assert stats.total_input == 64 * 10 * F32
    assert stats.total_output_bytes == (64 * 100 + 64 * 1) * F32 * 2  # layers with weights, x2 for grads
    assert stats.total_param_bytes == 1_201 * F32


def test_cnn_figures() -> None:
    stats = antorcha.summary(small_cnn(), input_size=(2, 1, 8, 8), verbose=0)
    conv1, conv2, fc = 8 * 1 * 3 * 3 + 8, 16 * 8 * 3 * 3 + 16, 64 * 10 + 10
    assert rows(stats)[1:] == [
        ("Conv2d", 1, [2, 8, 8, 8], conv1, conv1 * 2 * 8 * 8),  # per output position (batch x H x W)
        ("ReLU", 1, [2, 8, 8, 8], 0, 0),
        ("MaxPool2d", 1, [2, 8, 4, 4], 0, 0),
        ("Conv2d", 1, [2, 16, 2, 2], conv2, conv2 * 2 * 2 * 2),
        ("Flatten", 1, [2, 64], 0, 0),
        ("Linear", 1, [2, 10], fc, fc * 2),
    ]
    assert stats.total_params == conv1 + conv2 + fc == 1_898
    assert stats.total_mult_adds == 10_240 + 9_344 + 1_300
    assert stats.total_output_bytes == (2 * 8 * 8 * 8 + 2 * 16 * 2 * 2 + 2 * 10) * F32 * 2
    assert stats.total_param_bytes == 1_898 * F32
    assert [r.kernel_size for r in stats.summary_list[1:4]] == [[3, 3], None, 2]


def test_transformer_encoder_layer_figures() -> None:
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    stats = antorcha.summary(layer, input_size=(2, 10, 32), verbose=0)
    attn = (3 * 32 * 32 + 3 * 32) + (32 * 32 + 32)  # in_proj + out_proj (out_proj's forward never runs)
    norm, lin1, lin2 = 2 * 32, 32 * 64 + 64, 64 * 32 + 32
    assert [(r.class_name, r.num_params) for r in stats.summary_list[1:]] == [
        ("MultiheadAttention", attn),
        ("Dropout", 0),
        ("LayerNorm", norm),
        ("Linear", lin1),
        ("Dropout", 0),
        ("Linear", lin2),
        ("Dropout", 0),
        ("LayerNorm", norm),
    ]
    assert stats.total_params == attn + 2 * norm + lin1 + lin2 == 8_544
    # torchinfo's totals take leaf layers only: MultiheadAttention (it has a child) adds no
    # mult-adds, no activation bytes and no parameter bytes, though its parameters are counted.
    assert stats.total_mult_adds == 2 * (2 * norm + lin1 + lin2)
    assert stats.total_output_bytes == (3 * 2 * 10 * 32 + 2 * 10 * 64) * F32 * 2
    assert stats.total_param_bytes == (2 * norm + lin1 + lin2) * F32


def test_gpt_block_figures() -> None:
    block = Block(GPTConfig(n_embd=32, n_head=4, block_size=16, dropout=0.0))
    stats = antorcha.summary(block, input_size=(2, 10, 32), verbose=0)
    ln, c_attn, attn_proj, c_fc, mlp_proj = 2 * 32, 32 * 96 + 96, 32 * 32 + 32, 32 * 128 + 128, 128 * 32 + 32
    total = 2 * ln + c_attn + attn_proj + c_fc + mlp_proj
    assert stats.total_params == total == 12_704
    assert stats.total_mult_adds == 2 * total  # every leaf with weights sees batch 2
    assert stats.total_output_bytes == 2 * 10 * (32 + 96 + 32 + 32 + 128 + 32) * F32 * 2
    assert stats.total_param_bytes == total * F32
    depths = {(r.class_name, r.depth) for r in stats.summary_list}
    assert {("CausalSelfAttention", 1), ("MLP", 1), ("Linear", 2), ("LayerNorm", 1)} <= depths


def nested() -> nn.Module:
    return nn.Sequential(
        nn.Sequential(nn.Linear(4, 8), nn.ReLU()),
        nn.Sequential(nn.Sequential(nn.Linear(8, 2))),
    )


def table_rows(stats) -> list[list[str]]:
    """The layer rows of the printed table, split on runs of spaces."""
    lines = str(stats).splitlines()
    body = lines[3 : lines.index(lines[0], 3)]  # between the header's divider and the next one
    return [line.split() for line in body]


def test_depth_folds_nested_sequentials() -> None:
    shallow = antorcha.summary(
        nested(), input_size=(3, 4), depth=1, col_names=("num_params", "mult_adds"), verbose=0
    )
    assert table_rows(shallow) == [
        ["Sequential", "--", "--"],
        ["├─Sequential:", "1-1", f"{4 * 8 + 8}", f"{3 * 40}"],  # folded: the whole subtree's figures
        ["├─Sequential:", "1-2", f"{8 * 2 + 2}", f"{3 * 18}"],
    ]
    deep = antorcha.summary(nested(), input_size=(3, 4), depth=3, verbose=0)
    assert [row[:2] for row in table_rows(deep)] == [
        ["Sequential", "[3,"],
        ["├─Sequential:", "1-1"],
        ["│", "└─Linear:"],
        ["│", "└─ReLU:"],
        ["├─Sequential:", "1-2"],
        ["│", "└─Sequential:"],
        ["│", "│"],
    ]
    assert table_rows(deep)[6][2:4] == ["└─Linear:", "3-1"]
    assert table_rows(deep)[1][-1] == "--"  # an unfolded container shows only its own parameters
    assert deep.total_params == shallow.total_params == 40 + 18


def test_reused_module_counts_once() -> None:
    shared = nn.Linear(4, 4)
    stats = antorcha.summary(nn.Sequential(shared, nn.ReLU(), shared), input_size=(5, 4), verbose=0)
    assert [r.is_recursive for r in stats.summary_list] == [False, False, False, True]
    assert stats.total_params == 4 * 4 + 4
    assert stats.total_param_bytes == 20 * F32
    assert stats.total_mult_adds == 2 * 5 * 20  # but it ran twice
    assert table_rows(stats)[3][-1] == "(recursive)"


class TiedEmbedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, 4)
        self.head = nn.Linear(4, 5, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, idx):
        return self.head(self.embed(idx))


def test_tied_weight_counts_once_in_totals() -> None:
    stats = antorcha.summary(TiedEmbedding(), input_data=antorcha.zeros(2, 3, dtype=antorcha.long), verbose=0)
    assert [r.num_params for r in stats.summary_list[1:]] == [5 * 4, 5 * 4]  # each row shows it
    assert stats.total_params == 5 * 4  # torchinfo says 40 here; model.parameters() holds 20
    assert stats.total_param_bytes == 5 * 4 * F32
    assert stats.total_input == 2 * 3 * 8  # int64 indices


def test_gpt_with_module_dict_list_and_tied_head() -> None:
    from antorcha.gpt.model import GPT

    config = GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16)
    stats = antorcha.summary(GPT(config), input_data=antorcha.zeros(1, 8, dtype=antorcha.long), verbose=0)
    C, V, T = 16, 11, 8
    block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    assert stats.total_params == V * C + T * C + 2 * block + 2 * C  # lm_head's weight is wte's
    names = [(r.class_name, r.depth) for r in stats.summary_list[:4]]
    # the ModuleDict and ModuleList never run forward themselves; their rows are slotted in
    assert names == [("GPT", 0), ("ModuleDict", 1), ("Embedding", 2), ("Embedding", 2)]
    assert ("ModuleList", 2) in [(r.class_name, r.depth) for r in stats.summary_list]


def test_frozen_parameters_are_non_trainable() -> None:
    model = lesson_mlp()
    model[0].requires_grad_(False)
    stats = antorcha.summary(model, input_size=(64, 10), verbose=0)
    assert (stats.total_params, stats.trainable_params) == (1_201, 101)
    text = str(stats)
    assert "Non-trainable params: 1,100" in text
    assert table_rows(stats)[1][-1] == "(1,100)"


def test_printed_table_structure(capsys: pytest.CaptureFixture[str]) -> None:
    stats = antorcha.summary(lesson_mlp(), input_size=(64, 10))
    printed = capsys.readouterr().out
    assert printed == str(stats) + "\n"
    lines = printed.splitlines()
    width = 40 + 2 * 25  # the name column, then two 25-wide columns
    assert lines[0] == lines[2] == lines[7] == "=" * width
    assert lines[1] == f"{'Layer (type:depth-idx)':<40} {'Output Shape':<25} Param #"
    assert lines[3] == f"{'Sequential':<40} {'[64, 1]':<25} --"
    assert lines[4] == f"{'├─Linear: 1-1':<40} {'[64, 100]':<25} 1,100"
    assert lines[5] == f"{'├─ReLU: 1-2':<40} {'[64, 100]':<25} --"
    assert lines[6] == f"{'├─Linear: 1-3':<40} {'[64, 1]':<25} 101"
    assert lines[8:12] == [
        "Total params: 1,201",
        "Trainable params: 1,201",
        "Non-trainable params: 0",
        f"Total mult-adds (M): {76_864 / 1e6:.2f}",
    ]
    assert lines[13:] == [
        f"Input size (MB): {2560 / 1e6:.2f}",
        f"Forward/backward pass size (MB): {51_712 / 1e6:.2f}",
        f"Params size (MB): {4_804 / 1e6:.2f}",
        f"Estimated Total Size (MB): {(2560 + 51_712 + 4_804) / 1e6:.2f}",
        "=" * width,
    ]


def test_extra_columns_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    cols = ("input_size", "output_size", "num_params", "kernel_size", "mult_adds")
    stats = antorcha.summary(small_cnn(), input_size=(2, 1, 8, 8), col_names=cols, verbose=0)
    assert capsys.readouterr().out == ""
    header = str(stats).splitlines()[1].split("  ")
    assert [h.strip() for h in header if h.strip()][1:] == [
        "Input Shape",
        "Output Shape",
        "Param #",
        "Kernel Shape",
        "Mult-Adds",
    ]
    conv_row = str(stats).splitlines()[4]
    assert "[2, 1, 8, 8]" in conv_row and "[3, 3]" in conv_row and "10,240" in conv_row


def test_without_input_only_counts_parameters() -> None:
    stats = antorcha.summary(lesson_mlp(), verbose=0)
    assert stats.total_params == 1_201
    assert "Output Shape" not in str(stats) and "Total mult-adds" not in str(stats)


def test_restores_training_mode_per_module() -> None:
    model = lesson_mlp()
    model[1].eval()
    antorcha.summary(model, input_size=(2, 10), verbose=0)
    assert [m.training for m in model.modules()] == [True, True, False, True]
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks


def test_bad_arguments() -> None:
    with pytest.raises(RuntimeError, match="Only one of"):
        antorcha.summary(lesson_mlp(), input_size=(1, 10), input_data=antorcha.zeros(1, 10))
    with pytest.raises(ValueError, match="Verbose"):
        antorcha.summary(lesson_mlp(), input_size=(1, 10), verbose=3)
    with pytest.raises(ValueError, match="mult_adds"):
        antorcha.summary(lesson_mlp(), col_names=("mult_adds",))
    with pytest.raises(RuntimeError, match="Executed layers up to"):
        antorcha.summary(lesson_mlp(), input_size=(1, 7), verbose=0)  # 7 features into Linear(10, .)


# ---- torchinfo itself on the torch twin, where it is installed ----------------------------------


def _twin_pairs():
    import torch

    tnn = torch.nn
    return [
        (lesson_mlp(), tnn.Sequential(tnn.Linear(10, 100), tnn.ReLU(), tnn.Linear(100, 1)), (64, 10)),
        (
            small_cnn(),
            tnn.Sequential(
                tnn.Conv2d(1, 8, 3, padding=1),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Conv2d(8, 16, 3),
                tnn.Flatten(),
                tnn.Linear(64, 10),
            ),
            (2, 1, 8, 8),
        ),
        (
            nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
            tnn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
            (2, 10, 32),
        ),
        (
            nested(),
            tnn.Sequential(
                tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU()), tnn.Sequential(tnn.Sequential(tnn.Linear(8, 2)))
            ),
            (3, 4),
        ),
        (_reuse(nn), _reuse(tnn), (5, 4)),
        (_stack(nn), _stack(tnn), (2, 6)),
    ]


def _reuse(lib):
    shared = lib.Linear(4, 4)
    return lib.Sequential(shared, lib.ReLU(), shared, lib.BatchNorm1d(4))


def _stack(lib):
    """A ModuleList whose own forward never runs, inside a Module with a frozen first layer."""

    class Stack(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = lib.ModuleList([lib.Linear(6, 6) for _ in range(3)])
            self.layers[0].requires_grad_(False)
            self.embed = lib.Embedding(4, 6)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).relu()
            return x + self.embed.weight.sum()

    return Stack()


@pytest.mark.parametrize("depth", [1, 3])
def test_matches_torchinfo(depth: int) -> None:
    ti = pytest.importorskip("torchinfo")
    cols = ("input_size", "output_size", "num_params", "kernel_size", "mult_adds", "trainable")
    for ours_model, theirs_model, size in _twin_pairs():
        ours = antorcha.summary(ours_model, input_size=size, depth=depth, col_names=cols, verbose=0)
        theirs = ti.summary(
            theirs_model, input_size=size, depth=depth, col_names=cols, verbose=0, device="cpu"
        )
        for attr in (
            "total_params",
            "trainable_params",
            "total_mult_adds",
            "total_output_bytes",
            "total_param_bytes",
        ):
            assert getattr(ours, attr) == getattr(theirs, attr), (type(ours_model).__name__, attr)
        assert ours.total_input == theirs.total_input - 64  # torchinfo adds the storage object's header
        their_text = str(theirs).replace("(Units.MEGABYTES)", "(M)")  # torchinfo's enum on Python >= 3.11
        assert str(ours) == their_text
        verbose_ours = antorcha.summary(ours_model, input_size=size, depth=depth, verbose=0)
        verbose_ours.formatting.verbose = 2  # the per-weight lines (├─weight, └─bias)
        verbose_theirs = ti.summary(theirs_model, input_size=size, depth=depth, verbose=0, device="cpu")
        verbose_theirs.formatting.verbose = 2
        assert "└─" in str(verbose_ours)
        assert str(verbose_ours) == str(verbose_theirs).replace("(Units.MEGABYTES)", "(M)")


def _two_inputs(lib):
    class TwoInputs(lib.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = lib.Linear(3, 4), lib.Linear(5, 4)

        def forward(self, x, y=None):
            return [self.a(x) + self.b(y)]  # a list output: the first tensor's shape is reported

    return TwoInputs()


def test_several_inputs_and_batch_dim() -> None:
    stats = antorcha.summary(_two_inputs(nn), input_size=[(2, 3), (2, 5)], verbose=0)
    assert stats.total_input == (2 * 3 + 2 * 5) * F32
    assert stats.summary_list[0].output_size == [2, 4]
    assert stats.total_mult_adds == 2 * (3 * 4 + 4) + 2 * (5 * 4 + 4)
    kwargs = {"x": antorcha.zeros(2, 3), "y": antorcha.zeros(2, 5)}
    assert antorcha.summary(_two_inputs(nn), input_data=kwargs, verbose=0).total_params == 16 + 24
    batched = antorcha.summary(nn.Sequential(nn.Linear(3, 4)), input_size=(7, 3), batch_dim=0, verbose=0)
    assert batched.summary_list[1].output_size == [1, 7, 4]  # the batch of 1 put in front
    assert batched.total_input == 7 * 3 * F32


def test_several_inputs_and_batch_dim_match_torchinfo() -> None:
    ti = pytest.importorskip("torchinfo")
    import torch

    cols = ("input_size", "output_size", "num_params", "mult_adds")
    cases = [
        (_two_inputs(nn), _two_inputs(torch.nn), {"input_size": [(2, 3), (2, 5)]}),
        (
            nn.Sequential(nn.Linear(3, 4)),
            torch.nn.Sequential(torch.nn.Linear(3, 4)),
            {"input_size": (7, 3), "batch_dim": 0},
        ),
    ]
    for ours_model, theirs_model, kwargs in cases:
        ours = antorcha.summary(ours_model, col_names=cols, verbose=0, **kwargs)
        theirs = ti.summary(theirs_model, col_names=cols, verbose=0, device="cpu", **kwargs)
        assert str(ours) == str(theirs).replace("(Units.MEGABYTES)", "(M)")


def test_dtypes_device_and_embedding() -> None:
    model = lesson_mlp().double()
    stats = antorcha.summary(model, input_size=(64, 10), device="cpu", dtypes=[antorcha.float64], verbose=0)
    F64 = 8
    assert stats.total_input == 64 * 10 * F64
    assert stats.total_output_bytes == (64 * 100 + 64 * 1) * F64 * 2
    assert stats.total_param_bytes == 1_201 * F64
    embed = antorcha.summary(nn.Embedding(10, 3), input_size=(2, 4), dtypes=[antorcha.long], verbose=0)
    assert embed.total_input == 2 * 4 * 8  # int64 indices
    assert embed.total_mult_adds == 2 * (10 * 3)  # torchinfo: the table's elements once per batch row
    from antorcha import summary

    assert summary is antorcha.summary
