"""Requests between the judge and a student's kernel, and the handles that make them.

One conversation, strictly nested: a side that holds the turn sends a request and waits; the
other side answers, or first asks something back (a callback: the student's code calling a
function the check passed it), and so on. ``Endpoint`` runs that conversation over any
``exchange(message) -> message`` function; ``Remote`` is a handle on an object of the other
side: calling it, reading an attribute, indexing, iterating... become requests. The judge's
own objects are exported read-only (no attribute that starts with ``_``, no assignment), so
a student's code cannot reach the checks' namespace through a callback.
"""

from __future__ import annotations

import builtins
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .plain import _from_npy, fingerprint, mro_names, trusted_class, type_name
from .wire import Codec

#: Modules whose classes a handle may claim to be an instance of (for ``isinstance``).
TRUSTED_ROOTS = ("dlbd_lib", "torch", "numpy", "scipy", "collections", "builtins")

_BINOPS = {"add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv",
           "rfloordiv", "mod", "rmod", "pow", "rpow", "matmul", "rmatmul", "lt", "le", "gt",
           "ge", "eq", "ne", "and", "rand", "or", "ror", "xor", "rxor"}
_UNOPS = {"neg", "pos", "abs", "invert"}
#: Attributes that lead from an object to frames, code or namespaces: never read for the kernel.
_INTROSPECTION = {"gi_frame", "gi_code", "gi_yieldfrom", "gi_suspended", "cr_frame", "cr_code",
                  "cr_await", "ag_frame", "ag_code", "ag_await", "f_globals", "f_locals",
                  "f_back", "f_builtins", "f_code", "tb_frame", "tb_next", "func_globals"}
_NEVER_EXPORTED = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType,
                   types.CellType)


class RemoteError(Exception):
    """An exception from the other side whose class is not a built-in one."""


class ChannelError(BaseException):
    """The kernel stopped answering: it died, hung past the time limit or broke the protocol.

    Not an Exception, so that no ``except Exception`` (a Checker's included) swallows it."""


