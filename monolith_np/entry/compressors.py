"""Float compressors (Monolith's ``entry.py`` names) that also encode and decode.

Each keeps the original's constructor and ``as_proto()`` bytes;
:meth:`Compressor.encode` / :meth:`Compressor.decode` run the rules of
:mod:`monolith_np._rules.entry` on the CPU or the GPU.
"""

from __future__ import annotations

import abc

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._dispatch import gpu_drivers
from ..proto import FloatCompressorConfig
from . import _cpu
from ._common import _INT64_MAX, _elementwise, _fill, _finite, _float_input
from .quantizers import FakeQuantizer, HashNetQuantizer

__all__ = [
    "Compressor",
    "Fp32Compressor",
    "Fp16Compressor",
    "FixedR8Compressor",
    "OneBitCompressor",
    "compressor_from_config",
]


class Compressor(abc.ABC):
    """Base class of float compressors: a proto config that can also encode and decode.

    Compressors are what SERVING entries store; all work
    element-wise on float32 arrays of any shape, numpy or CUDA.

    Examples
    --------
    Every compressor round-trips values it can represent; they differ in
    the bytes they store per value:

    >>> import numpy as np
    >>> from monolith_np.entry import Fp16Compressor, FixedR8Compressor, OneBitCompressor
    >>> x = np.float32([0.5, -0.25, 0.0])
    >>> for c in (Fp16Compressor(), FixedR8Compressor(1.0), OneBitCompressor(amplitude=0.5)):
    ...     print(type(c).__name__, c.bytes_per_value, c.decode(c.encode(x)))
    Fp16Compressor 2 [ 0.5  -0.25  0.  ]
    FixedR8Compressor 1 [ 0.5  -0.25  0.  ]
    OneBitCompressor 1 [ 0.5 -0.5 -0.5]
    """

    #: Bytes per encoded value.
    bytes_per_value = 4

    #: The ``FloatCompressorConfig`` oneof member of this compressor.
    _proto_kind = ""

    def _proto_fields(self):
        """The member's fields, by name (None: left unset)."""
        return {}

    def as_proto(self) -> FloatCompressorConfig:
        """Return the ``FloatCompressorConfig`` the original's ``as_proto`` builds.

        Returns
        -------
        FloatCompressorConfig
            A fresh message (``dim_size`` unset; see :func:`with_dim_sizes`).

        Examples
        --------
        >>> from monolith_np.entry import FixedR8Compressor
        >>> config = FixedR8Compressor(2.0).as_proto()
        >>> config.WhichOneof("type"), config.fixed_r8.r
        ('fixed_r8', 2.0)
        """
        comp = FloatCompressorConfig()
        _fill(getattr(comp, self._proto_kind), **self._proto_fields())
        return comp

    @abc.abstractmethod
    def encode(self, x):
        """Encode float32 values.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        array
            The codes, same shape and device.

        Examples
        --------
        The codes' type depends on the compressor:

        >>> import numpy as np
        >>> from monolith_np.entry import Fp16Compressor, FixedR8Compressor
        >>> x = np.float32([[0.5, -1.0], [0.25, 2.0]])
        >>> Fp16Compressor().encode(x).dtype
        dtype('float16')
        >>> FixedR8Compressor(1.0).encode(x)
        array([[  64, -128],
               [  32,  127]], dtype=int8)
        """

    @abc.abstractmethod
    def decode(self, codes):
        """Decode codes back to float32.

        Parameters
        ----------
        codes : array
            Codes as returned by :meth:`encode` (any shape).

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import FixedR8Compressor
        >>> c = FixedR8Compressor(1.0)
        >>> c.decode(c.encode(np.float32([0.5, -1.0, 2.0])))
        array([ 0.5      , -1.       ,  0.9921875], dtype=float32)
        """

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Fp32Compressor(Compressor):
    """No compression: values are stored as float32 (``FloatCompressorConfig.fp32``).

    Examples
    --------
    >>> Fp32Compressor().decode(Fp32Compressor().encode(np.float32([0.1, 1e4])))
    array([1.e-01, 1.e+04], dtype=float32)
    """

    bytes_per_value = 4

    _proto_kind = "fp32"

    def encode(self, x):
        """Copy float32 values.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            A copy.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import Fp32Compressor
        >>> x = np.float32([0.1, -3.0])
        >>> codes = Fp32Compressor().encode(x)
        >>> codes, codes is x
        (array([ 0.1, -3. ], dtype=float32), False)
        """
        xp, x = _float_input("x", x)
        return x.copy()

    def decode(self, codes):
        """Copy float32 codes.

        Parameters
        ----------
        codes : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            A copy.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import Fp32Compressor
        >>> Fp32Compressor().decode(np.float32([0.1, -3.0]))
        array([ 0.1, -3. ], dtype=float32)
        """
        xp, codes = _float_input("codes", codes)
        return codes.copy()


