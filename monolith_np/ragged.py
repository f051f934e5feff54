"""Ragged embedding combiners, sequence masks and tensor-list merging.

A ragged batch is ``B`` rows of variable length stored flat: ``values`` (one
entry per id, e.g. an ``[nnz, D]`` embedding matrix) plus either
``row_splits`` (``B + 1`` non-decreasing offsets starting at 0 and ending at
``nnz``) or ``row_lengths`` (``B`` non-negative counts). This module re-creates
Monolith's

- embedding combiners (``embedding_combiners.py``: :class:`ReduceSum`,
  :class:`ReduceMean`, :class:`FirstN`) as plain functions with their
  gradients (:func:`reduce_sum`, :func:`reduce_mean`, :func:`first_n` and the
  ``*_grad`` vector-Jacobian products);
- the ``GenSeqMask`` op (:func:`gen_seq_mask`);
- ``layers/utils.py`` helpers (:func:`merge_tensor_list`, :class:`MergeType`,
  :class:`DCNType`, :func:`check_dim`, :func:`dim_size`).

Write once, compile twice
-------------------------
Each formula is one plain-Python *rule* in :mod:`monolith_np._rules.ragged`
(``segment_reduce_row``, ``segment_spread_rows``, ``shifted_copy``,
``seq_mask_row``) that fills a window of its output: columns
``[col_lo, col_hi)`` of one row, or rows ``[row_lo, row_hi)`` times those
columns. The CPU drivers below (:func:`~monolith_np._compile.cpu_jit`) run
``prange`` over ragged rows and call each rule, inlined, once per ragged row
with the whole window (every output element is written by exactly one
iteration, so no atomics).
:mod:`monolith_np.cuda.ragged` compiles the *same* rules with
:func:`~monolith_np._compile.gpu_device` and runs one thread per output element.
Public functions (and the combiners' ``combine``/``combine_grad``) validate
once, then call a private implementation that trusts its arguments, allocates
the output and picks the driver from :func:`~monolith_np._backend.array_module`
(numpy → CPU driver, CuPy → :func:`~monolith_np._dispatch.gpu_drivers`).
"""

from __future__ import annotations

import abc
import numbers

import numpy as np
from numba import prange

from ._backend import array_module, asarray
from ._checks import check_array, check_choice, check_number
from ._compile import cpu_jit, run_cpu
from ._dispatch import gpu_drivers
from ._rules.ragged import segment_reduce_row, segment_spread_rows, seq_mask_row, shifted_copy

__all__ = [
    "Ragged",
    "reduce_sum",
    "reduce_sum_grad",
    "reduce_mean",
    "reduce_mean_grad",
    "first_n",
    "first_n_grad",
    "gen_seq_mask",
    "Combiner",
    "ReduceSum",
    "ReduceMean",
    "FirstN",
    "merge_tensor_list",
    "MergeType",
    "DCNType",
    "check_dim",
    "dim_size",
]

_SPLIT_DTYPES = (np.int32, np.int64)
_INT64_MAX = 2**63 - 1
_FLOAT_DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------
# CPU drivers: prange over output rows; validate nothing.
# --------------------------------------------------------------------------

@cpu_jit(parallel=True)
def _reduce_cpu(values, row_splits, mean, out):
    """One iteration per output row ``b``: ``out[b] = sum/mean(values[splits[b]:splits[b+1]])``."""
    for b in prange(out.shape[0]):
        segment_reduce_row(values, row_splits[b], row_splits[b + 1], mean, out[b], 0, out.shape[1])


@cpu_jit(parallel=True)
def _reduce_grad_cpu(grad, row_splits, mean, out):
    """One iteration per segment ``b``, writing the (disjoint) id rows of that segment in ``out``."""
    for b in prange(grad.shape[0]):
        start = row_splits[b]
        end = row_splits[b + 1]
        segment_spread_rows(grad[b], end - start, mean, out, start, end, 0, out.shape[1])


@cpu_jit(parallel=True)
def _first_n_cpu(values, row_splits, out):
    """One iteration per output row ``b``: ``out[b, k] = values[splits[b] + k]`` or zeros."""
    for b in prange(out.shape[0]):
        start = row_splits[b]
        shifted_copy(values, row_splits[b + 1], start, out[b], 0, out.shape[1], 0, out.shape[2])


@cpu_jit(parallel=True)
def _first_n_grad_cpu(grad, row_splits, out):
    """One iteration per segment ``b``: id row ``splits[b] + k`` gets ``grad[b, k]`` (zeros for ``k >= n``)."""
    for b in prange(grad.shape[0]):
        start = row_splits[b]
        shifted_copy(grad[b], grad.shape[1], -start, out, start, row_splits[b + 1], 0, out.shape[1])


@cpu_jit(parallel=True)
def _seq_mask_cpu(row_splits, out):
    """One iteration per output row ``b`` of the ``[B, L]`` mask."""
    for b in prange(out.shape[0]):
        seq_mask_row(row_splits[b], row_splits[b + 1], out[b], 0, out.shape[1])


# --------------------------------------------------------------------------
# Validation (once, at the public boundary).
# --------------------------------------------------------------------------


def _first_violation(xp, bad):
    """Index of the first True in a boolean array, or -1."""
    if bad.size == 0 or not bool(bad.any()):
        return -1
    return int(xp.argmax(bad))


def _check_splits(name, splits, xp, *, nvalues=None, values_name="values", zero_start=True):
    check_array(name, splits, ndim=1, dtypes=_SPLIT_DTYPES)
    if splits.shape[0] == 0:
        raise ValueError(f"{name} must have at least one element (B + 1 offsets), got shape (0,)")
    first = int(splits[0])
    if zero_start and first != 0:
        raise ValueError(f"{name} must start at 0, got {name}[0] = {first}")
    k = _first_violation(xp, splits[1:] < splits[:-1])
    if k >= 0:
        raise ValueError(
            f"{name} must be non-decreasing, got {name}[{k}] = {int(splits[k])} > {name}[{k + 1}] = {int(splits[k + 1])}"
        )
    if nvalues is not None and int(splits[-1]) - first != nvalues:
        raise ValueError(f"{name} must end at len({values_name}) = {nvalues}, got {name}[-1] = {int(splits[-1])}")
    return splits