class Remote:
    """A handle on an object that lives on the other side of an ``Endpoint``."""

    __slots__ = ("_ep", "_id", "_info", "__weakref__")

    def __init__(self, endpoint: Endpoint, handle: int, info: dict[str, Any]) -> None:
        object.__setattr__(self, "_ep", endpoint)
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_info", info)

    def _ask(self, op: str, *args: Any, **kwargs: Any) -> Any:
        return object.__getattribute__(self, "_ep").request(op, self, *args, **kwargs)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(handle, nn.Module) for a student's Module
        info = object.__getattribute__(self, "_info")
        return trusted_class(info.get("mro", []), TRUSTED_ROOTS[:-2]) or Remote

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ask("setattr", name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ask("call", list(args), kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ask("setitem", key, value)

    def __len__(self) -> int:
        return int(self._ask("len"))

    def __iter__(self) -> Any:
        return self._ask("iter")

    def __next__(self) -> Any:
        return self._ask("next")

    def __contains__(self, item: Any) -> bool:
        return bool(self._ask("contains", item))

    def __bool__(self) -> bool:
        return bool(self._ask("bool"))

    def __repr__(self) -> str:
        return str(self._ask("repr"))

    def __str__(self) -> str:
        return str(self._ask("str"))

    def __hash__(self) -> int:
        return hash((id(object.__getattribute__(self, "_ep")), self._id))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = np.asarray(self._ask("plain"))
        return array if dtype is None else array.astype(dtype)

    def __float__(self) -> float:
        return float(self._ask("plain"))

    def __int__(self) -> int:
        return int(self._ask("plain"))

    def __index__(self) -> int:
        return int(self._ask("plain"))


def _binop(name: str) -> Callable[[Remote, Any], Any]:
    def method(self: Remote, other: Any) -> Any:
        return self._ask("binop", name, other)

    method.__name__ = f"__{name}__"
    return method


def _unop(name: str) -> Callable[[Remote], Any]:
    def method(self: Remote) -> Any:
        return self._ask("unop", name)

    method.__name__ = f"__{name}__"
    return method


for _name in _BINOPS:
    setattr(Remote, f"__{_name}__", _binop(_name))
for _name in _UNOPS:
    setattr(Remote, f"__{_name}__", _unop(_name))


def describe_error(exc: BaseException, skip: Callable[[str], bool]) -> dict[str, Any]:
    """An exception as plain data: its class names, message and where in user code it was."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not skip(f.filename)]
    where = ""
    if frames:
        frame = frames[-1]
        where = (f" (line {frame.lineno})" if frame.name == "<module>"
                 else f" (in {frame.name}, line {frame.lineno})")
    return {"mro": mro_names(type(exc)), "msg": str(exc)[:2000], "where": where}


def rebuild_error(data: dict[str, Any]) -> Exception:
    """The exception to raise for an error from the other side: a built-in class when the
    original is one (or derives from one), else RemoteError; never SystemExit and the like."""
    names = [str(n) for n in data.get("mro", [])]
    message = str(data.get("msg", ""))
    error: Exception | None = None
    for name in names:
        module, _, qualname = name.partition(":")
        cls = getattr(builtins, qualname, None) if module == "builtins" else None
        if cls is None and module.startswith("dlbd_lib"):
            cls = trusted_class([name], ("dlbd_lib",))
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                error = cls(message)
            except Exception:
                continue
            break
    if error is None:
        error = RemoteError(message)
    kind = names[0].partition(":")[2] if names else "Exception"
    error._dlbd_where = str(data.get("where", ""))  # type: ignore[attr-defined]
    error._dlbd_type = kind  # type: ignore[attr-defined]
    return error


class Endpoint:
    """One side of the conversation: sends requests, serves the other side's requests."""

    def __init__(self, side: str, exchange: Callable[[dict], dict],
                 skip_frame: Callable[[str], bool] = lambda name: False) -> None:
        self.codec = Codec(side)
        self.codec.export = self.export
        self.codec.remote = self.remote
        self.codec.local = self.local
        self.exchange = exchange
        self.skip_frame = skip_frame
        self.exports: dict[int, Any] = {}
        self.export_ids: dict[int, int] = {}
        self.remotes: dict[int, Remote] = {}
        self.read_only = side == "judge"

    # -- handles -----------------------------------------------------------------------

    def export(self, obj: Any) -> dict[str, Any]:
        if self.read_only and isinstance(obj, _NEVER_EXPORTED):
            raise TypeError(f"the grader does not hand a {type(obj).__name__} to your code")
        handle = self.export_ids.get(id(obj))
        if handle is None:
            handle = len(self.exports) + 1
            self.exports[handle] = obj
            self.export_ids[id(obj)] = handle
        cls = type(obj)
        return {"$": "h", "id": handle, "type": type_name(obj),
                "mro": mro_names(cls) if self.codec.side == "kernel" else [],
                "call": callable(obj)}

    def remote(self, info: dict[str, Any]) -> Remote:
        handle = int(info["id"])
        if handle not in self.remotes:
            self.remotes[handle] = Remote(self, handle, info)
        return self.remotes[handle]

    def local(self, handle: Any) -> Any:
        if handle not in self.exports:
            raise ValueError("unknown object")
        return self.exports[handle]

    # -- the conversation --------------------------------------------------------------

    def request(self, op: str, *args: Any, **kwargs: Any) -> Any:
        codec = self.codec
        message = {"req": op, "a": [codec.encode(a) for a in args],
                   "k": {k: codec.encode(v) for k, v in kwargs.items()}}
        reply = self.send(message)
        while "req" in reply:
            reply = self.send(self.serve_one(reply))
        if "err" in reply:
            raise rebuild_error(reply["err"])
        return codec.decode(reply.get("ok"))

    def send(self, message: dict) -> dict:
        if self.codec.side == "kernel":
            message["sync"] = self.changes()
        reply = self.exchange(message)
        if not isinstance(reply, dict):
            raise ChannelError("the other side sent something that is not a message")
        if self.codec.side == "judge":
            self.apply_changes(reply.get("sync") or [])
        return reply

    def serve_one(self, message: dict) -> dict:
        try:
            op = str(message["req"])
            args = [self.codec.decode(a) for a in message.get("a", [])]
            kwargs = {str(k): self.codec.decode(v) for k, v in message.get("k", {}).items()}
            return {"ok": self.codec.encode(self.perform(op, args, kwargs))}
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            return {"err": describe_error(exc, self.skip_frame)}

    def perform(self, op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        target = args[0] if args else None
        if self.read_only:
            self._check_allowed(op, args)
        if op == "call":
            return target(*args[1], **args[2])
        if op == "getattr":
            return getattr(target, args[1])
        if op == "setattr":
            setattr(target, args[1], args[2])
            return None
        if op == "getitem":
            return target[args[1]]
        if op == "setitem":
            target[args[1]] = args[2]
            return None
        if op == "len":
            return len(target)
        if op == "iter":
            return iter(target)
        if op == "next":
            return next(target)
        if op == "contains":
            return args[1] in target
        if op == "bool":
            return bool(target)
        if op in ("repr", "str"):
            return (repr if op == "repr" else str)(target)[:10_000]
        if op == "binop" and args[1] in _BINOPS:
            return getattr(target, f"__{args[1]}__")(args[2])
        if op == "unop" and args[1] in _UNOPS:
            return getattr(target, f"__{args[1]}__")()
        extra = getattr(self, f"op_{op}", None)
        if extra is None:
            raise ValueError(f"unknown request {op!r}")
        return extra(*args, **kwargs)

    def _check_allowed(self, op: str, args: list[Any]) -> None:
        if op in ("setattr", "setitem"):
            raise TypeError("the grader's objects are read-only")
        if op == "getattr" and (str(args[1]).startswith("_") or args[1] in _INTROSPECTION):
            raise AttributeError(f"{type(args[0]).__name__!r} object attribute {args[1]!r} is "
                                 "not available to your code while grading")
        if op not in ("call", "getattr", "getitem", "len", "iter", "next", "contains", "bool",
                      "repr", "str", "binop", "unop"):
            raise ValueError(f"request {op!r} is not allowed")

    # -- in-place changes the kernel made to copies of the judge's objects ----------------

    def changes(self) -> list[dict[str, Any]]:
        from .plain import _npy  # noqa: PLC0415

        out = []
        for mid, (copy, seen) in list(self.codec.watch.items()):
            now = fingerprint(copy)
            if now == seen:
                continue
            self.codec.watch[mid] = (copy, now)
            if isinstance(copy, np.ndarray):
                out.append({"m": mid, "d": _npy(copy)})
            elif isinstance(copy, np.random.Generator):
                out.append({"m": mid, "state": self.codec.encode(copy.bit_generator.state)})
            else:
                out.append({"m": mid, "d": _npy(copy.data),
                            "g": None if copy.grad is None else _npy(copy.grad)})
        return out

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            target = self.codec.by_mid.get(str(change.get("m")))
            if target is None:
                continue
            if isinstance(target, np.random.Generator):
                try:
                    target.bit_generator.state = self.codec.decode(change["state"])
                except (ValueError, TypeError, KeyError):
                    pass
                continue
            data = _from_npy(change["d"])
            array = target if isinstance(target, np.ndarray) else target.data
            if data.shape == array.shape and array.flags.writeable:
                array[...] = data.astype(array.dtype, copy=False)
            if not isinstance(target, np.ndarray):
                grad = change.get("g")
                target.grad = None if grad is None else _from_npy(grad)
