"""Read a pickle of whole modules (the original release's ``network-snapshot-*.pkl``) without running its code.

A :class:`SafeUnpickler` resolves only tensor/storage reconstruction to real functions (each checks its
arguments) and maps the classes and helpers such snapshots name (the original ``networks.*`` modules,
open_clip, timm, ``torch.nn`` modules, dill's function/type helpers) to :class:`Record` objects that store
what the pickle hands them and do nothing. Any other global (``os.system``, ``builtins.eval``, ...) is
refused with a :class:`~stylegan_t.errors.CheckpointError` naming it; no module is ever imported.
"""
from __future__ import annotations

import collections
import io
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

#: Packages whose classes become inert records (the original source tree, its dependencies, torch.nn).
INERT_PACKAGES = (
    "networks", "training", "torch_utils", "dnnlib",  # the original release's source tree
    "open_clip", "timm", "torchvision",  # third-party modules inside G (text tower) and D (DINO)
    "torch.nn.modules", "torch.nn.utils", "torch.nn.parameter",
)
#: Single globals that become inert records: dill's helpers for pickled functions and types, numpy scalars
#: and arrays (module attributes), ``getattr`` as dill uses it for bound methods.
INERT_GLOBALS = frozenset({
    "dill._dill._create_function", "dill._dill._create_code", "dill._dill._create_cell",
    "dill._dill._create_type", "dill._dill._create_namedtuple", "dill._dill._load_type",
    "dill._dill._setattr", "dill._dill._create_array", "dill._dill._get_attr", "dill._dill._import_module",
    "dill._dill",  # the helper module itself: dill looks helpers up with getattr(dill._dill, name, setattr)
    "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
    "builtins.getattr", "builtins.setattr", "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex",
})


class Record:
    """An inert stand-in for an object of a class the pickle names: keeps the constructor arguments, the
    state (``__dict__`` of a module), and any list/dict items, and has no behaviour."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Record:
        self = object.__new__(cls)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "state", None)
        object.__setattr__(self, "items", [])
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        object.__setattr__(self, "state", state)

    def __call__(self, *args: Any, **kwargs: Any) -> Record:
        """A recorded helper applied to arguments (e.g. dill's ``_setattr``): another inert record, nothing runs."""
        return _record_class(f"{self.qualname}(...)")(*args)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def __setattr__(self, name: str, value: Any) -> None:  # dill's _setattr etc. never reach real objects
        raise AttributeError(f"inert record {self.qualname} is read-only")

    def __repr__(self) -> str:
        return f"<inert {self.qualname}>"

    @property
    def attrs(self) -> dict[str, Any]:
        """The recorded ``__dict__`` (a module's attributes); {} when the pickle gave no dict state."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = state[0]
        return state if isinstance(state, dict) else {}


def _record_class(qualname: str) -> type[Record]:
    return type(qualname.rpartition(".")[2] or "Record", (Record,), {"qualname": qualname})


def _untyped(storage: Any) -> torch.UntypedStorage:
    if isinstance(storage, torch.UntypedStorage):
        return storage
    if isinstance(storage, torch.TypedStorage):
        return storage._untyped_storage
    raise CheckpointError(f"the pickle rebuilds a tensor from {type(storage).__name__}, not from a storage")


def _load_storage(data: bytes) -> torch.TypedStorage:
    """Stand-in for ``torch.storage._load_from_bytes``: the bytes are a ``torch.save``-d storage, read weights-only."""
    if not isinstance(data, bytes):
        raise CheckpointError("the pickle's storage payload is not bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - any failure is a bad file
        raise CheckpointError(f"a tensor storage in the pickle could not be read weights-only: {err}") from err
    _untyped(storage)
    return storage


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                    backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a view of a real storage; hooks and metadata refused."""
    if backward_hooks or metadata:
        raise CheckpointError("the pickle attaches hooks or metadata to a tensor; refused")
    typed = storage if isinstance(storage, torch.TypedStorage) else None
    untyped = _untyped(storage)
    dtype = typed.dtype if typed is not None else torch.uint8
    tensor = torch.empty((0,), dtype=dtype)
    tensor.set_(untyped, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))
    return tensor


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None) -> torch.Tensor:
    """Stand-in for ``torch._utils._rebuild_parameter``: the plain tensor (a state dict needs no Parameter)."""
    if not isinstance(data, torch.Tensor) or backward_hooks:
        raise CheckpointError("the pickle rebuilds a parameter from something other than a plain tensor")
    return data


#: torch dtypes by name (``torch.float32`` ...), looked up without touching torch's lazy module attributes
_DTYPES = {name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)}

_REAL = {
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_storage,
    "collections.OrderedDict": collections.OrderedDict,
    "torch.Size": torch.Size,  # a tuple
    "torch.device": torch.device,  # parses a string
}


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals are only tensor rebuilders, ``OrderedDict``, torch dtypes and inert
    records; it never imports a module. ``asked`` counts every global the pickle named."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.asked: collections.Counter[str] = collections.Counter()
        self._classes: dict[str, type[Record]] = {}

    def find_class(self, module: str, name: str) -> Any:
        qualname = f"{module}.{name}"
        self.asked[qualname] += 1
        if qualname in _REAL:
            return _REAL[qualname]
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        if qualname in INERT_GLOBALS or any(module == p or module.startswith(p + ".") for p in INERT_PACKAGES):
            if qualname not in self._classes:
                self._classes[qualname] = _record_class(qualname)
            return self._classes[qualname]
        raise CheckpointError(
            f"the pickle asks for {qualname}, which a network snapshot never needs; refused without running "
            "anything (only tensors, storages and the original's module classes are read)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError("the pickle uses persistent ids (a torch.save zip file?); expected a network snapshot .pkl")


def safe_load(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"snapshot not found: '{path}'")
    with path.open("rb") as f:
        try:
            return SafeUnpickler(f).load()
        except CheckpointError as err:
            raise CheckpointError(f"'{path}': {err}") from None
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError, KeyError,
                RuntimeError) as err:
            raise CheckpointError(f"'{path}' is not a readable network snapshot pickle ({type(err).__name__}: {err})") from None


def is_module_record(obj: Any) -> bool:
    """A record of a ``torch.nn.Module`` (it has ``_parameters`` / ``_modules`` state)."""
    return isinstance(obj, Record) and "_modules" in obj.attrs


def children(record: Record) -> Iterator[tuple[str, Record]]:
    """The sub-module records of a module record (``_modules``), skipping ``None`` entries."""
    for name, child in dict(record.attrs.get("_modules") or {}).items():
        if child is not None:
            if not is_module_record(child):
                raise CheckpointError(f"sub-module {name!r} of {record.qualname} is not a module")
            yield name, child


def state_dict(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """``nn.Module.state_dict()`` of a module record: parameters and persistent buffers, recursively."""
    if not is_module_record(record):
        raise CheckpointError(f"{prefix or 'the object'} is not a module record ({record!r})")
    attrs = record.attrs
    skip = set(attrs.get("_non_persistent_buffers_set") or ())
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in dict(attrs.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{prefix}{name} of {record.qualname} is not a tensor")
            out[prefix + name] = value
    for name, child in children(record):
        out.update(state_dict(child, f"{prefix}{name}."))
    return out


def submodule(record: Record, path: str) -> Record:
    """The sub-module record at dotted ``path`` (e.g. ``mapping.clip.model``)."""
    for part in filter(None, path.split(".")):
        found = dict(children(record)).get(part)
        if found is None:
            raise CheckpointError(f"{record.qualname} has no sub-module {part!r} (looking for {path!r})")
        record = found
    return record