def _splits_from_lengths(name, lengths, xp, *, nvalues=None, values_name="values"):
    check_array(name, lengths, ndim=1, dtypes=_SPLIT_DTYPES)
    k = _first_violation(xp, lengths < 0)
    if k >= 0:
        raise ValueError(f"{name} must be non-negative, got {name}[{k}] = {int(lengths[k])}")
    splits = xp.zeros(lengths.shape[0] + 1, dtype=lengths.dtype)
    xp.cumsum(lengths, out=splits[1:])
    if nvalues is not None and int(splits[-1]) != nvalues:
        raise ValueError(f"{name} must sum to len({values_name}) = {nvalues}, got {int(splits[-1])}")
    return splits


def _int_array(x, xp):
    """``x`` as an array for the caller's integer check (a list of floats stays float; ``[]`` is int64)."""
    if hasattr(x, "shape"):
        return asarray(x, xp)
    a = np.asarray(x)
    return xp.asarray(a.astype(np.int64) if a.size == 0 and a.dtype.kind == "f" else a)


def _resolve_splits(row_splits, row_lengths, xp, *, nvalues=None, values_name="values"):
    """Validate exactly one of ``row_splits`` / ``row_lengths`` and return the splits."""
    if (row_splits is None) == (row_lengths is None):
        came = "both" if row_splits is not None else "neither"
        raise ValueError(f"exactly one of row_splits and row_lengths must be given, got {came}")
    if row_splits is not None:
        return _check_splits("row_splits", _int_array(row_splits, xp), xp, nvalues=nvalues, values_name=values_name)
    return _splits_from_lengths("row_lengths", _int_array(row_lengths, xp), xp, nvalues=nvalues, values_name=values_name)


def _float_matrix(name, x, xp, ndim=2):
    """Return ``x`` as a float32/float64 array of rank ``ndim`` (lists become float32, like TF)."""
    x = asarray(x, xp) if hasattr(x, "shape") else xp.asarray(x, dtype=np.float32)
    return check_array(name, x, ndim=ndim, dtypes=_FLOAT_DTYPES)


def _prepare(name, x, row_splits, row_lengths, ndim):
    """Common boundary work: array module and float check."""
    xp = array_module(**{name: x, "row_splits": row_splits, "row_lengths": row_lengths})
    x = _float_matrix(name, x, xp, ndim)
    return xp, x


def _forward_args(embeddings, row_splits, row_lengths):
    """Validate a forward call's ``(nnz, D)`` embeddings and partition; return ``(xp, embeddings, splits)``."""
    xp, embeddings = _prepare("embeddings", embeddings, row_splits, row_lengths, 2)
    splits = _resolve_splits(row_splits, row_lengths, xp, nvalues=embeddings.shape[0], values_name="embeddings")
    return xp, embeddings, splits


def _grad_args(grad, row_splits, row_lengths, ndim):
    """Validate a gradient call's ``(B, ...)`` grad of rank ``ndim`` and partition; return ``(xp, grad, splits)``."""
    xp, grad = _prepare("grad", grad, row_splits, row_lengths, ndim)
    splits = _resolve_splits(row_splits, row_lengths, xp)
    check_array("grad", grad, shape=(splits.shape[0] - 1,) + (None,) * (ndim - 1))
    return xp, grad, splits


# --------------------------------------------------------------------------
# Ragged helper
# --------------------------------------------------------------------------


def _key_parts(key, name):
    """Return ``(values, row_splits)`` of a :class:`Ragged`, a ``(values, row_splits)`` pair or a
    ragged tensor-like object (anything with ``values`` and ``row_splits`` attributes, e.g.
    ``tf.RaggedTensor``)."""
    if isinstance(key, (tuple, list)) and len(key) == 2:
        return key[0], key[1]
    if hasattr(key, "row_splits") and hasattr(key, "values"):
        splits = key.row_splits
        return key.values, splits() if callable(splits) else splits
    raise TypeError(
        f"{name} must be a Ragged, a (values, row_splits) pair or a ragged tensor, got {type(key).__name__}"
    )


def _host_or_device(x):
    """View a framework tensor (e.g. a TF eager tensor) as an array the backends understand."""
    if isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        return x
    if hasattr(x, "numpy") and callable(x.numpy):
        return x.numpy()
    return x


