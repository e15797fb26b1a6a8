"""RNN, LSTM, GRU and their cells against torch: values and gradients (inputs, initial states and
every parameter, under a random cotangent), float32 and float64, every num_layers x bidirectional x
batch_first combination; second order; state_dicts both ways; torch's init, repr and errors; a
char-level LSTM trained 50 Adam steps from torch's weights."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import antorcha
from tests.nn_helpers import DTYPES, assert_close, copy_weights, to_antorcha, torch_name

T, N, F, H = 5, 3, 4, 6
KINDS = {
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}


def _pair(kind: str, dtype: Any, device: str = "cpu", **settings: Any) -> tuple:
    name, extra = KINDS[kind]
    torch_dtype = getattr(torch, np.dtype(dtype).name)
    theirs = getattr(torch.nn, name)(F, H, **extra, **settings, dtype=torch_dtype)
    our_dtype = getattr(antorcha, np.dtype(dtype).name)
    ours = getattr(antorcha.nn, name)(F, H, **extra, **settings, dtype=our_dtype)
    copy_weights(theirs, ours)
    return ours.to(device), theirs


def _states(kind: str, shape: tuple, dtype: Any, rng: np.random.Generator, proj: int = 0) -> list:
    h_shape = shape[:-1] + (proj or shape[-1],)
    shapes = [h_shape, shape] if kind == "lstm" else [h_shape]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _flatten(result: Any) -> list:
    if isinstance(result, tuple):
        return [t for item in result for t in _flatten(item)]
    return [result]


def _compare_run(
    ours: Any,
    theirs: Any,
    x: np.ndarray,
    states: list | None,
    dtype: Any,
    device: str = "cpu",
    seed: int = 1,
    **tol: Any,
) -> None:
    """Forward both, compare every output, then backward a random cotangent through all outputs and
    compare the gradients of the input, the initial states and every parameter."""
    torch_x = torch.tensor(x, requires_grad=True)
    our_x = to_antorcha(torch_x, True, device)
    torch_states = [torch.tensor(s, requires_grad=True) for s in states or []]
    our_states = [to_antorcha(s, True, device) for s in torch_states]
    hx_t = None if not states else (tuple(torch_states) if len(states) == 2 else torch_states[0])
    hx_a = None if not states else (tuple(our_states) if len(states) == 2 else our_states[0])
    expected, result = _flatten(theirs(torch_x, hx_t)), _flatten(ours(our_x, hx_a))
    rng = np.random.default_rng(seed)
    torch_loss, our_loss = 0, 0
    for mine, reference in zip(result, expected, strict=True):
        assert_close(mine, reference, dtype, device, **tol)
        weight = rng.standard_normal(tuple(reference.shape)).astype(dtype)
        torch_loss = torch_loss + (reference * torch.from_numpy(weight)).sum()
        our_loss = our_loss + (mine * antorcha.from_numpy(weight).to(device)).sum()
    torch_loss.backward()
    our_loss.backward()
    for mine, reference in zip([our_x, *our_states], [torch_x, *torch_states]):
        assert_close(mine.grad, reference.grad, dtype, device, **tol)
    our_params = dict(ours.named_parameters())
    for name, reference in theirs.named_parameters():
        assert_close(our_params[name].grad, reference.grad, dtype, device, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_layer_matches_torch(
    kind: str, num_layers: int, bidirectional: bool, batch_first: bool, dtype: Any, device: str
) -> None:
    ours, theirs = _pair(
        kind, dtype, device, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, F) if batch_first else (T, N, F)).astype(dtype)
    states = _states(kind, (num_layers * (2 if bidirectional else 1), N, H), dtype, rng)
    _compare_run(ours, theirs, x, states, dtype, device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_no_hidden_no_bias_and_unbatched(kind: str, dtype: Any, device: str) -> None:
    rng = np.random.default_rng(2)
    ours, theirs = _pair(kind, dtype, device, bias=False, num_layers=2)
    _compare_run(ours, theirs, rng.standard_normal((T, N, F)).astype(dtype), None, dtype, device)
    ours, theirs = _pair(kind, dtype, device, bidirectional=True)
    states = _states(kind, (2, H), dtype, rng)
    _compare_run(ours, theirs, rng.standard_normal((T, F)).astype(dtype), states, dtype, device)
    _compare_run(ours, theirs, rng.standard_normal((T, F)).astype(dtype), None, dtype, device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_projection(bidirectional: bool, dtype: Any, device: str) -> None:
    ours, theirs = _pair("lstm", dtype, device, num_layers=2, proj_size=3, bidirectional=bidirectional)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(3)
    states = _states("lstm", (2 * (2 if bidirectional else 1), N, H), dtype, rng, proj=3)
    _compare_run(ours, theirs, rng.standard_normal((T, N, F)).astype(dtype), states, dtype, device)
    _compare_run(ours, theirs, rng.standard_normal((T, N, F)).astype(dtype), None, dtype, device)


CELLS = {
    "rnn_tanh": ("RNNCell", {}),
    "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
    "lstm": ("LSTMCell", {}),
    "gru": ("GRUCell", {}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_matches_torch(kind: str, bias: bool, dtype: Any, device: str) -> None:
    name, extra = CELLS[kind]
    theirs = getattr(torch.nn, name)(F, H, bias=bias, **extra, dtype=getattr(torch, np.dtype(dtype).name))
    ours = getattr(antorcha.nn, name)(F, H, bias=bias, **extra, dtype=getattr(antorcha, np.dtype(dtype).name))
    copy_weights(theirs, ours)
    ours = ours.to(device)
    rng = np.random.default_rng(4)
    for shape in [(N, F), (F,)]:
        x = rng.standard_normal(shape).astype(dtype)
        _compare_run(ours, theirs, x, _states(kind, shape[:-1] + (H,), dtype, rng), dtype, device)
        _compare_run(ours, theirs, x, None, dtype, device)
        for p in list(ours.parameters()) + list(theirs.parameters()):
            p.grad = None


@pytest.mark.parametrize("kind", list(KINDS))
def test_second_order_matches_torch(kind: str) -> None:
    """grad of (sum of squared input gradients) w.r.t. the weights and the input: create_graph runs
    the backward's formula on Tensors."""
    ours, theirs = _pair(kind, np.float64, bidirectional=True)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, N, F))
    results = []
    for lib, module in [(antorcha, ours), (torch, theirs)]:
        inp = lib.tensor(x, requires_grad=True)
        output = module(inp)[0]
        weight = lib.tensor(np.random.default_rng(6).standard_normal(tuple(output.shape)))
        params = [inp, *module.parameters()]
        grads = lib.autograd.grad((output * weight).sum(), params, create_graph=True)
        penalty = sum((g * g).sum() for g in grads)
        results.append([penalty] + list(lib.autograd.grad(penalty, params)))
    for mine, reference in zip(*results):
        assert_close(mine, reference, np.float64)


