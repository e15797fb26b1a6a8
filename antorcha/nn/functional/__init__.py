"""antorcha.nn.functional: the functional form of every layer, activation and loss (torch.nn.functional).

The functions are declared where their ops are (`@register_functional()`): activations in
`_activation.py`, attention in `_attention.py`, layers in `_layers.py`, losses in `_loss.py`
and `_nll.py`, and `linear` in `antorcha/ops/linalg.py`. This module gathers them by name.
"""

from antorcha._registry import functional_functions
from antorcha.nn import attention as _multihead  # noqa: F401 - declares multi_head_attention_forward
from antorcha.nn.functional import (  # noqa: F401 - they declare
    _activation,
    _activation_more,
    _attention,
    _batch_norm,
    _bilinear,
    _conv,
    _ctc,
    _interpolate,
    _layers,
    _loss,
    _loss_more,
    _max_pooling,
    _nll,
    _pad,
    _pooling,
    _sampling_layers,
)

_DECLARED = functional_functions()
globals().update(_DECLARED)

__all__ = sorted(_DECLARED)