class Ragged:
    """A minimal ragged batch: flat ``values`` plus ``row_splits``.

    Row ``b`` holds ``values[row_splits[b]:row_splits[b + 1]]``. The object is
    validated once when built and is what the combiners' ``key`` argument and
    :func:`gen_seq_mask` accept (a plain ``(values, row_splits)`` pair or a
    ``tf.RaggedTensor`` work too). Arrays stay where they are (numpy or CuPy).

    Parameters
    ----------
    values : (nnz, ...) array_like
        The flat values (ids or embedding rows), any dtype.
    row_splits : (B + 1,) int32 or int64 array_like
        Non-decreasing offsets starting at 0 and ending at ``len(values)``.
    validate : bool, default True
        Check ``row_splits``; pass False only for splits known to be valid.

    Raises
    ------
    TypeError
        If ``row_splits`` is not int32/int64 or mixes devices with ``values``.
    ValueError
        If ``row_splits`` is empty, does not start at 0, decreases or does not
        end at ``len(values)``.

    See Also
    --------
    Ragged.from_row_splits, Ragged.from_row_lengths

    Notes
    -----
    The method names follow ``tf.RaggedTensor`` (``row_splits`` is an
    attribute, ``row_lengths()``, ``nrows()`` and ``value_rowids()`` are
    methods), so code written against TF's ragged keys reads the same.

    Examples
    --------
    >>> import numpy as np
    >>> key = Ragged.from_row_lengths(np.array([1, 2, 3]), [1, 2])
    >>> key.row_splits
    array([0, 1, 3])
    >>> key.nrows(), key.value_rowids().tolist(), key.to_list()
    (2, [0, 1, 1], [[1], [2, 3]])
    """

    __slots__ = ("_values", "_row_splits")

    def __init__(self, values, row_splits, validate=True):
        values, row_splits = _host_or_device(values), _host_or_device(row_splits)
        xp = array_module(values=values, row_splits=row_splits)
        values = asarray(values, xp)
        check_array("values", values, min_ndim=1)
        row_splits = _int_array(row_splits, xp)
        if validate:
            _check_splits("row_splits", row_splits, xp, nvalues=values.shape[0])
        self._values = values
        self._row_splits = row_splits

    @classmethod
    def _from_validated(cls, values, row_splits):
        """Wrap arrays the caller has already converted and checked (no second pass)."""
        ragged = cls.__new__(cls)
        ragged._values = values
        ragged._row_splits = row_splits
        return ragged

    @classmethod
    def from_row_splits(cls, values, row_splits, validate=True):
        """Build a ragged batch from flat values and row offsets.

        Parameters
        ----------
        values : (nnz, ...) array_like
            The flat values.
        row_splits : (B + 1,) int32 or int64 array_like
            Row offsets (0, non-decreasing, ending at ``len(values)``).
        validate : bool, default True
            Check ``row_splits``.

        Returns
        -------
        Ragged
            The batch (no copy of numpy/CuPy inputs).

        Examples
        --------
        >>> import numpy as np
        >>> Ragged.from_row_splits(np.arange(4), np.array([0, 3, 3, 4])).to_list()
        [[0, 1, 2], [], [3]]
        """
        return cls(values, row_splits, validate=validate)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, validate=True):
        """Build a ragged batch from flat values and row lengths.

        Parameters
        ----------
        values : (nnz, ...) array_like
            The flat values.
        row_lengths : (B,) int32 or int64 array_like
            Non-negative lengths summing to ``len(values)``; the splits keep
            this dtype.
        validate : bool, default True
            Check ``row_lengths``.

        Returns
        -------
        Ragged
            The batch.

        Raises
        ------
        ValueError
            If a length is negative or they do not sum to ``len(values)``.

        Examples
        --------
        >>> import numpy as np
        >>> Ragged.from_row_lengths(np.arange(3), np.array([1, 0, 2], np.int32)).row_splits
        array([0, 1, 1, 3], dtype=int32)
        """
        values, row_lengths = _host_or_device(values), _host_or_device(row_lengths)
        xp = array_module(values=values, row_lengths=row_lengths)
        values = asarray(values, xp)
        check_array("values", values, min_ndim=1)
        splits = _splits_from_lengths(
            "row_lengths", _int_array(row_lengths, xp), xp, nvalues=values.shape[0] if validate else None
        )
        return cls._from_validated(values, splits)

    @property
    def values(self):
        """The flat ``(nnz, ...)`` values."""
        return self._values

    @property
    def row_splits(self):
        """The ``(B + 1,)`` row offsets."""
        return self._row_splits

    def nrows(self):
        """Return the number of rows ``B``.

        Returns
        -------
        int
            ``len(row_splits) - 1``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np import Ragged
        >>> Ragged.from_row_splits(np.arange(4), np.array([0, 3, 3, 4])).nrows()
        3
        """
        return int(self._row_splits.shape[0]) - 1

    def row_lengths(self):
        """Return the ``(B,)`` row lengths (dtype of ``row_splits``).

        Returns
        -------
        array
            ``row_splits[1:] - row_splits[:-1]``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np import Ragged
        >>> Ragged.from_row_splits(np.arange(4), np.array([0, 3, 3, 4])).row_lengths()
        array([3, 0, 1])
        """
        return self._row_splits[1:] - self._row_splits[:-1]

    def value_rowids(self):
        """Return, for every value, the row it belongs to (dtype of ``row_splits``).

        Returns
        -------
        (nnz,) array
            ``value_rowids()[i] = b`` for ``row_splits[b] <= i < row_splits[b + 1]``.

        Examples
        --------
        Row 1 is empty, so no value belongs to it:

        >>> import numpy as np
        >>> from monolith_np import Ragged
        >>> Ragged.from_row_splits(np.arange(4), np.array([0, 3, 3, 4])).value_rowids()
        array([0, 0, 0, 2])
        """
        xp = array_module(self._row_splits)
        nnz = self._values.shape[0]
        ids = xp.searchsorted(self._row_splits, xp.arange(nnz, dtype=self._row_splits.dtype), side="right") - 1
        return ids.astype(self._row_splits.dtype, copy=False)

    def to_list(self):
        """Return the rows as nested Python lists (copies to the host).

        Returns
        -------
        list of list
            ``[values[s:e].tolist() for each row]``.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np import Ragged
        >>> Ragged.from_row_lengths(np.array([[1, 2], [3, 4], [5, 6]]), [2, 1]).to_list()
        [[[1, 2], [3, 4]], [[5, 6]]]
        """
        from ._backend import to_numpy

        values, splits = to_numpy(self._values), to_numpy(self._row_splits)
        return [values[s:e].tolist() for s, e in zip(splits[:-1], splits[1:])]

    def __repr__(self):
        return f"Ragged(nrows={self.nrows()}, values={self._values!r}, row_splits={self._row_splits!r})"