def test_graph_is_one_node_per_layer_and_direction() -> None:
    lstm = antorcha.nn.LSTM(F, H, num_layers=2)
    output, _ = lstm(antorcha.randn(100, N, F))
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(fn for fn, _ in node.next_functions)
    assert len(seen) < 30, len(seen)
    assert sorted(type(node).__name__ for node in seen).count("LSTMLayerBackward0") == 2


# ---- parameters, state_dicts, init, repr ----------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_parameters_init_and_state_dict_interchange(kind: str) -> None:
    name, extra = KINDS[kind]
    settings = {"num_layers": 2, "bidirectional": True, **extra}
    torch.manual_seed(7)
    theirs = getattr(torch.nn, name)(F, H, **settings)
    antorcha.manual_seed(7)
    ours = getattr(antorcha.nn, name)(F, H, **settings)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (our_name, mine), (their_name, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert our_name == their_name
        assert_close(mine, reference, np.float32, rtol=0, atol=0)  # torch's init from the same seed
    assert ours._flat_weights_names == theirs._flat_weights_names
    shapes = [[tuple(p.shape) for p in w] for w in theirs.all_weights]
    assert [[tuple(p.shape) for p in w] for w in ours.all_weights] == shapes
    ours.flatten_parameters()
    fresh = getattr(torch.nn, name)(F, H, **settings)
    fresh.load_state_dict({k: torch.from_numpy(v.detach().numpy()) for k, v in ours.state_dict().items()})
    for mine, reference in zip(ours.parameters(), fresh.parameters()):
        assert_close(mine, reference, np.float32, rtol=0, atol=0)


@pytest.mark.parametrize(
    "build",
    [
        lambda nn: nn.RNN(10, 20, 2, "relu", False, True, 0.5, True),
        lambda nn: nn.LSTM(10, 20, proj_size=5),
        lambda nn: nn.GRU(10, 20, batch_first=True),
        lambda nn: nn.GRUCell(3, 4, bias=False),
        lambda nn: nn.RNNCell(3, 4, nonlinearity="relu"),
        lambda nn: nn.LSTMCell(3, 4),
    ],
)
def test_repr_matches_torch(build: Any) -> None:
    assert repr(build(antorcha.nn)) == repr(build(torch.nn))


# ---- dropout between layers -------------------------------------------------------------------


def test_dropout_between_layers() -> None:
    ours, theirs = _pair("lstm", np.float64, num_layers=3, dropout=1.0)
    x = np.random.default_rng(8).standard_normal((T, N, F))
    _compare_run(ours, theirs, x, None, np.float64)  # p = 1: the upper layers see zeros
    ours, theirs = _pair("gru", np.float64, num_layers=2, dropout=0.5)
    ours.eval()
    theirs.eval()
    _compare_run(ours, theirs, x, None, np.float64)
    ours.train()
    a, b = ours(antorcha.tensor(x))[0], ours(antorcha.tensor(x))[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # train mode draws a new mask per call


def test_dropout_warning_matches_torch() -> None:
    messages = []
    for nn in (torch.nn, antorcha.nn):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nn.LSTM(3, 4, dropout=0.5)
        messages.append([(w.category, str(w.message)) for w in caught])
    assert messages[0] == messages[1] and messages[0]


# ---- errors -----------------------------------------------------------------------------------


def _errors(call: Any) -> tuple:
    found = []
    for lib in (torch, antorcha):
        with pytest.raises(Exception) as info:
            call(lib)
        found.append((type(info.value).__name__, torch_name(str(info.value))))
    return tuple(found)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.LSTM(10, 20)(lib.randn(5, 3, 7)),
        lambda lib: lib.nn.LSTM(10, 20)(lib.randn(5, 3, 10), (lib.zeros(1, 2, 20), lib.zeros(1, 3, 20))),
        lambda lib: lib.nn.LSTM(10, 20)(lib.randn(5, 3, 10), (lib.zeros(1, 3, 20), lib.zeros(1, 2, 20))),
        lambda lib: lib.nn.GRU(10, 20)(lib.randn(5, 3, 10), lib.zeros(1, 2, 20)),
        lambda lib: lib.nn.RNN(10, 20, 2)(lib.randn(5, 3, 10), lib.zeros(1, 3, 20)),
        lambda lib: lib.nn.GRU(10, 20)(lib.randn(5, 10), lib.zeros(1, 2, 20)),
        lambda lib: lib.nn.GRU(10, 20)(lib.randn(5, 3, 10), lib.zeros(3, 20)),
        lambda lib: lib.nn.GRU(10, 20)(lib.randn(3, 5, 3, 10)),
        lambda lib: lib.nn.GRUCell(10, 20)(lib.randn(3, 7)),
        lambda lib: lib.nn.GRUCell(10, 20)(lib.randn(3, 10), lib.zeros(2, 20)),
        lambda lib: lib.nn.LSTMCell(10, 20)(lib.randn(3, 10), (lib.zeros(3, 20), lib.zeros(2, 20))),
        lambda lib: lib.nn.GRUCell(10, 20)(lib.randn(3, 3, 10)),
        lambda lib: lib.nn.GRUCell(10, 20)(lib.randn(10), lib.zeros(3, 20)),
        lambda lib: lib.nn.RNN(10, 20, nonlinearity="foo"),
        lambda lib: lib.nn.RNN(10, 20, dropout=2),
        lambda lib: lib.nn.RNN(10, 0),
        lambda lib: lib.nn.RNN(10, 20, num_layers=0),
        lambda lib: lib.nn.RNN(10, 20, proj_size=3),
        lambda lib: lib.nn.GRU(10, 20, proj_size=3),
        lambda lib: lib.nn.LSTM(10, 20, proj_size=30),
        lambda lib: lib.nn.LSTM(3, 4)(lib.randn(5, 2, 3, dtype=lib.float64)),
        lambda lib: lib.nn.GRU(3, 4)(lib.randn(5, 2, 3), lib.zeros(1, 2, 4, dtype=lib.float64)),
        lambda lib: lib.nn.LSTMCell(3, 4)(lib.randn(2, 3, dtype=lib.float64)),
    ],
)
def test_errors_match_torch(call: Any) -> None:
    theirs, ours = _errors(call)
    assert ours == theirs


