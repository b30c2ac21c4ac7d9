"""Boundary checks: what an argument of a public function must be, said in one place.

Each check returns the value (a numpy or 0-d tensor integer becomes an ``int``) or raises ``ValueError`` (a bad value)
or :class:`ArgumentTypeError` (a wrong type), naming the argument, what was expected, what came and any fix. Internal
calls skip the checks (some sync a GPU). This module imports nothing from ``stnlib``."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor

SEED_MAX = 2**32 - 1  #: the largest seed (numpy's limit, which :func:`check_seed` applies everywhere)
TEXT = (str, bytes, bytearray)  #: sequences that are never sequences of numbers


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type; also a ``ValueError``, so that ``except ValueError`` keeps catching it."""


def describe(value: object) -> str:
    """What came, briefly: a tensor's or array's dtype and shape, else the type and (up to 60 characters) repr."""
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a numpy {value.dtype} array of shape {value.shape}"
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _fail(name: str, expected: str, value: object, fix: str = "", cls: type[Exception] = ValueError) -> NoReturn:
    raise cls(f"{name} must be {expected}, got {describe(value)}" + (f" ({fix})" if fix else ""))


def _bounds(min: float | None, max: float | None) -> str:
    if min is not None and max is not None:
        return f" in {min} .. {max}"
    return f" >= {min}" if min is not None else (f" <= {max}" if max is not None else "")


