"""Recurrent layers: RNN, LSTM, GRU and their one-step cells, with torch's parameters and checks.

Parameters are registered in torch's order (per layer, per direction: weight_ih, weight_hh,
bias_ih, bias_hh[, weight_hr]) under torch's names, so state_dicts load both ways. Each layer and
direction is one `recurrent_layer` call: one GEMM for all input projections, one node for the
recurrence (antorcha/nn/functional/_recurrent.py).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from antorcha._creation import empty, zeros
from antorcha._tensor import Tensor
from antorcha.nn import init
from antorcha.nn.functional._layers import dropout as _dropout
from antorcha.nn.functional._recurrent import recurrent_layer
from antorcha.nn.module import Module
from antorcha.nn.parameter import Parameter
from antorcha.nn.utils.rnn import PackedSequence
from antorcha.ops.movement import cat, stack

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_settings(mode: str, hidden_size: int, num_layers: int, dropout: Any, proj_size: int) -> None:
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an element "
            "being zeroed"
        )
    if not isinstance(hidden_size, int):
        raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
            f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=3,
        )


class RNNBase(Module):
    """The shared layer stack of RNN, LSTM and GRU."""

    __constants__ = [
        "mode",
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
    ]

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if proj_size != 0 and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        _check_settings(mode, hidden_size, num_layers, dropout, proj_size)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        self._create_parameters(device, dtype)
        self.reset_parameters()

    def _create_parameters(self, device: Any, dtype: Any) -> None:
        directions = 2 if self.bidirectional else 1
        gate_size = _GATES[self.mode] * self.hidden_size
        output_size = self.proj_size or self.hidden_size
        for layer in range(self.num_layers):
            for direction in range(directions):
                layer_input = self.input_size if layer == 0 else output_size * directions
                shapes = [(gate_size, layer_input), (gate_size, output_size)]
                names = ["weight_ih", "weight_hh"]
                if self.bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += ["bias_ih", "bias_hh"]
                if self.proj_size:
                    shapes.append((self.proj_size, self.hidden_size))
                    names.append("weight_hr")
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                full_names = [name + suffix for name in names]
                for name, shape in zip(full_names, shapes):
                    setattr(self, name, Parameter(empty(shape, device=device, dtype=dtype)))
                self._flat_weights_names.extend(full_names)
                self._all_weights.append(full_names)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op: torch packs cuDNN's weight buffer here; antorcha's weights are used as they are."""

    # ---- forward ----------------------------------------------------------------------------
    def forward(self, input: Any, hx: Any = None) -> tuple:
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a Tensor, not {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead"
            )
        batched = input.dim() == 3
        self._check_hx_rank(hx, batched)
        if not batched:
            x = input.unsqueeze(1)
            hx = None if hx is None else _map_hidden(hx, lambda h: h.unsqueeze(1))
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        steps, batch = x.shape[0], x.shape[1]
        rows, hidden = self._run(x.reshape(steps * batch, x.shape[2]), hx, (batch,) * steps)
        output = rows.reshape(steps, batch, rows.shape[1])
        if not batched:
            return output.squeeze(1), _map_hidden(hidden, lambda h: h.squeeze(1))
        return (output.transpose(0, 1) if self.batch_first else output), hidden

    def _forward_packed(self, packed: PackedSequence, hx: Any) -> tuple:
        batch_sizes = tuple(int(b) for b in packed.batch_sizes.tolist())
        if hx is not None and packed.sorted_indices is not None:
            hx = _map_hidden(hx, lambda h: h.index_select(1, packed.sorted_indices))
        data, hidden = self._run(packed.data, hx, batch_sizes)
        if packed.unsorted_indices is not None:
            hidden = _map_hidden(hidden, lambda h: h.index_select(1, packed.unsorted_indices))
        fields = (packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return PackedSequence(data, *fields), hidden

    def _check_hx_rank(self, hx: Any, batched: bool) -> None:
        if hx is None:
            return
        first = hx[0] if isinstance(hx, tuple) else hx
        want = 3 if batched else 2
        if first.dim() != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {first.dim()}-D tensor")

    def _run(self, x: Tensor, hx: Any, batch_sizes: tuple) -> tuple:
        """x: rows (sum of batch_sizes, F) in a packed sequence's layout; returns (output rows, hidden)."""
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[-1]}"
            )
        weight = self._flat_weights[0]
        if x.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({weight.dtype}). Convert input: "
                f"input.to({weight.dtype}), or convert model: model.to({x.dtype})"
            )
        directions = 2 if self.bidirectional else 1
        h0, c0 = self._initial_state(x, hx, batch_sizes[0], directions)
        for state in (h0, c0):
            if state is not None and state.dtype != x.dtype:  # torch's error from the hidden product
                raise RuntimeError(
                    "mat1 and mat2 must have the same dtype, but got "
                    f"{state.dtype.scalar_name} and {x.dtype.scalar_name}"
                )
        layer_input = x
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                hidden = (h0[index],) if c0 is None else (h0[index], c0[index])
                result = recurrent_layer(
                    self._op_mode(),
                    layer_input,
                    self._layer_weights(index),
                    hidden,
                    batch_sizes,
                    reverse=direction == 1,
                )
                outputs.append(result[0])
                last_h.append(result[1])
                if c0 is not None:
                    last_c.append(result[2])
            layer_input = outputs[0] if directions == 1 else cat(outputs, 1)  # (rows, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = _dropout(layer_input, self.dropout, True)
        h_n = stack(last_h)
        return layer_input, (h_n if c0 is None else (h_n, stack(last_c)))

    def _op_mode(self) -> str:
        return self.mode

    def _layer_weights(self, index: int) -> tuple:
        names = self._all_weights[index]
        weights = [getattr(self, name) for name in names]
        if self.bias:
            return tuple(weights[:4])
        return (weights[0], weights[1], None, None)

    def _initial_state(self, x: Tensor, hx: Any, batch: int, directions: int) -> tuple:
        rows = self.num_layers * directions
        expected = (rows, batch, self.proj_size or self.hidden_size)
        if self.mode != "LSTM":
            if hx is None:
                hx = zeros(expected, dtype=x.dtype, device=x.device)
            _check_hidden(hx, expected, "Expected hidden size")
            return hx, None
        if hx is None:
            h0 = zeros(expected, dtype=x.dtype, device=x.device)
            c0 = zeros((rows, batch, self.hidden_size), dtype=x.dtype, device=x.device)
            return h0, c0
        h0, c0 = hx
        _check_hidden(h0, expected, "Expected hidden[0] size")
        _check_hidden(c0, (rows, batch, self.hidden_size), "Expected hidden[1] size")
        return h0, c0

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text


