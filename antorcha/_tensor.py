"""The Tensor: an `xp` array plus what autograd needs to know about it.

This file holds the tensor's state and its non-mathematical methods (attributes,
conversion, autograd entry points). The maths lives in `ops/`: each op declares its
Tensor method and operators beside its forward and backward (`_registry.register`),
and `_declare_ops` below binds them once the class exists. The in-place methods are
the mixin in `_tensor_inplace.py`.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from antorcha import _dtypes
from antorcha._device import CPU, as_device, device, device_of, move_array
from antorcha._dims import normalize_dim
from antorcha._dtypes import dtype
from antorcha._registry import bind_tensor_methods
from antorcha._tensor_inplace import TensorInplaceMethods
from antorcha._tensor_memory import TensorMemoryMethods
from antorcha._tensor_random import TensorRandomMethods

_NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
    "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
    "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor "
    "by mistake, make sure you access the leaf Tensor instead."
)


class Size(tuple):
    """torch.Size: a tuple of ints that prints as `antorcha.Size([2, 3])`."""

    def __repr__(self) -> str:
        return f"antorcha.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    # slicing, concatenation and repetition give a Size again, as torch.Size's do
    def __getitem__(self, index: Any) -> Any:
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other: Any) -> Size:
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other: Any) -> Size:
        return Size(tuple(other) + tuple(self))

    def __mul__(self, count: Any) -> Size:
        return Size(tuple.__mul__(self, count))

    __rmul__ = __mul__


class Tensor(TensorInplaceMethods, TensorRandomMethods, TensorMemoryMethods):
    """An n-dimensional array of one dtype on one device, with autograd state."""

    __slots__ = (
        "__weakref__",
        "_base",  # the tensor this one is a view of, or None
        "_data",  # the xp array (numpy.ndarray on cpu, cupy.ndarray on cuda)
        "_device",
        "_extra",  # rarely used state (hooks, retain_grad, accumulator), None until needed
        "_grad",
        "_grad_fn",  # read through the grad_fn property, which regenerates a stale view's node
        "_output_nr",  # which output of grad_fn this tensor is
        "_requires_grad",
        "_vc",  # version counter [int], shared with views; None until first needed
    )

    def __init__(self, *args: Any, dtype: dtype | None = None, device: Any = None) -> None:
        """`Tensor(data)` or `Tensor(*sizes)`, as torch's legacy constructor: default float dtype."""
        from antorcha._creation import array_from_data

        if len(args) == 1 and not isinstance(args[0], int):
            array = array_from_data(args[0], dtype or _dtypes.get_default_dtype())
        else:
            array = np.empty(args, dtype=(dtype or _dtypes.get_default_dtype()).np)
        target = as_device(device)
        _init(self, move_array(array, target) if target.type != "cpu" else array, False, None, target)

    # ---- basic attributes ------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[normalize_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> dtype:
        return _dtypes._FROM_NUMPY[self._data.dtype]

    @property
    def device(self) -> device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def is_floating_point(self) -> bool:
        return _dtypes.is_floating_array(self._data.dtype)

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim: int | None = None) -> tuple[int, ...] | int:
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[normalize_dim(dim, self._data.ndim)]

    # ---- autograd state --------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use "
                    "a computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach()."
                )
            return
        if value and not _dtypes.is_floating_array(self._data.dtype):
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        grad = self._grad
        if grad is None and self.grad_fn is not None and not self.retains_grad:
            warnings.warn(_NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: grad {list(value.shape)}, "
                    f"tensor {list(self.shape)}"
                )
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: grad {value.dtype}, tensor {self.dtype}"
                )
            if value._device != self._device:
                raise RuntimeError(
                    f"assigned grad has data located on a different device: grad {value.device}, "
                    f"tensor {self.device}"
                )
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def _counter(self) -> list[int]:
        """The shared version counter, created on first use."""
        if self._vc is None:
            self._vc = [0]
        return self._vc

    def _bump_version(self) -> None:
        if self._vc is None:
            self._vc = [1]  # the first in-place change: nothing shared a counter yet
        else:
            self._vc[0] += 1

    def _extras(self) -> dict:
        if self._extra is None:
            self._extra = {}
        return self._extra

    def _grad_accumulator(self) -> Any:
        """The leaf's AccumulateGrad node, cached so every op sees the same one."""
        extras = self._extras()
        node = extras.get("accumulator")
        if node is None:
            from antorcha.autograd.function import AccumulateGrad

            node = extras["accumulator"] = AccumulateGrad(self)
        return node

    def retain_grad(self) -> None:
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return  # leaves always keep their grad
        extras = self._extras()
        if extras.get("retains_grad"):
            return
        ref = weakref.ref(self)

        def store(grad: Tensor) -> None:
            tensor = ref()
            if tensor is None:
                return
            if tensor._grad is None:
                tensor._grad = grad.detach().clone()
            else:
                tensor._grad = tensor._grad + grad.detach()

        extras["retains_grad"] = store  # kept: a regenerated view node takes it over
        self.grad_fn.register_prehook(store, self._output_nr)

    @property
    def retains_grad(self) -> bool:
        return bool(self._extra and self._extra.get("retains_grad"))

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self.grad_fn if self.grad_fn is not None else self._grad_accumulator()
        handle = node.register_prehook(hook, self._output_nr)
        if self.retains_grad:  # torch runs the retain_grad hook last
            hooks = node._pre_hooks[self._output_nr]
            hooks.append(hooks.pop(len(hooks) - 2))
        return handle

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call `hook(self)` in backward, once this leaf's `.grad` has taken its new gradient."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        return self._grad_accumulator().register_post_accumulate_hook(hook)

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        from antorcha.autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        """A new tensor over the same memory, outside the graph (shares the version counter)."""
        out = wrap(self._data, False, None, self._device)
        out._vc = self._counter()
        return out

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        # unlike detach(), a fresh version counter: torch's autograd does not see changes via .data
        return wrap(self._data, False, None, self._device)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self._requires_grad and not _dtypes.is_floating_array(value._data.dtype):
            raise RuntimeError(
                "data set to a tensor that requires gradients must be floating point or complex dtype, "
                f"got {value.dtype}"
            )
        self._data = value._data
        self._device = value._device

    # ---- conversion ------------------------------------------------------------
    def item(self) -> float | int | bool:
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._cpu_array().tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._device.type != "cpu":
            if not force:
                raise TypeError(
                    f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() "
                    "to copy the tensor to host memory first."
                )
            return self._cpu_array()
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return self._data

    def _cpu_array(self) -> np.ndarray:
        return self._data if self._device.type == "cpu" else self._data.get()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self._cpu_array()
        return array if dtype is None else array.astype(dtype, copy=False)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous (shape {list(self.shape)})"
            )
        return bool(self._data.reshape(()).item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:  # f"{loss}" prints the number, as torch does
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __repr__(self) -> str:
        from antorcha._formatting import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("antorcha tensors are not pickled; use antorcha.save / antorcha.load")

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol"
            )
        out = wrap(self._data.copy(), self._requires_grad, None, self._device)
        if self._grad is not None:
            out._grad = wrap(self._grad._data.copy(), False, None, self._device)
        memo[id(self)] = out
        return out

    # ---- dtype and device moves ------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """`to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other)`; accepts `copy=`, `non_blocking=`."""
        target_dtype, target_device = kwargs.get("dtype"), kwargs.get("device")
        for arg in args:
            if isinstance(arg, Tensor):
                target_dtype, target_device = arg.dtype, arg.device
            elif isinstance(arg, (dtype, type)) or _is_numpy_dtype(arg):
                target_dtype = arg
            elif arg is not None:
                target_device = arg
        out = self
        if target_device is not None:
            from antorcha.ops.movement import to_device

            out = to_device(out, as_device(target_device))
        if target_dtype is not None:
            from antorcha.ops.elementwise import cast

            out = cast(out, _dtypes.as_dtype(target_dtype))
        if kwargs.get("copy") and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        return self.to(CPU)

    def cuda(self, device: Any = None) -> Tensor:
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(as_device(device))

    def type(self, dtype: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
        """torch's type string ('torch.FloatTensor'), or self as the type given (see `_legacy`)."""
        from antorcha._legacy import tensor_type

        return tensor_type(self, dtype, non_blocking)

    def float(self) -> Tensor:
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        return self.to(_dtypes.float64)

    def half(self) -> Tensor:
        return self.to(_dtypes.float16)

    def bfloat16(self) -> Tensor:
        return self.to(_dtypes.bfloat16)

    def long(self) -> Tensor:
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(_dtypes.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)


def _is_numpy_dtype(value: Any) -> bool:
    return isinstance(value, np.dtype)


_new = object.__new__


def _init(t: Tensor, data: Any, requires_grad: bool, grad_fn: Any, dev: device) -> None:
    """Set every slot (for Tensor.__init__; `wrap` repeats these lines inline, as the hottest path)."""
    t._data = data
    t._device = dev
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = 0
    t._grad = None
    t._vc = None
    t._base = None
    t._extra = None


def wrap(data: Any, requires_grad: bool = False, grad_fn: Any = None, device: device | None = None) -> Tensor:
    """Make a Tensor around an xp array without copying (the internal constructor)."""
    if type(data) is not np.ndarray and isinstance(data, np.generic):
        data = np.asarray(data)  # NumPy reductions return scalars; tensors hold arrays
    t = _new(Tensor)
    t._data = data
    t._device = device if device is not None else device_of(data)
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = 0
    t._grad = None
    t._vc = None
    t._base = None
    t._extra = None
    return t


def _declare_ops() -> None:
    """Import the op modules (they import Tensor, so only now) and bind their declared methods."""
    import antorcha.ops  # noqa: F401 - importing registers every op

    bind_tensor_methods(Tensor)


_declare_ops()