def check_int(value: object, name: str, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an ``int`` (a Python, numpy or 0-d tensor integer; not a bool or a float), within bounds."""
    if isinstance(value, Tensor) and value.dim() == 0 and value.dtype in _INT_DTYPES:
        value = int(value)
    elif isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        integral = isinstance(value, float | np.floating) and float(value).is_integer()
        _fail(name, "an int", value, f"use int({value!r})" if integral else "", ArgumentTypeError)
    if (min is not None and value < min) or (max is not None and value > max):
        _fail(name, f"an int{_bounds(min, max)}", value)
    return value


def check_float(
    value: object,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    positive: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a ``float`` (a real number, numpy scalar or 0-d tensor; not a bool), not NaN, within bounds;
    ``positive``: ``> 0``; ``finite=False`` lets ``±inf`` through."""
    if isinstance(value, Tensor) and value.dim() == 0 and (value.is_floating_point() or value.dtype in _INT_DTYPES):
        value = value.item()
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        _fail(name, "a real number", value, cls=ArgumentTypeError)
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        _fail(name, "finite" if finite else "a number (not NaN)", value)
    if (positive and not value > 0) or (min is not None and value < min) or (max is not None and value > max):
        _fail(name, f"a number{' > 0' if positive else ''}{_bounds(min, max)}", value)
    return value


def check_floats(value: object, name: str, *, length: int | None = None, positive: bool = False) -> tuple[float, ...]:
    """A finite number or a non-empty 1-D sequence (list, tuple, array or tensor) of them, as a tuple of floats;
    ``length``: exactly that many, one per channel (a single number counts as one)."""
    items = value.reshape(-1).tolist() if isinstance(value, Tensor | np.ndarray) and value.ndim <= 1 else value
    items = list(items) if isinstance(items, Sequence) and not isinstance(items, TEXT) else [items]
    items = [v.item() if isinstance(v, Tensor) and v.dim() == 0 else v for v in items]
    if (
        not items
        or not all(isinstance(v, int | float | np.integer | np.floating) for v in items)
        or any(isinstance(v, bool | np.bool_) for v in items)
    ):
        cls = ValueError if isinstance(value, Sequence | Tensor | np.ndarray) and not items else ArgumentTypeError
        _fail(name, "a number or a non-empty 1-D sequence of numbers", value, cls=cls)
    floats = tuple(float(v) for v in items)
    if not all(map(math.isfinite, floats)):
        _fail(name, "finite", value)
    if positive and not all(v > 0 for v in floats):
        _fail(name, "positive (> 0)", value)
    if length is not None and len(floats) != length:
        _fail(name, f"{length} number{'s' if length > 1 else ''}, one per channel", value)
    return floats


def check_ints(value: object, name: str, *, length: int | None = None, min: int | None = None) -> tuple[int, ...]:
    """A non-empty sequence (tuple, list, ``torch.Size``) of ints, as a tuple; ``length``: exactly that many."""
    expected = "a pair of ints" if length == 2 else f"a sequence of {length or 'one or more'} ints"
    if isinstance(value, TEXT) or not isinstance(value, Sequence):
        _fail(name, expected, value, cls=ArgumentTypeError)
    if not value or (length is not None and len(value) != length):
        _fail(name, expected, value)
    return tuple(check_int(v, f"{name}[{i}]", min=min) for i, v in enumerate(value))


def check_bool(value: object, name: str) -> bool:
    """``value`` if it is a bool (or a numpy bool): ``"no"`` or ``1`` are not."""
    if not isinstance(value, bool | np.bool_):
        _fail(name, "True or False", value, cls=ArgumentTypeError)
    return bool(value)


def check_choice(value: Any, name: str, options: Collection[Any]) -> Any:
    """``value`` if it is one of ``options``; the message lists them and suggests the closest."""
    listed = ", ".join(map(repr, options))
    if all(isinstance(o, str) for o in options) and not isinstance(value, str):
        _fail(name, f"one of {listed}", value, cls=ArgumentTypeError)
    if isinstance(value, Tensor | np.ndarray) or value not in options:
        close = difflib.get_close_matches(value, list(options), n=1) if isinstance(value, str) else []
        _fail(name, f"one of {listed}", value, f"did you mean {close[0]!r}?" if close else "")
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an ``int`` in ``0 .. 2**32 - 1`` (what numpy, torch and Python's ``random`` all accept)."""
    return check_int(seed, name, min=0, max=SEED_MAX)


def check_type(value: object, name: str, types: type | tuple[type, ...], expected: str) -> Any:
    """``value`` if it is an instance of ``types`` (``expected`` says what in words)."""
    if not isinstance(value, types):
        _fail(name, expected, value, cls=ArgumentTypeError)
    return value


def check_callable(value: object, name: str, *, optional: bool = False) -> Any:
    """``value`` if it is callable (or ``None`` when ``optional``)."""
    if not (callable(value) or (optional and value is None)):
        _fail(name, f"callable{' or None' if optional else ''}", value, cls=ArgumentTypeError)
    return value


def check_path(value: object, name: str) -> Path:
    """``value`` (a non-empty ``str`` or ``os.PathLike``) as a :class:`~pathlib.Path`."""
    if not isinstance(value, str | os.PathLike):
        _fail(name, "a folder path (str or pathlib.Path)", value, cls=ArgumentTypeError)
    if str(value) == "":
        _fail(name, "a non-empty folder path", value, "use '.' for the current folder")
    return Path(value)


def check_device(value: object, name: str = "device") -> torch.device | None:
    """``None``, or ``value`` (a device, a string such as ``"cuda:0"``, or an index) as a :class:`torch.device`."""
    if value is None or isinstance(value, torch.device):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        _fail(name, "a torch.device, a device string such as 'cpu' or 'cuda', or None", value, cls=ArgumentTypeError)
    try:
        return torch.device(value)
    except (RuntimeError, ValueError) as e:
        _fail(name, "a device such as 'cpu', 'cuda' or 'cuda:0'", value, str(e).split("\n")[0])


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_KINDS: dict[str, tuple[Callable[[Tensor], bool], str, str]] = {
    "float": (Tensor.is_floating_point, "a floating-point tensor", "convert with .float()"),
    "int": (lambda t: t.dtype in _INT_DTYPES, "an integer tensor", "convert with .long()"),
    "uint8": (lambda t: t.dtype == torch.uint8, "a uint8 tensor", "images as 0..255 bytes: .to(torch.uint8)"),
    "bool": (lambda t: t.dtype == torch.bool, "a bool tensor", "convert with .bool()"),
    "real": (lambda t: t.dtype in _INT_DTYPES or t.is_floating_point(), "a real (integer or float) tensor", ""),
}


def check_tensor(
    value: object,
    name: str,
    *,
    shape: Sequence[int | str] | None = None,
    kind: str | None = None,
    finite: bool = False,
    nonempty: bool = False,
) -> Tensor:
    """``value`` if it is a tensor of ``shape`` (ints fixed, strings any size: ``("B", 2, 3)``) and ``kind`` (a key
    of ``_KINDS``), with an item on axis 0 (``nonempty``), all finite (``finite``: syncs a GPU)."""
    layout = "(" + ", ".join(map(str, shape)) + ")" if shape is not None else ""
    if not isinstance(value, Tensor):
        fix = "convert with torch.as_tensor(...)" if isinstance(value, np.ndarray | list | tuple) else ""
        _fail(name, f"a torch.Tensor{' of shape ' + layout if layout else ''}", value, fix, ArgumentTypeError)
    if shape is not None and (
        value.dim() != len(shape) or any(isinstance(s, int) and s != n for s, n in zip(shape, value.shape))
    ):
        hint = f" (add a batch axis: {name}.unsqueeze(0))" if value.dim() == len(shape) - 1 else ""
        raise ValueError(f"{name} must have shape {layout}, got {tuple(value.shape)}{hint}")
    if kind is not None and not _KINDS[kind][0](value):
        _, expected, fix = _KINDS[kind]
        raise ArgumentTypeError(f"{name} must be {expected}, got dtype {value.dtype}" + (f" ({fix})" if fix else ""))
    if nonempty and (value.dim() == 0 or value.shape[0] == 0):
        raise ValueError(f"{name} is an empty batch (shape {tuple(value.shape)}): need at least one item")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return value


def check_batch(batch: object, name: str = "loader") -> tuple[Tensor, Tensor]:
    """One ``(x, y)`` batch that ``name`` yielded, checked cheaply (no device sync: it runs for every batch): ``x`` a
    tensor with at least one item, ``y`` integer labels, one per item."""
    if isinstance(batch, (Tensor, *TEXT)) or not isinstance(batch, Sequence):
        raise ArgumentTypeError(f"{name} must yield (x, y) batches as a DataLoader does, got {describe(batch)}")
    if len(batch) != 2:
        raise ValueError(f"{name} must yield (x, y) batches, got a batch of {len(batch)} items")
    x = check_tensor(batch[0], f"{name}'s x", nonempty=True)
    return x, check_tensor(batch[1], f"{name}'s y", shape=(len(x),), kind="int")
