"""Helpers shared by the entry components: argument checks, proto filling, element-wise dispatch."""

from __future__ import annotations

import math

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import run_cpu


_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def _finite(name, value, allow_none=False):
    value = check_number(name, value, allow_none=allow_none)
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _float32_finite(name, value):
    """``value`` as float32; raise if the conversion overflows."""
    v = np.float32(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must fit in float32 (|value| <= 3.4028235e38), got {value}")
    return v


def _fill(message, **fields):
    """Mark ``message`` present and set every field whose value is not None (the original's ``_convert_to_proto``)."""
    message.SetInParent()
    for key, value in fields.items():
        if value is not None:
            setattr(message, key, value)


def _float_input(name, x):
    """Validate a float32 array argument; return ``(xp, x)``."""
    xp = array_module(**{name: x})
    x = asarray(x, xp)
    check_array(name, x, dtypes=(np.float32,))
    return xp, x


def _flat(xp, x):
    return xp.ascontiguousarray(x).reshape(-1)


def _elementwise(xp, x, out_dtype, driver, *scalars, view_in=None, view_out=None):
    """Run an element-wise ``driver(src, *scalars, dst)`` over ``x``; return an array shaped like it.

    ``driver`` is the CPU driver of :mod:`monolith_np.entry._cpu` when ``xp``
    is numpy (run through :func:`~monolith_np._compile.run_cpu`), else the
    matching GPU driver of ``monolith_np.cuda.entry`` (the caller picks it).
    ``view_in`` / ``view_out`` reinterpret the flat input / output (same item
    size) for drivers that work on bit patterns.
    """
    flat = _flat(xp, x)
    out = xp.empty(flat.shape, dtype=out_dtype)
    if flat.size:
        src = flat if view_in is None else flat.view(view_in)
        dst = out if view_out is None else out.view(view_out)
        if xp is np:
            run_cpu(driver, flat.size, src, *scalars, dst)
        else:
            driver(src, *scalars, dst)
    return out.reshape(x.shape)