def _check_hidden(hx: Tensor, expected: tuple, label: str) -> None:
    if tuple(hx.shape) != expected:
        raise RuntimeError(f"{label} {expected}, got {list(hx.shape)}")


def _map_hidden(hidden: Any, fn: Any) -> Any:
    return tuple(fn(h) for h in hidden) if isinstance(hidden, tuple) else fn(hidden)


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh), or relu."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(modes[self.nonlinearity], *args, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o stacked in weight_ih/weight_hh, as torch stacks them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def _op_mode(self) -> str:
        return "LSTM_PROJ" if self.proj_size else "LSTM"

    def _layer_weights(self, index: int) -> tuple:
        weights = super()._layer_weights(index)
        if self.proj_size:
            return (*weights, getattr(self, self._all_weights[index][-1]))
        return weights


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n, with n = tanh(W_in x + b_in + r (W_hn h + b_hn))."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---- the cells: one step, batched (N, F) or unbatched (F,) ------------------------------------


class RNNCellBase(Module):
    """weight_ih (G*H, F), weight_hh (G*H, H), bias_ih, bias_hh: one step of the layer's recurrence."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate_size = num_chunks * hidden_size
        self.weight_ih = Parameter(empty((gate_size, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(empty((gate_size, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(gate_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(gate_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            text += f", nonlinearity={nonlinearity}"
        return text

    def _step(self, mode: str, input: Tensor, hidden: tuple) -> tuple:
        """hidden: (N, H) states; returns the new states, each (N, H)."""
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return recurrent_layer(mode, input, weights, hidden, (input.shape[0],))[1:]

    def _prepare(self, input: Tensor, hx: Any, count: int) -> tuple:
        """(input (N, F), states (N, H) each, batched); torch's checks, in torch's order."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a Tensor, not {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.dim()}D instead"
            )
        batched = input.dim() == 2
        states = [] if hx is None else (list(hx) if isinstance(hx, tuple) else [hx])
        if states and states[0].dim() not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: Expected hidden to be 1D or 2D, got {states[0].dim()}D instead"
            )
        x = input if batched else input.unsqueeze(0)  # (N, F)
        if not batched:
            states = [s.unsqueeze(0) for s in states]
        if x.shape[1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}"
            )
        if not states:
            states = [zeros((x.shape[0], self.hidden_size), dtype=x.dtype, device=x.device)] * count
        for index, state in enumerate(states):
            if x.shape[0] != state.shape[0]:
                raise RuntimeError(
                    f"Input batch size {x.shape[0]} doesn't match hidden{index} batch size {state.shape[0]}"
                )
            if state.shape[1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{index} has inconsistent hidden_size: got {state.shape[1]}, "
                    f"expected {self.hidden_size}"
                )
        return x, tuple(states), batched


class RNNCell(RNNCellBase):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh), or relu."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x, states, batched = self._prepare(input, hx, 1)
        (h,) = self._step(modes[self.nonlinearity], x, states)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c')."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        x, states, batched = self._prepare(input, hx, 2)
        h, c = self._step("LSTM", x, states)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: returns h'."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, states, batched = self._prepare(input, hx, 1)
        (h,) = self._step("GRU", x, states)
        return h if batched else h.squeeze(0)
