"""The optional compiled kernels (``signalinject._native``); everything else is in pyproject.toml.

The extension is ``optional``: where no C compiler is found the package installs without it and
runs the NumPy kernels, which give the same bits (slower on uint8 images).
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "signalinject._native",
            ["src/signalinject/_native.c"],
            optional=True,
            # -O3: the portable loops (no AVX2) are vectorized only from -O3 on (GCC 12); MSVC: /O2.
            extra_compile_args=["/O2"] if sys.platform == "win32" else ["-O3"],
        )
    ]
)