class Fp16Compressor(Compressor):
    """Store values as IEEE half precision (``FloatCompressorConfig.fp16``).

    Notes
    -----
    Encoding rounds to nearest, ties to even, like half 2.1.0 (which the
    original uses, without F16C): ``|x| >= 65520`` becomes infinity, values
    below ``2**-25`` in magnitude a signed zero, subnormals are kept, NaN stays
    NaN with its quiet bit set and its top 10 payload bits kept. This is
    bit-identical to ``x.astype(numpy.float16)`` (and torch's ``.half()``)
    except for signaling-NaN payloads, which numpy keeps signaling. Decoding is
    exact. The codes are returned as a ``float16`` array whose bits are the
    original's stored 16-bit patterns (``.view(numpy.int16)``).

    Examples
    --------
    >>> c = Fp16Compressor()
    >>> c.decode(c.encode(np.float32([0.5, 65519.0, 65520.0]))).tolist()
    [0.5, 65504.0, inf]
    """

    bytes_per_value = 2

    _proto_kind = "fp16"

    def encode(self, x):
        """Round float32 values to half precision.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float16 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import Fp16Compressor
        >>> codes = Fp16Compressor().encode(np.float32([1.0, -2.0, 0.1]))
        >>> codes
        array([ 1. , -2. ,  0.1], dtype=float16)
        >>> codes.view(np.uint16)  # the stored 16-bit patterns
        array([15360, 49152, 11878], dtype=uint16)
        """
        xp, x = _float_input("x", x)
        driver = _cpu.fp16_encode_cpu if xp is np else gpu_drivers().entry.fp16_encode_gpu
        return _elementwise(xp, x, np.uint16, driver, view_in=np.uint32).view(np.float16)

    def decode(self, codes):
        """Widen half-precision codes to float32 (exact).

        Parameters
        ----------
        codes : float16, int16 or uint16 array
            Half-precision values or their bit patterns; any shape, numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        Half-precision values and their raw bit patterns decode alike:

        >>> import numpy as np
        >>> from monolith_np.entry import Fp16Compressor
        >>> c = Fp16Compressor()
        >>> c.decode(np.float16([0.1, -2.0]))
        array([ 0.09997559, -2.        ], dtype=float32)
        >>> c.decode(np.uint16([0x3C00, 0xC000]))
        array([ 1., -2.], dtype=float32)
        """
        xp = array_module(codes=codes)
        codes = asarray(codes, xp)
        check_array("codes", codes, dtypes=(np.float16, np.int16, np.uint16))
        driver = _cpu.fp16_decode_cpu if xp is np else gpu_drivers().entry.fp16_decode_gpu
        return _elementwise(xp, codes, np.float32, driver, view_in=np.uint16, view_out=np.uint32)


class FixedR8Compressor(Compressor):
    """Store values as int8 levels of a fixed range (``FloatCompressorConfig.fixed_r8``).

    Parameters
    ----------
    fixed_range : float or None, default 1.0
        The range ``r > 0`` (proto field ``r``); ``None`` leaves the field unset,
        which means 1.0. See :class:`FakeQuantizer` for the rounding rule.

    Raises
    ------
    ValueError
        If ``fixed_range`` is not a finite number ``> 0``.

    Examples
    --------
    >>> c = FixedR8Compressor(5.0)
    >>> c.encode(np.float32([100.0, 0.0, 3.5]))
    array([127,   0,  90], dtype=int8)
    >>> c.decode(c.encode(np.float32([100.0, 0.0, 3.5])))
    array([4.9609375, 0.       , 3.515625 ], dtype=float32)
    """

    bytes_per_value = 1

    def __init__(self, fixed_range=1.0):
        r = check_number("fixed_range", fixed_range, low=0.0, low_open=True, finite=True, allow_none=True)
        self.r = fixed_range
        self._quantizer = FakeQuantizer(1.0 if r is None else r)

    @property
    def quantizer(self) -> FakeQuantizer:
        """The :class:`FakeQuantizer` doing the work."""
        return self._quantizer

    _proto_kind = "fixed_r8"

    def _proto_fields(self):
        return {"r": self.r}

    def encode(self, x):
        """Quantise float32 values to int8 levels (:meth:`FakeQuantizer.quantize_to_integer`).

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        int8 array
            Same shape and device.

        Examples
        --------
        With range 1 the levels are multiples of ``1/128``; values outside the range saturate:

        >>> import numpy as np
        >>> from monolith_np.entry import FixedR8Compressor
        >>> FixedR8Compressor(1.0).encode(np.float32([0.5, -0.25, 3.0, -3.0]))
        array([  64,  -32,  127, -128], dtype=int8)
        """
        return self._quantizer.quantize_to_integer(x)

    def decode(self, codes):
        """Levels back to float32 (:meth:`FakeQuantizer.integer_to_float`).

        Parameters
        ----------
        codes : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import FixedR8Compressor
        >>> FixedR8Compressor(1.0).decode(np.int8([64, -32, 127, -128]))
        array([ 0.5      , -0.25     ,  0.9921875, -1.       ], dtype=float32)
        """
        xp = array_module(codes=codes)
        return self._quantizer.integer_to_float(check_array("codes", asarray(codes, xp), dtypes=(np.int8,)))


