"""Bad inputs to the ragged combiners, sequence masks and tensor-list merging (see ``bad_input_harness``)."""

import numpy as np
import pytest
from bad_input_harness import ERROR, Arg, Target, bad_int, cases, run_case

from monolith_np import ragged as R

_EMB = np.arange(12, dtype=np.float32).reshape(6, 2)
_LENGTHS = np.array([1, 0, 3, 2], np.int64)
_SPLITS = np.array([0, 1, 1, 4, 6], np.int32)
_GRAD2 = np.arange(8, dtype=np.float32).reshape(4, 2)
_GRAD3 = np.arange(16, dtype=np.float32).reshape(4, 2, 2)
_SPLITS_ARG = dict(embeddings=Arg("f", ndim=(2,), group="b", also=("row_splits", "row_lengths")),
                   row_splits=Arg("iu", ndim=(1,), group="b"))
_LENGTHS_ARG = dict(embeddings=Arg("f", ndim=(2,), group="b", also=("row_lengths",)),
                    row_lengths=Arg("iu", ndim=(1,), group="b"))


def _grad_args(ndim):
    return dict(grad=Arg("f", ndim=(ndim,), group="b", also=("row_lengths",)),
                row_lengths=Arg("iu", ndim=(1,), group="b"))


def _keyed(combiner, method):
    """``combiner.<method>((ids, row_splits), ...)``: the key's splits as an argument (its ids are not read)."""
    return lambda row_splits, **kw: getattr(combiner, method)((np.arange(6), row_splits), **kw)


TARGETS = [
    *[Target(f"{f.__name__}-splits", f, lambda: dict(embeddings=_EMB.copy(), row_splits=_SPLITS.copy()), _SPLITS_ARG)
      for f in (R.reduce_sum, R.reduce_mean)],
    *[Target(f"{f.__name__}-lengths", f, lambda: dict(embeddings=_EMB.copy(), row_lengths=_LENGTHS.copy()),
             _LENGTHS_ARG) for f in (R.reduce_sum, R.reduce_mean)],
    *[Target(f.__name__, f, lambda: dict(grad=_GRAD2.copy(), row_lengths=_LENGTHS.copy()), _grad_args(2))
      for f in (R.reduce_sum_grad, R.reduce_mean_grad)],
    Target("first_n", R.first_n, lambda: dict(embeddings=_EMB.copy(), n=2, row_lengths=_LENGTHS.copy()),
           _LENGTHS_ARG, dict(n=bad_int(1) + [(None, ERROR)])),
    Target("first_n_grad", R.first_n_grad, lambda: dict(grad=_GRAD3.copy(), row_lengths=_LENGTHS.copy()),
           _grad_args(3)),
    Target("gen_seq_mask", R.gen_seq_mask, lambda: dict(splits=_SPLITS.copy(), max_seq_length=3),
           dict(splits=Arg("iu", ndim=(1,))), dict(max_seq_length=bad_int(0) + [(None, ERROR)])),
    Target("Ragged.from_row_splits", R.Ragged.from_row_splits,
           lambda: dict(values=np.arange(6), row_splits=_SPLITS.copy()),
           dict(values=Arg("fiubcOU", group="b", also=("row_splits",)), row_splits=Arg("iu", ndim=(1,), group="b"))),
    Target("Ragged.from_row_lengths", R.Ragged.from_row_lengths,
           lambda: dict(values=np.arange(6), row_lengths=_LENGTHS.copy()),
           dict(values=Arg("fiubcOU", group="b", also=("row_lengths",)), row_lengths=Arg("iu", ndim=(1,),
                                                                                        group="b"))),
    Target("ReduceSum.combine", _keyed(R.ReduceSum(), "combine"),
           lambda: dict(row_splits=_SPLITS.copy(), embedding=_EMB.copy()),
           dict(row_splits=Arg("iu", ndim=(1,), group="b"),
                embedding=Arg("f", ndim=(2,), group="b", also=("row_splits",)))),
    Target("FirstN.combine_grad", _keyed(R.FirstN(2), "combine_grad"),
           lambda: dict(row_splits=_SPLITS.copy(), grad=_GRAD3.copy()),
           dict(row_splits=Arg("iu", ndim=(1,), group="b"),
                grad=Arg("f", ndim=(3,), group="b", also=("row_splits",)))),
    Target("FirstN", R.FirstN, lambda: dict(seq_length=2), {}, dict(seq_length=bad_int(1) + [(None, ERROR)])),
    Target("merge_tensor_list", R.merge_tensor_list,
           lambda: dict(tensor_list=_GRAD3.copy(), merge_type="concat", axis=1),
           dict(tensor_list=Arg("fiubcOU", ndim=(2, 3))),
           dict(merge_type=[("sum", ERROR), (1, ERROR)], axis=[(1.5, ERROR), ("1", ERROR)],
                num_feature=[(1.5, ERROR), ("2", ERROR)])),
    Target("merge_tensor_list-unstack", R.merge_tensor_list,
           lambda: dict(tensor_list=_GRAD3.copy(), merge_type=None, axis=1),
           dict(tensor_list=Arg("fiubcOU", ndim=(2, 3))), dict(axis=[(3, ERROR), (-4, ERROR), (2**70, ERROR)])),
    Target("dim_size", R.dim_size, lambda: dict(inputs=_GRAD3.copy(), axis=1),
           dict(inputs=Arg("fiubcOU", also=("axis",))),
           dict(axis=[(3, ERROR), (-4, ERROR), (1.5, ERROR), (None, ERROR), (2**70, ERROR)])),
    Target("check_dim", R.check_dim, lambda: dict(dim=4), {}, dict(dim=[(1.5, ERROR), ("4", ERROR), (True, ERROR)])),
]

CASES = cases(TARGETS)


@pytest.mark.parametrize("target, name, change, want", CASES)
def test_bad_input(target, name, change, want):
    run_case(target, name, change, want)