_DOC_FRAGMENTS = {
    "{partition}": """row_splits : (B + 1,) int32 or int64 array, optional
        Row offsets: 0, non-decreasing, ending at ``nnz`` (the number of ids).
    row_lengths : (B,) int32 or int64 array, optional
        Row lengths: non-negative, summing to ``nnz``. Give exactly one of
        ``row_splits`` and ``row_lengths``.""",
    "{grad_returns}": """Returns
    -------
    (nnz, D) array
        ``d_embeddings``, the gradient with respect to the embeddings (same
        dtype and array module as ``grad``).""",
    "{raises}": """Raises
    ------
    TypeError
        Arrays of the wrong dtype (floats must be float32/float64, splits and
        lengths int32/int64) or on different devices.
    ValueError
        Wrong ranks or shapes, both or neither of ``row_splits`` and
        ``row_lengths``, or invalid splits or lengths.""",
}


def _doc_fragments(fn):
    """Fill the shared numpydoc fragments (the keys of ``_DOC_FRAGMENTS``) of a public docstring."""
    for key, text in _DOC_FRAGMENTS.items():
        fn.__doc__ = fn.__doc__.replace(key, text)
    return fn


# --------------------------------------------------------------------------
# Implementations: validated arguments in, output allocated, one driver run
# --------------------------------------------------------------------------


def _reduce(xp, embeddings, splits, mean):
    """Segment sum or mean of validated ``(nnz, D)`` embeddings into a new ``(B, D)`` array."""
    out = xp.empty((splits.shape[0] - 1, embeddings.shape[1]), dtype=embeddings.dtype)
    if xp is np:
        run_cpu(_reduce_cpu, embeddings.size + out.size, embeddings, splits, int(mean), out)
    else:
        gpu_drivers().ragged.reduce_gpu(embeddings, splits, int(mean), out)
    return out


def _reduce_grad(xp, grad, splits, mean):
    """Gradient of :func:`_reduce` for a validated ``(B, D)`` grad: a new ``(nnz, D)`` array."""
    out = xp.empty((int(splits[-1]), grad.shape[1]), dtype=grad.dtype)  # validated splits start at 0
    if xp is np:
        run_cpu(_reduce_grad_cpu, grad.size + out.size, grad, splits, int(mean), out)
    else:
        gpu_drivers().ragged.reduce_grad_gpu(grad, splits, int(mean), out)
    return out


def _first_n(xp, embeddings, splits, n):
    """First ``n`` (validated, >= 1) embeddings of each row into a new zero-padded ``(B, n, D)`` array."""
    out = xp.empty((splits.shape[0] - 1, n, embeddings.shape[1]), dtype=embeddings.dtype)
    if xp is np:
        run_cpu(_first_n_cpu, out.size, embeddings, splits, out)
    else:
        gpu_drivers().ragged.first_n_gpu(embeddings, splits, out)
    return out


def _first_n_grad(xp, grad, splits):
    """Gradient of :func:`_first_n` for a validated ``(B, n, D)`` grad: a new ``(nnz, D)`` array."""
    out = xp.empty((int(splits[-1]), grad.shape[2]), dtype=grad.dtype)  # validated splits start at 0
    if xp is np:
        run_cpu(_first_n_grad_cpu, out.size, grad, splits, out)
    else:
        gpu_drivers().ragged.first_n_grad_gpu(grad, splits, out)
    return out


# --------------------------------------------------------------------------
# Combiners as functions
# --------------------------------------------------------------------------


@_doc_fragments
def reduce_sum(embeddings, row_splits=None, row_lengths=None):
    """Sum the embeddings of each ragged row (Monolith's ``ReduceSum`` combiner).

    ``out[b] = sum(embeddings[row_splits[b]:row_splits[b + 1]])``, added row by
    row in order in the embeddings' dtype (float32 by default, float64 kept);
    empty rows give zeros.

    Parameters
    ----------
    embeddings : (nnz, D) float32 or float64 array
        One embedding row per id, aligned with the ragged values. Python lists
        become float32.
    {partition}

    Returns
    -------
    (B, D) array
        Same dtype and array module as ``embeddings``.

    {raises}

    See Also
    --------
    reduce_sum_grad, reduce_mean, ReduceSum

    Notes
    -----
    .. math:: \\mathrm{out}_{b,j} = \\sum_{i = s_b}^{s_{b+1} - 1} e_{i,j}

    The sum order equals the original ``MonolithReduceSum`` kernel's
    (sequential in id order), so float32 results match it bit for bit.

    References
    ----------
    Monolith ``embedding_combiners.py`` (``ReduceSum``) and
    ``runtime/ops/reduce_op.cc`` (``ReduceSumOp``).

    Examples
    --------
    >>> import numpy as np
    >>> reduce_sum(np.array([[1.0], [2.0], [3.0]], np.float32), row_lengths=[1, 2])
    array([[1.],
           [5.]], dtype=float32)
    """
    return _reduce(*_forward_args(embeddings, row_splits, row_lengths), False)


@_doc_fragments
def reduce_mean(embeddings, row_splits=None, row_lengths=None):
    """Average the embeddings of each ragged row (Monolith's ``ReduceMean`` combiner).

    ``out[b] = sum_b * fl(1 / count_b)``: the row sum (as in :func:`reduce_sum`)
    times the reciprocal of the row length, computed in double and rounded to
    the output dtype, exactly like the original kernel.

    Parameters
    ----------
    embeddings : (nnz, D) float32 or float64 array
        One embedding row per id.
    {partition}

    Returns
    -------
    (B, D) array
        Same dtype and array module as ``embeddings``. **Empty rows are NaN**
        (``0 * fl(1/0) = 0 * inf``), as in the original and in TF's ragged
        ``tf.reduce_mean`` (``0 / 0``).

    {raises}

    See Also
    --------
    reduce_mean_grad, reduce_sum, ReduceMean

    Notes
    -----
    .. math:: \\mathrm{out}_{b,j} = \\Big(\\sum_{i = s_b}^{s_{b+1} - 1} e_{i,j}\\Big)
              \\cdot \\mathrm{fl}\\big(1 / (s_{b+1} - s_b)\\big)

    Multiplying by the rounded reciprocal can differ from a true division
    (TF's ragged mean) by one ulp.

    References
    ----------
    Monolith ``embedding_combiners.py`` (``ReduceMean``) and
    ``runtime/ops/reduce_op.cc`` (``ReduceMeanOp``).

    Examples
    --------
    >>> import numpy as np
    >>> reduce_mean(np.array([[1.0], [2.0], [4.0]], np.float32), row_splits=[0, 1, 3, 3])
    array([[ 1.],
           [ 3.],
           [nan]], dtype=float32)
    """
    return _reduce(*_forward_args(embeddings, row_splits, row_lengths), True)


