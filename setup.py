"""The optional compiled kernels (``signalinject._native``); everything else is in pyproject.toml.

The extension is ``optional``: where no C compiler is found the package installs without it and
runs the NumPy kernels, which give the same bits (slower on uint8 images).

It is built against CPython's stable ABI (the limited API of 3.11, the first with the buffer
protocol in it), so one wheel per platform, tagged ``cp311-abi3``, serves every CPython from 3.11
on. A free-threaded CPython (3.13t) has no stable ABI: there the extension is built for that
interpreter alone.
"""

import sys
import sysconfig

from setuptools import Extension, setup

LIMITED_API = 0x030B0000  # Py_LIMITED_API: the 3.11 stable ABI (Py_buffer, PyObject_GetBuffer)
ABI3 = not sysconfig.get_config_var("Py_GIL_DISABLED")

setup(
    ext_modules=[
        Extension(
            "signalinject._native",
            ["src/signalinject/_native.c"],
            optional=True,
            py_limited_api=ABI3,
            define_macros=[("Py_LIMITED_API", hex(LIMITED_API))] if ABI3 else [],
            # -O3: the portable loops (no AVX2) are vectorized only from -O3 on (GCC 12); MSVC: /O2.
            extra_compile_args=["/O2"] if sys.platform == "win32" else ["-O3"],
        )
    ],
    # the wheel's tag: cp311-abi3 (bdist_wheel's py_limited_api option)
    options={"bdist_wheel": {"py_limited_api": "cp311"}} if ABI3 else {},
)