class OneBitCompressor(Compressor):
    """Store the sign of HashNet's output as ``+1``/``-1`` (``FloatCompressorConfig.one_bit``).

    Parameters
    ----------
    step_size : int, default 200
        The HashNet scale schedule's step size (always written to the proto), ``>= 1``.
    amplitude : float or None, default 0.05
        Decoded magnitude. Note that the proto's own default is 0.1;
        ``None`` leaves the field unset, which means 0.1.

    Raises
    ------
    ValueError
        If ``step_size < 1`` or ``amplitude`` is not finite.

    Notes
    -----
    Encoding gives ``+1`` where ``amplitude * tanh(init_scale * x) > 0`` in
    float32, else ``-1`` (so 0 and -0 give -1); the compressor's quantizer
    never sees a backward pass, so its scale stays ``init_scale`` (1.0).
    Decoding gives ``q * amplitude``. One int8 per value, as the original
    ("for testing stage").

    Examples
    --------
    >>> c = OneBitCompressor(step_size=5, amplitude=1.0)
    >>> c.encode(np.float32([100.0, 1e-5, 0.0, -1e-5]))
    array([ 1,  1, -1, -1], dtype=int8)
    """

    bytes_per_value = 1

    def __init__(self, step_size: int = 200, amplitude: float = 0.05):
        super().__init__()
        self.step_size = check_number("step_size", step_size, integer=True, low=1, high=_INT64_MAX)
        self.amplitude = _finite("amplitude", amplitude, allow_none=True)
        amp = 0.1 if self.amplitude is None else self.amplitude
        self._quantizer = HashNetQuantizer(step_size=self.step_size, amplitude=amp)

    @property
    def quantizer(self) -> HashNetQuantizer:
        """A fresh :class:`HashNetQuantizer` with this compressor's settings (what the HashNet retriever uses)."""
        return HashNetQuantizer.from_config(self.as_proto().one_bit)

    _proto_kind = "one_bit"

    def _proto_fields(self):
        return {"step_size": self.step_size, "amplitude": self.amplitude}

    def encode(self, x):
        """Encode float32 values as ``+1``/``-1``.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        int8 array
            Same shape and device.

        Examples
        --------
        Only the sign survives (zero encodes as ``-1``):

        >>> import numpy as np
        >>> from monolith_np.entry import OneBitCompressor
        >>> OneBitCompressor().encode(np.float32([[0.3, -0.7], [0.0, 2.0]]))
        array([[ 1, -1],
               [-1,  1]], dtype=int8)
        """
        xp, x = _float_input("x", x)
        q = self._quantizer
        driver = _cpu.one_bit_encode_cpu if xp is np else gpu_drivers().entry.one_bit_encode_gpu
        return _elementwise(xp, x, np.int8, driver, q.amplitude, q.init_scale)

    def decode(self, codes):
        """``codes * amplitude`` as float32.

        Parameters
        ----------
        codes : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import OneBitCompressor
        >>> OneBitCompressor(amplitude=0.5).decode(np.int8([1, -1, 1]))
        array([ 0.5, -0.5,  0.5], dtype=float32)
        """
        xp = array_module(codes=codes)
        codes = asarray(codes, xp)
        check_array("codes", codes, dtypes=(np.int8,))
        driver = _cpu.one_bit_decode_cpu if xp is np else gpu_drivers().entry.one_bit_decode_gpu
        return _elementwise(xp, codes, np.float32, driver, self._quantizer.amplitude)


def compressor_from_config(config):
    """Build the runnable compressor of a ``FloatCompressorConfig`` (the C++ factory's job).

    Parameters
    ----------
    config : FloatCompressorConfig
        A message with one of ``fp32``, ``fp16``, ``fixed_r8``, ``one_bit`` set.

    Returns
    -------
    Compressor
        The compressor. For ``one_bit``, ``init_scale``/``max_scale`` are read
        by :class:`HashNetQuantizer` (``OneBitCompressor.quantizer``) only.

    Raises
    ------
    TypeError
        If ``config`` is not a ``FloatCompressorConfig``.
    ValueError
        If no compressor is set (the original: "Unknown tpye of float compressor").

    Examples
    --------
    >>> from monolith_np.entry import compressor_from_config
    >>> from monolith_np.proto import FloatCompressorConfig
    >>> config = FloatCompressorConfig()
    >>> config.fixed_r8.r = 2.0
    >>> c = compressor_from_config(config)
    >>> c
    FixedR8Compressor(r=2.0)
    >>> c.as_proto() == config
    True
    """
    if not isinstance(config, FloatCompressorConfig):
        raise TypeError(f"config must be a FloatCompressorConfig, got {type(config).__name__}")
    kind = config.WhichOneof("type")
    if kind == "fp32":
        return Fp32Compressor()
    if kind == "fp16":
        return Fp16Compressor()
    if kind == "fixed_r8":
        return FixedR8Compressor(config.fixed_r8.r if config.fixed_r8.HasField("r") else None)
    if kind == "one_bit":
        c = config.one_bit
        return OneBitCompressor(c.step_size, c.amplitude if c.HasField("amplitude") else None)
    raise ValueError(f"config must set one of fp32, fp16, fixed_r8, one_bit, got {config!r}")
