"""Containers: Sequential (a chain of layers), ModuleList and ModuleDict, named as torch.

Sub-modules are registered under "0", "1", ... (or the given keys), so parameter names
such as "0.weight" and "2.bias" are exactly torch's and state_dicts move across.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dlbd_lib.nn.module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict"]


def _check_module(module: Any, where: str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: {type(module).__name__} is not a Module subclass")
    return module


def _put(owner: Module, key: str, module: Module) -> None:
    """Register module under key, keeping key's place in the order if it already exists."""
    owner._modules[key] = module  # an existing key keeps its position, as in torch
    object.__setattr__(owner, key, module)


class _Indexed(Module):
    """Sequential and ModuleList: modules kept under the keys "0", "1", ... in order."""

    def _set_items(self, items: Iterable[tuple[str, Module]]) -> None:
        """Replace all sub-modules by items (keeps attributes and _modules in step)."""
        items = list(items)
        for key in list(self._modules):
            delattr(self, key)
        for key, module in items:
            setattr(self, key, module)

    def _abs_index(self, idx: int) -> int:
        idx = operator.index(idx)
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of "
                             f"length {n}")
        return idx % n

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        drop = set(keys[idx]) if isinstance(idx, slice) else {keys[self._abs_index(idx)]}
        kept = [m for k, m in self._modules.items() if k not in drop]
        self._set_items((str(i), m) for i, m in enumerate(kept))  # renumber, as torch

    def pop(self, key: int | slice) -> Any:
        v = self[key]
        del self[key]
        return v

    def insert(self, index: int, module: Module) -> None:
        """Put module before position index (index may be negative, or len to append)."""
        _check_module(module, f"{type(self).__name__}.insert")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        index = index + n if index < 0 else index
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._set_items((str(i), m) for i, m in enumerate(mods))

    def append(self, module: Module) -> Any:
        """Add module at the end; returns self."""
        setattr(self, str(len(self)), _check_module(module, f"{type(self).__name__}.append"))
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        """Append every module of an iterable (another container, a list); returns self."""
        if not isinstance(modules, Iterable):
            raise TypeError(f"{type(self).__name__}.extend should be called with an iterable, "
                            f"but got {type(modules).__name__}")
        for m in list(modules):
            self.append(m)
        return self


class Sequential(_Indexed):
    """Layers applied one after the other: Sequential(Linear(4, 8), ReLU(), Linear(8, 2)).

    Also Sequential(OrderedDict([("fc", Linear(4, 8)), ...])) to name the layers.
    input -> output of the last layer.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                setattr(self, key, _check_module(module, "Sequential"))
        else:
            for idx, module in enumerate(args):
                setattr(self, str(idx), _check_module(module, "Sequential"))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._abs_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._abs_index(idx)]
        _put(self, key, _check_module(module, "Sequential"))

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return self.extend(other)

    def insert(self, index: int, module: Module) -> Sequential:
        super().insert(index, module)
        return self

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(_Indexed):
    """A list of modules whose parameters are registered ("0.weight", ...); no forward."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(self._abs_index(idx))]

    def __setitem__(self, idx: int, module: Module) -> None:
        _put(self, str(self._abs_index(idx)), _check_module(module, "ModuleList"))

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys; no forward."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or "." in key or key == "":
            raise KeyError(f"ModuleDict: a key must be a non-empty string without '.', "
                           f"got {key!r}")
        if key not in self._modules and (hasattr(type(self), key) or key in self.__dict__):
            raise KeyError(f"ModuleDict: attribute {key!r} already exists")
        _put(self, key, _check_module(module, "ModuleDict"))

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        for key in list(self._modules):
            delattr(self, key)

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    def keys(self) -> Any:
        return self._modules.keys()

    def items(self) -> Any:
        return self._modules.items()

    def values(self) -> Any:
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or an iterable of (key, module) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module