@_doc_fragments
def reduce_sum_grad(grad, row_splits=None, row_lengths=None):
    """Gradient of :func:`reduce_sum` with respect to the embeddings.

    Every id row of row ``b`` receives ``grad[b]`` (a gather by row id), like
    the original ``MonolithReduceSumGradient``.

    Parameters
    ----------
    grad : (B, D) float32 or float64 array
        Upstream gradient of the ``(B, D)`` output.
    {partition}

    {grad_returns}

    {raises}

    See Also
    --------
    reduce_sum

    Examples
    --------
    >>> import numpy as np
    >>> reduce_sum_grad(np.array([[1.0], [5.0]], np.float32), row_lengths=[1, 2])
    array([[1.],
           [5.],
           [5.]], dtype=float32)
    """
    return _reduce_grad(*_grad_args(grad, row_splits, row_lengths, 2), False)


@_doc_fragments
def reduce_mean_grad(grad, row_splits=None, row_lengths=None):
    """Gradient of :func:`reduce_mean` with respect to the embeddings.

    Every id row of row ``b`` receives ``grad[b] * fl(1 / count_b)``: the
    *intended* gradient ``grad[b] / count_b``, with the reciprocal rounded the
    same way as the forward.

    Parameters
    ----------
    grad : (B, D) float32 or float64 array
        Upstream gradient of the ``(B, D)`` output.
    {partition}

    Returns
    -------
    (nnz, D) array
        ``d_embeddings``, same dtype and array module as ``grad``. Empty rows
        own no ids, so their (NaN) outputs send no gradient anywhere.

    {raises}

    See Also
    --------
    reduce_mean

    Notes
    -----
    **Difference from the original:** ``MonolithReduceMeanGradient`` sizes its
    per-row counter by the embedding dimension ``D`` instead of the batch size
    ``B`` and so reads and writes out of bounds whenever ``B > D`` (undefined
    behaviour; garbage or a crash). This function computes what that kernel
    intends, which is also what it computes when ``B <= D``.

    Examples
    --------
    >>> import numpy as np
    >>> reduce_mean_grad(np.array([[1.0], [6.0]], np.float32), row_lengths=[1, 2])
    array([[1.],
           [3.],
           [3.]], dtype=float32)
    """
    return _reduce_grad(*_grad_args(grad, row_splits, row_lengths, 2), True)


@_doc_fragments
def first_n(embeddings, n, row_splits=None, row_lengths=None):
    """The first ``n`` embeddings of every ragged row, zero-padded (Monolith's ``FirstN``).

    ``out[b, k] = embeddings[row_splits[b] + k]`` for ``k < min(n, len_b)``,
    zeros otherwise; longer rows are truncated.

    Parameters
    ----------
    embeddings : (nnz, D) float32 or float64 array
        One embedding row per id.
    n : int
        Sequence length kept per row, ``>= 1``.
    {partition}

    Returns
    -------
    (B, n, D) array
        Same dtype and array module as ``embeddings``.

    Raises
    ------
    TypeError
        Non-float embeddings, non-integer ``n``, non-int32/int64 splits or
        lengths, mixed devices.
    ValueError
        ``n < 1``, wrong ranks, both or neither of ``row_splits``/``row_lengths``,
        invalid splits or lengths.

    See Also
    --------
    first_n_grad, FirstN, gen_seq_mask

    Notes
    -----
    The original scatters the ids into a ``[B, max(n, longest row), D]`` zero
    tensor with ``tf.scatter_nd`` and slices the first ``n`` positions; the
    result is the same, without the intermediate tensor.

    References
    ----------
    Monolith ``embedding_combiners.py`` (``FirstN``).

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.arange(1, 7, dtype=np.float32)[:, None]
    >>> first_n(emb, 2, row_lengths=[1, 2, 3])[..., 0]
    array([[1., 0.],
           [2., 3.],
           [4., 5.]], dtype=float32)
    """
    n = check_number("n", n, integer=True, low=1)
    return _first_n(*_forward_args(embeddings, row_splits, row_lengths), n)


@_doc_fragments
def first_n_grad(grad, row_splits=None, row_lengths=None):
    """Gradient of :func:`first_n` with respect to the embeddings.

    Id row ``row_splits[b] + k`` receives ``grad[b, k]`` when ``k < n`` and
    zeros otherwise (ids past the first ``n`` of their row were dropped). This
    is the gradient of the original's ``scatter_nd`` + ``slice``.

    Parameters
    ----------
    grad : (B, n, D) float32 or float64 array
        Upstream gradient of the ``(B, n, D)`` output.
    {partition}

    {grad_returns}

    {raises}

    See Also
    --------
    first_n

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([[[1.0], [9.0]], [[2.0], [3.0]], [[4.0], [5.0]]], np.float32)
    >>> first_n_grad(g, row_lengths=[1, 2, 3])[:, 0]
    array([1., 2., 3., 4., 5., 0.], dtype=float32)
    """
    return _first_n_grad(*_grad_args(grad, row_splits, row_lengths, 3))


