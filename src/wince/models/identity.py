"""The identity of a Python callable: its code and the state it closes over.

A plain function used as a model is the same model only when its code *and* its state are
the same: two scorers behind one wrapper (`def wrap(score_fn): return lambda x: score_fn(x)`)
share their code, and a model whose threshold attribute changed has the same code as before.
`callable_identity` therefore hashes, recursively and with cycle protection:

- a function's bytecode, constants, names, defaults, keyword defaults, the contents of its
  closure cells and the globals its code (or any nested code) names, except modules,
  classes and the functions of installed packages and of wince (named only: their code is
  the installed release's, and the release is part of the environment);
- a bound method's function and the object it is bound to; a `functools.partial`'s function,
  arguments and keywords; a callable object's class, `__call__` and attributes;
- data: numbers, strings and bytes by value; lists, tuples, dicts and sets by content (dicts
  and sets in an order that does not depend on the process's hash seed); NumPy arrays by
  dtype, shape and bytes; torch modules and tensors by their state; scikit-learn estimators
  (and other objects with `get_params`) by their pickle; other objects by their attributes.

The digest is the same in every process for the same code and state. What cannot be hashed
that way (an open file, a lock, a generator, a C object without a pickle) makes the identity
*unstable*: the adapter then gets a fingerprint of its own that no other process shares, so
its runs and predictions are never reused, and an `IdentityWarning` says why and how to name
the model (`fingerprint=` or `version=`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import pickle
import struct
import sysconfig
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Containers deeper than this are cut (and the identity marked unstable): a model's state is
# never that deep, a linked structure may be.
MAX_DEPTH = 200


@dataclass(frozen=True)
class Identity:
    """The hash of a callable's code and state.

    Attributes:
        digest: hex SHA-256 (first 16 hex digits) of the code and state.
        stable: False when part of the state could not be hashed deterministically.
        problems: what could not be hashed, with where it was found ("fn.__closure__[0]").
        modules: top-level modules of the objects met (e.g. "sklearn", "torch"), whose
            installed versions shape the model's outputs.
    """

    digest: str
    stable: bool
    problems: tuple[str, ...]
    modules: frozenset[str]


def array_bytes(array: np.ndarray) -> bytes:
    """The bytes of a NumPy array's values in C order, field by field for structured dtypes.

    A structured array's padding bytes are uninitialised memory (scikit-learn's tree nodes
    have some), so the same values could otherwise give different bytes in every load.
    """
    if array.dtype.names:
        return b"".join(np.ascontiguousarray(array[name]).tobytes() for name in array.dtype.names)
    return np.ascontiguousarray(array).tobytes()


# Attributes that hold a memory address, which differs in every process for the same model:
# scikit-learn's CountVectorizer (and TfidfVectorizer) keeps `id(self.stop_words)`.
ADDRESS_ATTRIBUTES = frozenset({"_stop_words_id"})


class _ValuePickler(pickle.Pickler):
    """A pickler that writes models by value: the same model, the same bytes in any process.

    Structured NumPy arrays are written by value (`array_bytes`), not memory, and attributes
    that hold memory addresses (`ADDRESS_ATTRIBUTES`) are left out.
    """

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.dtype.names:
            return tuple, ((repr(obj.dtype.descr), obj.shape, array_bytes(obj)),)
        state = getattr(obj, "__dict__", None)
        if (
            isinstance(state, dict)
            and not isinstance(obj, type)
            and ADDRESS_ATTRIBUTES & state.keys()
        ):
            kept = {k: v for k, v in state.items() if k not in ADDRESS_ATTRIBUTES}
            cls = type(obj)
            return tuple, ((f"{cls.__module__}.{cls.__qualname__}", kept),)
        return NotImplemented


def value_pickle(obj: Any) -> bytes:
    """`obj` pickled (protocol 5) by value: equal models, equal bytes.

    Structured arrays are written by value (`array_bytes`), and nothing is written as a
    reference to an object met before (the pickler's fast mode): which equal strings, dtypes
    or tuples are one object differs between a model in memory and the same model loaded
    with pickle or joblib, and a plain pickle follows that sharing. Objects that contain
    themselves are pickled with references (their bytes then follow the sharing).

    Raises:
        pickle.PicklingError, TypeError, AttributeError: `obj` cannot be pickled.
    """
    buffer = io.BytesIO()
    pickler = _ValuePickler(buffer, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(obj)
    except ValueError:  # fast mode refuses cycles
        buffer = io.BytesIO()
        _ValuePickler(buffer, protocol=5).dump(obj)
    return buffer.getvalue()


class _Hasher:
    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.problems: list[str] = []
        self.modules: set[str] = set()
        self._active: dict[int, int] = {}  # id of an object being hashed -> its order

    def tag(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self.digest.update(struct.pack("<Q", len(data)))
        self.digest.update(data)

    def raw(self, data: bytes) -> None:
        self.digest.update(struct.pack("<Q", len(data)))
        self.digest.update(data)

    def sub(self, obj: Any, where: str) -> bytes:
        """The digest of `obj` alone (for order-free containers), sharing the cycle guard."""
        saved = self.digest
        self.digest = hashlib.sha256()
        self.feed(obj, where, 0)
        result = self.digest.digest()
        self.digest = saved
        return result

    def feed(self, obj: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.problems.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
            return
        if obj is None or isinstance(obj, bool | int | float | complex | str | bytes):
            self.tag(f"{type(obj).__name__}:{obj!r}")
            return
        if isinstance(obj, types.ModuleType):
            self.tag(f"module:{obj.__name__}")
            return
        if isinstance(obj, type):
            self.tag(f"class:{obj.__module__}.{obj.__qualname__}")
            return
        if isinstance(obj, types.BuiltinFunctionType | types.BuiltinMethodType):
            owner = getattr(obj, "__self__", None)
            self.tag(f"builtin:{getattr(obj, '__module__', None)}.{obj.__qualname__}")
            if owner is not None and not isinstance(owner, types.ModuleType):
                self.feed(owner, f"{where}.__self__", depth + 1)
            return
        key = id(obj)
        if key in self._active:  # a cycle: refer to the object by its order of appearance
            self.tag(f"cycle:{self._active[key]}")
            return
        self._active[key] = len(self._active)
        try:
            self._feed_object(obj, where, depth)
        finally:
            del self._active[key]

    def _feed_object(self, obj: Any, where: str, depth: int) -> None:
        module = (getattr(type(obj), "__module__", "") or "").split(".")[0]
        if module not in ("builtins", "", "functools", "types"):
            self.modules.add(module)
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                self.tag(f"ndarray-object:{obj.shape}")
                self.feed(obj.tolist(), where, depth + 1)
            else:
                self.tag(f"ndarray:{obj.dtype.descr!r}:{obj.shape}")
                self.raw(array_bytes(obj))
            return
        if isinstance(obj, np.generic):
            self.tag(f"npscalar:{obj.dtype.str}")
            self.raw(obj.tobytes())
            return
        if isinstance(obj, list | tuple):
            self.tag(f"{type(obj).__name__}:{len(obj)}")
            for i, item in enumerate(obj):
                self.feed(item, f"{where}[{i}]", depth + 1)
            return
        if isinstance(obj, dict):
            self.tag(f"{type(obj).__name__}:{len(obj)}")
            pairs = sorted(
                ((self.sub(k, f"{where} key"), k, v) for k, v in obj.items()),
                key=lambda pair: pair[0],
            )
            for key_digest, k, v in pairs:
                self.raw(key_digest)
                self.feed(v, f"{where}[{k!r}]", depth + 1)
            return
        if isinstance(obj, set | frozenset):
            self.tag(f"{type(obj).__name__}:{len(obj)}")
            for digest in sorted(self.sub(item, f"{where} item") for item in obj):
                self.raw(digest)
            return
        if isinstance(obj, types.CodeType):
            self._code(obj, where, depth)
            return
        if isinstance(obj, types.FunctionType):
            self._function(obj, where, depth)
            return
        if isinstance(obj, types.MethodType):
            self.tag("method")
            self.feed(obj.__func__, f"{where}.__func__", depth + 1)
            self.feed(obj.__self__, f"{where}.__self__", depth + 1)
            return
        if isinstance(obj, functools.partial):
            self.tag("partial")
            self.feed(obj.func, f"{where}.func", depth + 1)
            self.feed(obj.args, f"{where}.args", depth + 1)
            self.feed(obj.keywords, f"{where}.keywords", depth + 1)
            return
        if isinstance(obj, types.CellType):
            try:
                contents = obj.cell_contents
            except ValueError:  # an empty cell (a name assigned later)
                self.tag("cell:empty")
                return
            self.feed(contents, where, depth + 1)
            return
        if module == "torch" and (hasattr(obj, "state_dict") or hasattr(obj, "detach")):
            self._torch(obj, where, depth)
            return
        if isinstance(obj, logging.Logger | type(threading.Lock()) | type(threading.RLock())):
            self.tag(f"ignored:{type(obj).__qualname__}")  # no effect on outputs
            return
        if (hasattr(obj, "get_params") and hasattr(obj, "fit")) or module == "pandas":
            self._pickled(obj, where)
            return
        self._instance(obj, where, depth)

    def _code(self, code: types.CodeType, where: str, depth: int) -> None:
        self.tag(f"code:{code.co_name}:{code.co_argcount}:{code.co_kwonlyargcount}")
        self.raw(code.co_code)
        self.tag(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)))
        for i, constant in enumerate(code.co_consts):
            self.feed(constant, f"{where}.co_consts[{i}]", depth + 1)

    def _function(self, fn: types.FunctionType, where: str, depth: int) -> None:
        if _is_library(fn.__code__.co_filename):
            # an installed package's (or wince's) function: named; its version is part of the
            # environment (a library's globals are no model's state, and may be unhashable)
            self.tag(f"library-function:{fn.__module__}.{fn.__qualname__}")
            self.modules.add((fn.__module__ or "").split(".")[0])
            return
        self.tag(f"function:{fn.__module__}.{fn.__qualname__}")
        self._code(fn.__code__, f"{where}.__code__", depth)
        self.feed(fn.__defaults__, f"{where}.__defaults__", depth + 1)
        self.feed(fn.__kwdefaults__, f"{where}.__kwdefaults__", depth + 1)
        for i, cell in enumerate(fn.__closure__ or ()):
            name = fn.__code__.co_freevars[i]
            self.tag(f"free:{name}")
            self.feed(cell, f"{where} (closes over {name!r})", depth + 1)
        namespace = fn.__globals__
        for name in sorted(_global_names(fn.__code__)):
            if name in namespace:
                self.tag(f"global:{name}")
                self.feed(namespace[name], f"{where} (global {name!r})", depth + 1)

    def _torch(self, obj: Any, where: str, depth: int) -> None:
        if hasattr(obj, "state_dict"):
            self.tag(f"torch-module:{type(obj).__qualname__}")
            self.feed(repr(obj), where, depth + 1)  # the structure
            for name, tensor in obj.state_dict().items():
                self.tag(name)
                self._torch(tensor, f"{where}.{name}", depth + 1)
            return
        array = obj.detach().cpu().contiguous()
        self.tag(f"tensor:{array.dtype}:{tuple(array.shape)}")
        self.raw(array.reshape(-1).view(__import__("torch").uint8).numpy().tobytes())

    def _pickled(self, obj: Any, where: str) -> None:
        try:
            data = value_pickle(obj)
        except Exception as error:
            self.problems.append(
                f"{where}: a {type(obj).__name__} that cannot be pickled ({error})"
            )
            return
        self.tag(f"pickle:{type(obj).__module__}.{type(obj).__qualname__}")
        self.raw(data)

    def _instance(self, obj: Any, where: str, depth: int) -> None:
        cls = type(obj)
        self.tag(f"object:{cls.__module__}.{cls.__qualname__}")
        call = getattr(cls, "__call__", None)  # noqa: B004 (the class's method, not callable())
        if isinstance(call, types.FunctionType):
            self._function(call, f"{where}.__call__", depth + 1)
        state: dict[str, Any] = {}
        if hasattr(obj, "__dict__"):
            state.update(vars(obj))
        for slot in _slots(cls):
            if hasattr(obj, slot):
                state[slot] = getattr(obj, slot)
        if state:
            self.feed(state, where, depth + 1)
            return
        if hasattr(obj, "__dict__") or _slots(cls):
            return  # an object without state: its class says it all
        # no attributes to read (a C object): its pickle, when it has a deterministic one
        try:
            data = pickle.dumps(obj, protocol=5)
        except Exception:
            self.problems.append(
                f"{where}: a {cls.__module__}.{cls.__qualname__} with no readable state"
            )
            return
        self.raw(data)


def _slots(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [n for n in names if n not in ("__dict__", "__weakref__")]


@functools.cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.add(str(Path(__file__).resolve().parents[1]))  # wince itself
    return tuple(str(Path(root).resolve()) + os.sep for root in roots)


def _is_library(filename: str) -> bool:
    """Whether code comes from the standard library, an installed package or wince."""
    if not filename or filename.startswith("<"):
        return False
    return str(Path(filename).resolve()).startswith(_library_roots())


def _global_names(code: types.CodeType) -> set[str]:
    """Names the code (and code nested in it) may read as globals."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


def callable_identity(fn: Any) -> Identity:
    """The identity of a callable's code and the state it closes over or is bound to.

    Examples:
        >>> def wrap(score):
        ...     return lambda x: score(x)
        >>> a, b = wrap(abs), wrap(round)
        >>> callable_identity(a).digest == callable_identity(b).digest
        False
        >>> callable_identity(a).digest == callable_identity(wrap(abs)).digest
        True
    """
    hasher = _Hasher()
    hasher.feed(fn, _name(fn), 0)
    return Identity(
        digest=hasher.digest.hexdigest()[:16],
        stable=not hasher.problems,
        problems=tuple(hasher.problems),
        modules=frozenset(hasher.modules),
    )


def code_digest(code: types.CodeType) -> str:
    """Hex SHA-256 (16 digits) of a code object alone: bytecode, names and constants.

    Nested code (a lambda or comprehension inside) is hashed by its own content, never by its
    `repr`, which holds a memory address that differs in every process.
    """
    hasher = _Hasher()
    hasher._code(code, code.co_name, 0)
    return hasher.digest.hexdigest()[:16]


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)
