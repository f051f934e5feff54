"""The quantizers behind fixed_r8 and one_bit: :class:`FakeQuantizer` and :class:`HashNetQuantizer`.

Training-time retrievers use them (forward, and HashNet's backward with its
scale schedule); :mod:`monolith_np.entry.compressors` encodes with the same
rules (:mod:`monolith_np._rules.entry`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .._backend import array_module, asarray
from .._checks import check_array, check_number
from .._compile import run_cpu
from .._dispatch import gpu_drivers
from . import _cpu
from ._common import _INT64_MAX, _elementwise, _finite, _flat, _float32_finite, _float_input

__all__ = ["FakeQuantizer", "HashNetQuantizer"]


class FakeQuantizer:
    """Fixed-range int8 quantisation ("qat8"), the math of :class:`FixedR8Compressor`.

    Parameters
    ----------
    r : float
        The range, ``> 0``: levels are ``k * r / 128`` for ``k`` in ``[-128, 127]``.

    Raises
    ------
    ValueError
        If ``r`` is not a finite number ``> 0`` (the original accepts any float;
        ``r <= 0`` divides by zero or flips the rounding).

    Notes
    -----
    With ``step = fl(r / 128)`` and ``half = step / 2`` (float32):

    .. math:: q = \\mathrm{clamp}\\Big(\\mathrm{trunc}\\big(\\mathrm{fl}((x \\pm \\mathit{half}) / \\mathit{step})\\big),
              -128, 127\\Big), \\qquad \\hat{x} = \\mathrm{fl}(q \\cdot \\mathit{step})

    i.e. round half away from zero; NaN gives 0. Infinities and huge values
    saturate (undefined behaviour in the original). The
    representable range is ``[-r, r * 127/128]``.

    Examples
    --------
    >>> k = np.float32(5 / 128)
    >>> FakeQuantizer(5.0).quantize(np.array([1.4, 1.6, -1.4, -1.6], np.float32) * k) / k
    array([ 1.,  2., -1., -2.], dtype=float32)
    """

    def __init__(self, r):
        r = _finite("r", r)
        if r <= 0:
            raise ValueError(f"r must be > 0, got {r}")
        self.r = r
        self._step = np.float32(_float32_finite("r", r) / np.float32(128))
        self._half = self._step / np.float32(2)

    @property
    def step(self) -> np.float32:
        """The quantisation step ``r / 128`` (float32)."""
        return self._step

    def quantize_to_integer(self, x):
        """Quantise float32 values to int8 levels.

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
        With ``r = 2`` the step is ``1/64``; values beyond the range saturate at 127 or -128:

        >>> import numpy as np
        >>> from monolith_np.entry import FakeQuantizer
        >>> FakeQuantizer(2.0).quantize_to_integer(np.float32([0.5, -0.25, 1.0, 5.0]))
        array([ 32, -16,  64, 127], dtype=int8)
        """
        xp, x = _float_input("x", x)
        driver = _cpu.fixed_r8_encode_cpu if xp is np else gpu_drivers().entry.fixed_r8_encode_gpu
        return _elementwise(xp, x, np.int8, driver, self._step, self._half)

    def integer_to_float(self, q):
        """Map int8 levels back to float32 values ``q * step``.

        Parameters
        ----------
        q : int8 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import FakeQuantizer
        >>> FakeQuantizer(2.0).integer_to_float(np.int8([32, -16, 127]))
        array([ 0.5     , -0.25    ,  1.984375], dtype=float32)
        """
        xp = array_module(q=q)
        q = asarray(q, xp)
        check_array("q", q, dtypes=(np.int8,))
        driver = _cpu.fixed_r8_decode_cpu if xp is np else gpu_drivers().entry.fixed_r8_decode_gpu
        return _elementwise(xp, q, np.float32, driver, self._step)

    def quantize(self, x):
        """Quantise and map back: what the fake-quant retriever returns.

        Parameters
        ----------
        x : float32 array
            Any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            ``integer_to_float(quantize_to_integer(x))``.

        Examples
        --------
        Each value moves to its nearest level (multiples of ``1/64`` here), clipped to the range:

        >>> import numpy as np
        >>> from monolith_np.entry import FakeQuantizer
        >>> FakeQuantizer(2.0).quantize(np.float32([0.51, -0.26, 5.0]))
        array([ 0.515625, -0.265625,  1.984375], dtype=float32)
        """
        return self.integer_to_float(self.quantize_to_integer(x))

    def __repr__(self):
        return f"FakeQuantizer(r={self.r!r})"


def _round_to_float32(v: Fraction) -> np.float32:
    """Round an exact rational to the nearest float32, ties to even."""
    f = np.float32(float(v))
    best = f
    for g in (np.nextafter(f, np.float32(-np.inf)), np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(g):
            continue
        dg, db = abs(Fraction(float(g)) - v), abs(Fraction(float(best)) - v)
        if dg < db or (dg == db and (int(g.view(np.uint32)) & 1) == 0):
            best = g
    return np.float32(best)


def _fmaf(a, b, c) -> np.float32:
    """float32 fused multiply-add ``a * b + c`` rounded once (host side)."""
    return _round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


class HashNetQuantizer:
    """HashNet's smooth sign: ``amplitude * tanh(scale * x)`` with a growing scale.

    The quantizer behind :class:`OneBitCompressor` and the HashNet retriever
    (a training entry whose segment compresses with one_bit looks up
    :meth:`forward` of the stored values and passes gradients through
    :meth:`backward`).

    Parameters
    ----------
    step_size : int, default 200
        The scale is recomputed when ``global_step`` is a multiple of it, ``>= 1``.
    init_scale : float, default 1.0
        Scale at step 0.
    max_scale : float, default 10000.0
        Upper bound of the scale.
    amplitude : float, default 0.1
        Output amplitude (the proto's default; :class:`OneBitCompressor`
        defaults to 0.05).

    Raises
    ------
    TypeError, ValueError
        If a hyperparameter is not a finite number, or ``step_size < 1``
        (the original divides by it).

    Notes
    -----
    .. math::

        F(x) = a \\tanh(s x), \\qquad
        s \\leftarrow \\min\\big(s_0 \\, \\mathrm{fma}(\\gamma, t, 1)^{1/2}, s_{\\max}\\big)
        \\text{ when } t \\bmod \\mathit{step\\_size} = 0, \\qquad
        \\frac{\\partial}{\\partial x}: \\; g \\leftarrow g \\cdot \\big(a s \\,
        \\mathrm{fma}(-y, y, 1)\\big), \\; y = \\tanh(s x)

    with :math:`\\gamma = 0.005`, all in float32 and ``1 - y*y`` (and
    ``1 + gamma*t``) rounded once, as the original's compiler fuses them.
    The scale is state of this object, shared by every
    element it processes, as in the original.

    Examples
    --------
    >>> q = HashNetQuantizer(step_size=1000)
    >>> q.forward(np.array([1.0, 2.0], np.float32))
    array([0.07615942, 0.09640276], dtype=float32)
    >>> q.backward(np.float32([2.0]), np.float32([100.0]), global_step=1000)
    array([0.00544261], dtype=float32)
    >>> q.scale
    np.float32(2.4494898)
    """

    GAMMA = np.float32(0.005)
    POWER = np.float32(0.5)

    def __init__(self, step_size=200, init_scale=1.0, max_scale=10000.0, amplitude=0.1):
        self.step_size = check_number("step_size", step_size, integer=True, low=1, high=_INT64_MAX)
        self.init_scale = _float32_finite("init_scale", _finite("init_scale", init_scale))
        self.max_scale = _float32_finite("max_scale", _finite("max_scale", max_scale))
        self.amplitude = _float32_finite("amplitude", _finite("amplitude", amplitude))
        self._scale = self.init_scale

    @classmethod
    def from_config(cls, config):
        """Build from a ``FloatCompressorConfig.OneBit`` message (unset fields take proto defaults).

        Parameters
        ----------
        config : FloatCompressorConfig.OneBit
            The message.

        Returns
        -------
        HashNetQuantizer
            The quantizer.

        Examples
        --------
        >>> from monolith_np.entry import HashNetQuantizer
        >>> from monolith_np.proto import FloatCompressorConfig
        >>> config = FloatCompressorConfig()
        >>> config.one_bit.step_size = 10
        >>> q = HashNetQuantizer.from_config(config.one_bit)
        >>> q.step_size, float(q.init_scale), float(q.max_scale)
        (10, 1.0, 10000.0)
        """
        return cls(config.step_size, config.init_scale, config.max_scale, config.amplitude)

    @property
    def scale(self) -> np.float32:
        """The current scale (float32)."""
        return self._scale

    def scale_at(self, global_step):
        """The scale the schedule gives at ``global_step`` (no state change).

        Parameters
        ----------
        global_step : int
            The step.

        Returns
        -------
        numpy.float32
            ``min(init_scale * fma(0.005, float32(global_step), 1) ** 0.5, max_scale)``.

        Examples
        --------
        The scale grows like ``sqrt(1 + 0.005 * step)`` until it reaches ``max_scale``:

        >>> from monolith_np.entry import HashNetQuantizer
        >>> q = HashNetQuantizer(step_size=100, max_scale=3.0)
        >>> [float(q.scale_at(t)) for t in (0, 600, 10**6)]
        [1.0, 2.0, 3.0]
        >>> float(q.scale)  # unchanged
        1.0
        """
        base = _fmaf(self.GAMMA, np.float32(global_step), np.float32(1.0))
        with np.errstate(invalid="ignore"):
            s = self.init_scale * np.power(base, self.POWER)
        return s if s < self.max_scale else self.max_scale  # std::min(scale, max): NaN stays

    def forward(self, x):
        """``amplitude * tanh(scale * x)`` element-wise (float32).

        Parameters
        ----------
        x : float32 array
            Stored values, any shape; numpy or CUDA.

        Returns
        -------
        float32 array
            Same shape and device.

        Examples
        --------
        >>> import numpy as np
        >>> from monolith_np.entry import HashNetQuantizer
        >>> q = HashNetQuantizer(amplitude=1.0)
        >>> np.round(q.forward(np.float32([[0.0, 1.0], [-1.0, 10.0]])), 4)
        array([[ 0.    ,  0.7616],
               [-0.7616,  1.    ]], dtype=float32)
        """
        xp, x = _float_input("x", x)
        driver = _cpu.hash_net_forward_cpu if xp is np else gpu_drivers().entry.hash_net_forward_gpu
        return _elementwise(xp, x, np.float32, driver, self.amplitude, self._scale)

    def backward(self, num, grad, global_step):
        """Transform gradients, updating the scale first when ``global_step`` is a multiple of ``step_size``.

        Parameters
        ----------
        num : float32 array
            Stored values the forward pass saw.
        grad : float32 array
            Gradients of the forward's output, same shape and device as ``num``.
            Not modified (the original overwrites it in place).
        global_step : int
            The step (non-negative in practice; C's ``%`` sign rule is used).

        Returns
        -------
        float32 array
            ``grad * amplitude * scale * (1 - tanh(scale * num)**2)``.

        Raises
        ------
        TypeError, ValueError
            If the arrays are not float32 or their shapes differ.

        Examples
        --------
        At ``num = 0`` the gradient is scaled by ``amplitude * scale``; step 600
        is a multiple of ``step_size``, so the scale first grows to 2:

        >>> import numpy as np
        >>> from monolith_np.entry import HashNetQuantizer
        >>> q = HashNetQuantizer(step_size=100, amplitude=1.0)
        >>> q.backward(np.float32([0.0, 0.0]), np.float32([1.0, -3.0]), global_step=50)
        array([ 1., -3.], dtype=float32)
        >>> q.backward(np.float32([0.0, 0.0]), np.float32([1.0, -3.0]), global_step=600)
        array([ 2., -6.], dtype=float32)
        >>> float(q.scale)
        2.0
        """
        xp = array_module(num=num, grad=grad)
        num, grad = asarray(num, xp), asarray(grad, xp)
        check_array("num", num, dtypes=(np.float32,))
        check_array("grad", grad, dtypes=(np.float32,), shape=tuple(num.shape))
        step = check_number("global_step", global_step, integer=True, low=-_INT64_MAX - 1, high=_INT64_MAX)
        if abs(step) % self.step_size == 0:
            self._scale = self.scale_at(step)
        fn, fg = _flat(xp, num), _flat(xp, grad)
        out = xp.empty_like(fg)
        if fn.size:
            if xp is np:
                run_cpu(_cpu.hash_net_backward_cpu, fn.size, fn, fg, self.amplitude, self._scale, out)
            else:
                gpu_drivers().entry.hash_net_backward_gpu(fn, fg, self.amplitude, self._scale, out)
        return out.reshape(num.shape)

    def __repr__(self):
        return (
            f"HashNetQuantizer(step_size={self.step_size}, init_scale={float(self.init_scale)}, "
            f"max_scale={float(self.max_scale)}, amplitude={float(self.amplitude)})"
        )
