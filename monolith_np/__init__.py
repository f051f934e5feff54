"""monolith_np: Monolith's recommender-training math over plain arrays."""

from ._backend import array_module, is_cuda_array

__version__ = "0.1.0"

__all__ = ["array_module", "is_cuda_array", "__version__"]
