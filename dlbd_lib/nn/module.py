"""Module and Parameter: the containers every layer is built from, shaped like torch.nn."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from dlbd_lib.errors import DtypeError, ShapeError, fmt_shape
from dlbd_lib.tensor import Tensor

__all__ = ["Parameter", "Module", "IncompatibleKeys", "to_numpy"]


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad=True by default)."""

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


def to_numpy(value: Any) -> np.ndarray:
    """An array from a numpy array, a dlbd Tensor or a torch tensor (no torch import)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


class Module:
    """Base class of all layers and models: holds parameters, buffers and sub-modules.

    Subclasses set attributes in `__init__` (Parameters, Modules, buffers via
    `register_buffer`) and implement `forward`; calling the module calls `forward`.
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called; "
                "call super().__init__() first in your module's __init__"
            )
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            kind = params
        elif isinstance(value, Module):
            kind = modules
        elif name in buffers and (value is None or isinstance(value, np.ndarray)):
            kind = buffers  # e.g. bn.running_mean = np.zeros(3): still a buffer
        elif name in params and value is None:
            kind = params  # a parameter switched off (bias=None) keeps its slot
        else:
            kind = None
        for store in (params, buffers, modules):
            if store is not kind:
                store.pop(name, None)
        if kind is not None:
            kind[name] = value  # an existing entry keeps its position, as in torch
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, e.g. a layer built with bias=False)."""
        if param is None:
            self._parameters[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """Add state that is saved in state_dict but not trained (e.g. running means)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        object.__delattr__(self, name)

    # ---- calling ------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward() method")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- walking the tree ---------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and every descendant, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once, in registration order."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mod_name, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    # ---- state --------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """Every parameter and buffer by dotted name, as numpy copies (safe to keep)."""
        out: OrderedDict = OrderedDict()
        for mod_name, mod in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[pre + name] = p.data.copy()
            for name, b in mod._buffers.items():
                if b is not None:
                    out[pre + name] = np.array(b, copy=True)
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers in place; names and shapes must match.

        Values may be numpy arrays, dlbd Tensors or torch tensors. With strict=True a
        missing or unexpected key raises a KeyError naming it; a wrong shape always raises.
        """
        targets: dict[str, tuple[Module, str, bool]] = {}
        for mod_name, mod in self.named_modules():
            pre = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    targets[pre + name] = (mod, name, True)
            for name, b in mod._buffers.items():
                if b is not None:
                    targets[pre + name] = (mod, name, False)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing key(s): " + ", ".join(missing))
            if unexpected:
                parts.append("unexpected key(s): " + ", ".join(unexpected))
            raise KeyError(f"load_state_dict for {type(self).__name__}: " + "; ".join(parts))
        for key, value in state_dict.items():
            if key not in targets:
                continue
            mod, name, is_param = targets[key]
            arr = to_numpy(value)
            current = mod._parameters[name].data if is_param else mod._buffers[name]
            if arr.shape != current.shape:
                raise ShapeError(
                    f"load_state_dict: {key!r} has shape {fmt_shape(arr.shape)} in the state "
                    f"dict but {fmt_shape(current.shape)} in the model"
                )
            if is_param:
                p = mod._parameters[name]
                p.data[...] = arr
                p._bump_version()
            elif isinstance(current, np.ndarray) and current.ndim:
                current[...] = arr
            else:
                mod.register_buffer(name, np.array(arr, dtype=getattr(current, "dtype", None)))
        return IncompatibleKeys(missing, unexpected)

    # ---- modes and conversions ----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, batch-norm uses batch statistics)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: same as train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = np.zeros_like(p.data)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call fn on every sub-module and then on self (e.g. custom initialisation)."""
        for m in reversed(list(self.modules())):
            fn(m)
        return self

    def astype(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to dtype (e.g. float64 for gradcheck)."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DtypeError(f"parameters must stay floating point, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p._data = p.data.astype(dtype)
                    p._bump_version()
                    p.grad = None
            for name, b in list(m._buffers.items()):
                if isinstance(b, np.ndarray) and b.dtype.kind == "f":
                    m.register_buffer(name, b.astype(dtype))
        return self

    def double(self) -> Module:
        return self.astype(np.float64)

    def float(self) -> Module:
        return self.astype(np.float32)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Accepts a dtype; devices other than 'cpu' do not exist in a numpy engine."""
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, str) and a != "cpu":
                raise ValueError(f"dlbd_lib runs on numpy, so only 'cpu' exists, not {a!r}")
            if not isinstance(a, str) and a is not None:
                try:
                    self.astype(a)
                except TypeError:
                    raise ValueError(f"to(): unknown dtype or device {a!r}") from None
        return self

    def num_parameters(self) -> int:
        """Total number of trainable values."""
        return int(sum(p.size for p in self.parameters()))

    # ---- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"