def gen_seq_mask(splits, max_seq_length):
    """Sequence mask from row splits (Monolith's ``GenSeqMask`` op).

    ``mask[b, j] = 1`` if ``j < min(splits[b + 1] - splits[b], max_seq_length)``
    else 0.

    Parameters
    ----------
    splits : (B + 1,) int32 or int64 array, or a ragged batch
        Row splits (non-decreasing), or a :class:`Ragged` / ``tf.RaggedTensor``
        whose ``row_splits`` are used.
    max_seq_length : int
        Mask width ``L``, ``>= 0``.

    Returns
    -------
    (B, L) array
        Same dtype (int32 or int64) and array module as the splits.

    Raises
    ------
    TypeError
        Splits not int32/int64, non-integer ``max_seq_length``.
    ValueError
        Empty or decreasing splits, negative ``max_seq_length`` (or above
        ``2**63 - 1``).

    See Also
    --------
    first_n

    Notes
    -----
    Only differences of ``splits`` matter, so (as in the original) the first
    split need not be 0. **Difference from the original:** decreasing splits
    (negative row lengths) are undefined behaviour there (out-of-bounds
    writes); here they raise ``ValueError``.

    References
    ----------
    Monolith ``gen_seq_mask.py`` and ``runtime/ops/gen_seq_mask.cc``.

    Examples
    --------
    >>> import numpy as np
    >>> gen_seq_mask(np.array([0, 5, 7, 9, 13], np.int32), 6)
    array([[1, 1, 1, 1, 1, 0],
           [1, 1, 0, 0, 0, 0],
           [1, 1, 0, 0, 0, 0],
           [1, 1, 1, 1, 0, 0]], dtype=int32)
    """
    if hasattr(splits, "row_splits"):
        splits = _key_parts(splits, "splits")[1]
    max_seq_length = check_number("max_seq_length", max_seq_length, integer=True, low=0, high=_INT64_MAX)
    splits = _host_or_device(splits)
    xp = array_module(splits=splits)
    splits = _check_splits("splits", _int_array(splits, xp), xp, zero_start=False)
    out = xp.empty((splits.shape[0] - 1, max_seq_length), dtype=splits.dtype)
    if xp is np:
        run_cpu(_seq_mask_cpu, out.size, splits, out)
    else:
        gpu_drivers().ragged.seq_mask_gpu(splits, out)
    return out


# --------------------------------------------------------------------------
# Combiner classes (the original's names)
# --------------------------------------------------------------------------


class Combiner(abc.ABC):
    """Base of the embedding combiners: turns ragged ids' embeddings into a dense tensor.

    :meth:`combine` and :meth:`combine_grad` unpack the ragged ``key`` and
    validate the arrays once; subclasses implement ``_combine(xp, embedding,
    splits)`` and ``_combine_grad(xp, grad, splits)`` over those validated
    arrays, with ``_grad_ndim`` the rank of the upstream gradient.

    Parameters
    ----------
    max_seq_length : int
        Sequence length of the output (0 for pooling combiners).

    See Also
    --------
    ReduceSum, ReduceMean, FirstN

    References
    ----------
    Monolith ``embedding_combiners.py`` (``Combiner``).

    Examples
    --------
    The concrete combiners share this interface:

    >>> import numpy as np
    >>> from monolith_np import Combiner, FirstN, Ragged, ReduceSum
    >>> combiners = [ReduceSum(), FirstN(2)]
    >>> all(isinstance(c, Combiner) for c in combiners)
    True
    >>> key = Ragged.from_row_lengths(np.array([7, 8, 9]), [1, 2])
    >>> emb = np.array([[1.0], [2.0], [3.0]], np.float32)
    >>> [(c.max_seq_length, c.combine(key, emb).shape) for c in combiners]
    [(0, (2, 1)), (2, (2, 2, 1))]
    """

    _grad_ndim = 2

    def __init__(self, max_seq_length):
        self._max_seq_length = max_seq_length

    @property
    def max_seq_length(self):
        """The output sequence length (0 for pooling combiners)."""
        return self._max_seq_length

    def combine(self, key, embedding, name=None):
        """Combine ``embedding`` rows grouped by the ragged ``key``.

        Parameters
        ----------
        key : Ragged or (values, row_splits) pair or tf.RaggedTensor
            The ragged ids; only its row partition is used.
        embedding : (nnz, D) float32 or float64 array
            One row per id of ``key`` (Python lists become float32).
        name : str, optional
            Ignored (kept for signature compatibility with the original).

        Returns
        -------
        array
            ``(B, D)`` for :class:`ReduceSum`/:class:`ReduceMean`,
            ``(B, max_seq_length, D)`` for :class:`FirstN`.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np import Ragged, ReduceMean
        >>> key = Ragged.from_row_lengths(np.array([7, 8, 9]), [1, 2])
        >>> ReduceMean().combine(key, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 8.0]], np.float32))
        array([[1., 2.],
               [4., 6.]], dtype=float32)
        """
        row_splits = _host_or_device(_key_parts(key, "key")[1])
        return self._combine(*_forward_args(_host_or_device(embedding), row_splits, None))

    def combine_grad(self, key, grad):
        """Gradient of :meth:`combine` with respect to ``embedding``.

        Parameters
        ----------
        key : Ragged or (values, row_splits) pair or tf.RaggedTensor
            The ragged ids given to :meth:`combine`.
        grad : array
            Upstream gradient, shaped like :meth:`combine`'s output.

        Returns
        -------
        (nnz, D) array
            The embedding gradient.

        Examples
        --------
        Mean pooling spreads each row's gradient evenly over its ids:

        >>> import numpy as np
        >>> from monolith_np import Ragged, ReduceMean
        >>> key = Ragged.from_row_lengths(np.array([7, 8, 9]), [1, 2])
        >>> ReduceMean().combine_grad(key, np.array([[1.0], [4.0]], np.float32)).ravel()
        array([1., 2., 2.], dtype=float32)
        """
        row_splits = _host_or_device(_key_parts(key, "key")[1])
        return self._combine_grad(*_grad_args(grad, row_splits, None, self._grad_ndim))

    @abc.abstractmethod
    def _combine(self, xp, embedding, splits):
        """The forward on validated arrays."""

    @abc.abstractmethod
    def _combine_grad(self, xp, grad, splits):
        """The gradient on validated arrays."""

    def __repr__(self):
        return f"{type(self).__name__}(max_seq_length={self._max_seq_length})"


