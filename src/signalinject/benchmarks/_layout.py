"""Text that fits a figure: lines broken where matplotlib's own font measures them too wide."""

from __future__ import annotations

__all__ = ["wrap_to_width"]


def wrap_to_width(text: str, width_in: float, fontsize: float, *, weight: str = "normal") -> str:
    """``text`` with each of its lines broken at spaces so that it fits ``width_in`` inches at
    ``fontsize`` points (widths measured with matplotlib's own font): a long ``repr`` stays
    inside the figure."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure, prop = TextToPath(), FontProperties(size=fontsize, weight=weight)

    def fits(line: str) -> bool:
        return measure.get_text_width_height_descent(line, prop, ismath=False)[0] <= 72 * width_in

    out = []
    for line in text.split("\n"):
        words = line.split(" ")
        current = words[0]
        for word in words[1:]:
            if fits(f"{current} {word}"):
                current = f"{current} {word}"
            else:
                out.append(current)
                current = word
        out.append(current)
    return "\n".join(out)
