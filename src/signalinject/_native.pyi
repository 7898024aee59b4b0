# The compiled kernels of _native.c (optional: signalinject._kernels falls back to NumPy).
from typing_extensions import Buffer

def add_rows_u8(
    out: Buffer, src: Buffer, rows: Buffer, table: Buffer, d: int, parts: int, /
) -> None: ...
def blend_rows_u8(
    out: Buffer, src: Buffer, rows: Buffer, pattern: Buffer, d: int, weight: int, /
) -> None: ...
def simd() -> str: ...