class _Pooling(Combiner):
    """Sum (``_mean = False``) or mean (``_mean = True``) pooling; ``max_seq_length`` is 0."""

    _mean = False

    def __init__(self):
        super().__init__(0)

    def _combine(self, xp, embedding, splits):
        return _reduce(xp, embedding, splits, self._mean)

    def _combine_grad(self, xp, grad, splits):
        return _reduce_grad(xp, grad, splits, self._mean)


class ReduceSum(_Pooling):
    """Sum pooling: ``(B, D)`` sums of each row's embeddings (:func:`reduce_sum`).

    :meth:`~Combiner.combine_grad` is :func:`reduce_sum_grad`.

    See Also
    --------
    reduce_sum, reduce_sum_grad

    Examples
    --------
    >>> import numpy as np
    >>> key = Ragged.from_row_lengths(np.array([1, 2, 3]), [1, 2])
    >>> ReduceSum().combine(key, [[1.0], [2.0], [3.0]])
    array([[1.],
           [5.]], dtype=float32)
    """

    _mean = False


class ReduceMean(_Pooling):
    """Mean pooling: ``(B, D)`` means of each row's embeddings (:func:`reduce_mean`).

    Empty rows give NaN, as in the original. :meth:`~Combiner.combine_grad` is
    :func:`reduce_mean_grad`.

    See Also
    --------
    reduce_mean, reduce_mean_grad

    Examples
    --------
    >>> import numpy as np
    >>> ReduceMean().combine((np.array([7, 8, 9]), np.array([0, 1, 3])), [[1.0], [2.0], [3.0]]).ravel()
    array([1. , 2.5], dtype=float32)
    """

    _mean = True


class FirstN(Combiner):
    """Sequence combiner: the first ``seq_length`` embeddings of each row, zero-padded.

    ``combine`` returns ``(B, seq_length, D)`` (:func:`first_n`);
    :meth:`~Combiner.combine_grad` is :func:`first_n_grad`.

    Parameters
    ----------
    seq_length : int
        Output sequence length, ``>= 1`` (the original asserts ``> 0``; this
        raises ``ValueError``).

    Raises
    ------
    TypeError
        If ``seq_length`` is not an integer.
    ValueError
        If ``seq_length < 1``.

    See Also
    --------
    first_n, first_n_grad, gen_seq_mask

    Examples
    --------
    >>> import numpy as np
    >>> key = Ragged.from_row_lengths(np.arange(1, 7), [1, 2, 3])
    >>> emb = np.arange(1, 7, dtype=np.float32)[:, None]
    >>> FirstN(2).combine(key, emb).tolist()
    [[[1.0], [0.0]], [[2.0], [3.0]], [[4.0], [5.0]]]
    """

    _grad_ndim = 3

    def __init__(self, seq_length):
        super().__init__(check_number("seq_length", seq_length, integer=True, low=1))

    def _combine(self, xp, embedding, splits):
        return _first_n(xp, embedding, splits, self.max_seq_length)

    def _combine_grad(self, xp, grad, splits):
        return _first_n_grad(xp, grad, splits)


# --------------------------------------------------------------------------
# layers/utils.py: merge_tensor_list and shape helpers (vectorised xp code)
# --------------------------------------------------------------------------


class MergeType:
    """How :func:`merge_tensor_list` merges: ``CONCAT='concat'``, ``STACK='stack'``, ``NONE=None``.

    References
    ----------
    Monolith ``layers/utils.py`` (``MergeType``).

    Examples
    --------
    >>> import numpy as np
    >>> from monolith_np import MergeType, merge_tensor_list
    >>> parts = [np.ones((2, 3)), np.zeros((2, 3))]
    >>> merge_tensor_list(parts, merge_type=MergeType.CONCAT).shape
    (2, 6)
    >>> merge_tensor_list(parts, merge_type=MergeType.STACK).shape
    (2, 2, 3)
    """

    CONCAT = "concat"
    STACK = "stack"
    NONE = None


class DCNType:
    """Deep & Cross Network variants: ``Vector='vector'``, ``Matrix='matrix'``, ``Mixed='mixed'``.

    References
    ----------
    Monolith ``layers/utils.py`` (``DCNType``).

    Examples
    --------
    >>> from monolith_np import DCNType
    >>> DCNType.Matrix, DCNType.Mixed == "mixed"
    ('matrix', True)
    """

    Vector = "vector"
    Matrix = "matrix"
    Mixed = "mixed"


def check_dim(dim):
    """Normalise a static dimension: ``None`` → -1, an integer → itself.

    Parameters
    ----------
    dim : int or None or Dimension-like
        A static size; an object with a ``value`` attribute (TF1's
        ``Dimension``) is unwrapped.

    Returns
    -------
    int
        The size, -1 when unknown.

    Raises
    ------
    TypeError
        For anything else (the original raises a bare ``Exception``).

    Examples
    --------
    >>> check_dim(None), check_dim(4)
    (-1, 4)
    """
    if dim is None:
        return -1
    if isinstance(dim, numbers.Integral) and not isinstance(dim, bool):
        return int(dim)
    if hasattr(dim, "value") and not isinstance(dim, np.ndarray):
        return check_dim(dim.value)
    raise TypeError(f"dim must be None or an integer, got {type(dim).__name__} {dim!r}")


