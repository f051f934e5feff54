"""Argument validation at the public boundary.

Every message follows one template, ``"{name} must be {expected}, got {came}"``,
and says the fix when it is obvious. Kernels never validate: the public
function calls these helpers once, before any work starts.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

_KIND_WORDS = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer", "b": "boolean"}


def check_array(name, x, *, ndim=None, min_ndim=None, dtype_kinds=None, dtypes=None, shape=None):
    """Check an array argument's rank, dtype and shape.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    x : array
        A numpy or cupy array.
    ndim : int or tuple of int, optional
        Allowed ranks.
    min_ndim : int, optional
        Smallest allowed rank.
    dtype_kinds : str, optional
        Allowed ``dtype.kind`` letters, e.g. ``"f"`` or ``"iu"``.
    dtypes : tuple of numpy dtypes, optional
        Allowed dtypes.
    shape : tuple, optional
        Required shape; ``None`` entries match any size.

    Returns
    -------
    array
        ``x`` unchanged.

    Raises
    ------
    TypeError
        If ``x`` is not an array or has a wrong dtype.
    ValueError
        If ``x`` has a wrong rank or shape.
    """
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(x.shape)}")
    if dtypes is not None:
        allowed = tuple(np.dtype(d) for d in dtypes)
        if np.dtype(x.dtype) not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise TypeError(f"{name} must be {want}, got {x.dtype} (convert with .astype(np.{allowed[0]}))")
    if dtype_kinds is not None and np.dtype(x.dtype).kind not in dtype_kinds:
        want = " or ".join(_KIND_WORDS.get(k, k) for k in dtype_kinds)
        raise TypeError(f"{name} must be a {want} array, got {x.dtype}")
    if shape is not None:
        if len(shape) != x.ndim or any(s is not None and s != d for s, d in zip(shape, x.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got shape {tuple(x.shape)}")
    return x


def check_number(name, value, *, integer=False, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False, finite=False):
    """Check a scalar hyperparameter and return it as a Python number.

    Parameters
    ----------
    name : str
        The argument's name.
    value : number
        The value to check (numpy scalars and 0-d arrays are accepted).
    integer : bool, default False
        Require an integral value.
    low, high : float, optional
        Bounds; inclusive unless ``low_open``/``high_open``.
    low_open, high_open : bool, default False
        Make the corresponding bound exclusive.
    allow_none : bool, default False
        Accept ``None`` and return it.
    finite : bool, default False
        Refuse ``inf`` and ``-inf`` too (for a hyperparameter that would make
        every result non-finite).

    Returns
    -------
    int or float or None
        The value as a Python ``int`` (``integer=True``) or ``float``.

    Raises
    ------
    TypeError
        If the value is not a real number (or not an integer when required).
    ValueError
        If it is NaN or outside the bounds.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        kind = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if integer:
        if not isinstance(value, numbers.Integral):
            if not float(value).is_integer():
                raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if math.isnan(value):
            raise ValueError(f"{name} must not be NaN, got nan")
        if finite and math.isinf(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}, got {value}")
    return value


def check_choice(name, value, choices):
    """Check that ``value`` is one of ``choices``.

    Parameters
    ----------
    name : str
        The argument's name.
    value : object
        The value.
    choices : iterable
        The allowed values.

    Returns
    -------
    object
        ``value`` unchanged.

    Raises
    ------
    ValueError
        If ``value`` is not allowed.
    """
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_seed(seed):
    """Validate a generator seed, drawing a fresh one from the OS for ``None``.

    Parameters
    ----------
    seed : int or None
        ``0 <= seed < 2**64``, or ``None``.

    Returns
    -------
    np.uint64

    Raises
    ------
    TypeError, ValueError
        If ``seed`` is not an integer in range.
    """
    seed = check_number("seed", seed, integer=True, low=0, high=2**64 - 1, allow_none=True)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
    return np.uint64(seed)


#: Largest global step (the kernels take it as int64).
MAX_STEP = 2**63 - 1
#: Largest time in seconds a table stores (a uint32, as Monolith's).
MAX_SECONDS = 2**32 - 1


def check_step(name, value):
    """Validate a global step: an integer in ``[0, 2**63 - 1]`` (the kernels' int64).

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int
        The step.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        If ``value`` is not an integer in range (before anything is changed).

    Examples
    --------
    >>> check_step("global_step", 7)
    7
    >>> check_step("global_step", 2**63)
    Traceback (most recent call last):
    ...
    ValueError: global_step must be <= 9223372036854775807, got 9223372036854775808
    """
    return int(check_number(name, value, integer=True, low=0, high=MAX_STEP))


def check_seconds(name, value):
    """Validate a time in seconds that a table stores: an integer in ``[0, 2**32 - 1]`` (uint32, as Monolith).

    A value past 2**32 - 1 is refused, not wrapped: it is most likely
    milliseconds or nanoseconds given by mistake, and wrapping it would make
    entries look years old (or new) to expiry.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : int
        Seconds.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
        If ``value`` is not an integer in range.

    Examples
    --------
    >>> check_seconds("update_time", 1_700_000_000)
    1700000000
    >>> check_seconds("update_time", 1_700_000_000_000)
    Traceback (most recent call last):
    ...
    ValueError: update_time must be <= 4294967295 (uint32 seconds), got 1700000000000
    """
    value = check_number(name, value, integer=True, low=0)
    if value > MAX_SECONDS:
        raise ValueError(f"{name} must be <= {MAX_SECONDS} (uint32 seconds), got {int(value)}")
    return int(value)


def check_writeable(name, x):
    """Check that an array the call updates in place can be written.

    numpy arrays only: a read-only one (``x.flags.writeable`` False, e.g. a
    ``np.broadcast_to`` view or a memory-mapped file opened ``"r"``) would
    otherwise reach a kernel and fail there with a numba typing error. CUDA
    arrays have no such flag.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    x : array
        An array already checked with :func:`check_array`.

    Returns
    -------
    array
        ``x`` unchanged.

    Raises
    ------
    TypeError
        If ``x`` is a read-only numpy array.

    Examples
    --------
    >>> import numpy as np
    >>> params = np.zeros(3, np.float32)
    >>> params.setflags(write=False)
    >>> check_writeable("params", params)
    Traceback (most recent call last):
    ...
    TypeError: params must be a writeable array (it is updated in place), got a read-only float32 array
    """
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        raise TypeError(f"{name} must be a writeable array (it is updated in place), got a read-only {x.dtype} array")
    return x