# ---- a char-level LSTM trained from torch's weights ---------------------------------------------


def _char_model(lib: Any, vocab: int, dtype: Any) -> Any:
    class CharLSTM(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = lib.nn.Embedding(vocab, 8)
            self.lstm = lib.nn.LSTM(8, 16, num_layers=2, batch_first=True)
            self.head = lib.nn.Linear(16, vocab)

        def forward(self, x: Any) -> Any:
            return self.head(self.lstm(self.embed(x))[0])

    return CharLSTM().to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_char_lstm_trains_like_torch(dtype: Any) -> None:
    text = "hello world, the quick brown fox jumps over the lazy dog. " * 4
    chars = sorted(set(text))
    codes = np.array([chars.index(c) for c in text], dtype=np.int64)
    rng = np.random.default_rng(9)
    torch.manual_seed(0)
    theirs = _char_model(torch, len(chars), getattr(torch, np.dtype(dtype).name))
    ours = _char_model(antorcha, len(chars), getattr(antorcha, np.dtype(dtype).name))
    copy_weights(theirs, ours)
    losses = {"torch": [], "antorcha": []}
    for lib, model, key in [(torch, theirs, "torch"), (antorcha, ours, "antorcha")]:
        optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)
        batches = np.random.default_rng(10)
        for _ in range(50):
            starts = batches.integers(0, len(codes) - 17, size=4)
            window = np.stack([codes[s : s + 17] for s in starts])
            x, y = lib.tensor(window[:, :-1]), lib.tensor(window[:, 1:])
            loss = lib.nn.functional.cross_entropy(model(x).reshape(-1, len(chars)), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[key].append(loss.item())
    del rng
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(losses["antorcha"], losses["torch"], rtol=rtol)
    assert losses["torch"][-1] < losses["torch"][0] * 0.8


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_numpy_form_matches_torch(bidirectional: bool, dtype: Any, monkeypatch: Any) -> None:
    """The LSTM's NumPy form (no Numba, CuPy) against torch; by default the compiled steps run."""
    from antorcha.speed import lstm_kernels

    monkeypatch.setattr(lstm_kernels, "ENABLED", False)
    ours, theirs = _pair("lstm", dtype, num_layers=2, bidirectional=bidirectional)
    rng = np.random.default_rng(11)
    states = _states("lstm", (2 * (2 if bidirectional else 1), N, H), dtype, rng)
    _compare_run(ours, theirs, rng.standard_normal((T, N, F)).astype(dtype), states, dtype)