def dim_size(inputs, axis):
    """Return the static size of axis ``axis`` of ``inputs``.

    Parameters
    ----------
    inputs : array
        Any object with a ``shape``.
    axis : int
        The axis, ``-ndim <= axis < ndim``.

    Returns
    -------
    int
        ``inputs.shape[axis]`` (-1 if that size is unknown).

    Raises
    ------
    TypeError
        If ``inputs`` has no shape or ``axis`` is not an integer.
    ValueError
        If ``axis`` is out of range (the original asserts).

    Notes
    -----
    Arrays always have static shapes, so the original's fallback to a dynamic
    ``tf.shape`` never applies.

    Examples
    --------
    >>> import numpy as np
    >>> dim_size(np.zeros((2, 3)), 1)
    3
    """
    if not hasattr(inputs, "shape"):
        raise TypeError(f"inputs must be an array, got {type(inputs).__name__}")
    shape = tuple(inputs.shape)
    axis = check_number("axis", axis, integer=True)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis must be in [{-len(shape)}, {len(shape)}) for shape {shape}, got {axis}")
    return check_dim(shape[axis])


def _unstack(x, axis, xp):
    ndim = x.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must be in [{-ndim}, {ndim}) for shape {tuple(x.shape)}, got {axis}")
    return list(xp.moveaxis(x, axis, 0))


def merge_tensor_list(tensor_list, merge_type="concat", num_feature=None, axis=1, keep_list=False):
    """Merge a list of feature tensors by stacking, concatenating or not at all.

    Every branch of Monolith's ``layers/utils.merge_tensor_list``, over numpy or
    CuPy arrays:

    - one rank-3 array ``[B, N, E]``: ``'stack'`` → unchanged; ``'concat'`` →
      reshape ``[B, N*E]``; ``None`` → unstack along ``axis`` (a list);
    - one rank-2 array ``[B, E]`` with ``num_feature > 1``: ``'stack'`` → reshape
      ``[B, num_feature, E // num_feature]``; ``'concat'`` → unchanged; ``None`` →
      that reshape, then unstack along ``axis``;
    - one rank-2 array otherwise: unchanged; any other rank: error;
    - several arrays: ``'stack'`` → stack along ``axis``; ``'concat'`` →
      concatenate along ``axis``; ``None`` → the list itself.

    With ``keep_list`` a single-array result is wrapped in a one-element list
    (unstacked results and the ``None`` list are lists already).

    Parameters
    ----------
    tensor_list : array or list of arrays
        One array or several (numpy or CuPy, all on one device).
    merge_type : {'concat', 'stack', None}, default 'concat'
        The values of :class:`MergeType`.
    num_feature : int, optional
        Number of features packed in a rank-2 input's last axis.
    axis : int, default 1
        Axis to stack, concatenate or unstack along.
    keep_list : bool, default False
        Return a one-element list instead of an array.

    Returns
    -------
    array or list of arrays
        Unchanged inputs are returned as the same objects; reshapes and
        unstacked pieces are views where numpy/CuPy allow.

    Raises
    ------
    ValueError
        Unknown ``merge_type`` (the original asserts), a single input of rank
        other than 2 or 3, a rank-2 width not divisible by ``num_feature``
        (the original's reshape fails), an empty list to stack or concatenate,
        or an out-of-range ``axis``.
    TypeError
        Arrays on different devices, or ``tensor_list`` neither an array nor
        a list.

    Notes
    -----
    **Difference from the original:** the original replaces
    ``tensor_list[0]`` in the caller's list when it reshapes; this function
    never mutates its argument and returns a new list where the original
    returned the (mutated) input list.

    References
    ----------
    Monolith ``layers/utils.py`` (``merge_tensor_list``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(12.0).reshape(2, 3, 2)
    >>> merge_tensor_list(x).shape
    (2, 6)
    >>> [t.shape for t in merge_tensor_list(x, merge_type=None)]
    [(2, 2), (2, 2), (2, 2)]
    >>> merge_tensor_list([np.ones((2, 4)), np.ones((2, 4))], merge_type='stack').shape
    (2, 2, 4)
    """
    check_choice("merge_type", merge_type, ("stack", "concat", None))
    if not hasattr(tensor_list, "shape") and not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"tensor_list must be an array or a list of arrays, got {type(tensor_list).__name__}")
    items = [tensor_list] if hasattr(tensor_list, "shape") else list(tensor_list)
    items = [_host_or_device(t) for t in items]
    xp = array_module(**{f"tensor_list[{i}]": t for i, t in enumerate(items)})
    items = [asarray(t, xp) for t in items]
    num_feature = check_number("num_feature", num_feature, integer=True, allow_none=True)
    axis = check_number("axis", axis, integer=True)

    def wrap(x):
        return [x] if keep_list else x

    if len(items) == 1:
        (x,) = items
        if x.ndim == 3:
            batch, num_feat, emb = x.shape
            if merge_type == MergeType.STACK:
                return wrap(x)
            if merge_type == MergeType.CONCAT:
                return wrap(x.reshape(batch, num_feat * emb))
            return _unstack(x, axis, xp)
        if x.ndim == 2 and num_feature is not None and num_feature > 1:
            if merge_type == MergeType.CONCAT:
                return wrap(x)
            batch, width = x.shape
            if width % num_feature:
                raise ValueError(
                    f"tensor_list[0] must have a last dimension divisible by num_feature = {num_feature}, "
                    f"got shape {tuple(x.shape)}"
                )
            x = x.reshape(batch, num_feature, width // num_feature)
            return wrap(x) if merge_type == MergeType.STACK else _unstack(x, axis, xp)
        if x.ndim == 2:
            return wrap(x)
        raise ValueError(f"tensor_list[0] must be 2-D or 3-D when it is the only tensor, got shape {tuple(x.shape)}")
    if merge_type is None:
        return items
    if not items:
        raise ValueError(f"tensor_list must be non-empty to {merge_type}, got []")
    merged = xp.stack(items, axis=axis) if merge_type == MergeType.STACK else xp.concatenate(items, axis=axis)
    return wrap(merged)
