"""The ``stdlib_docs`` and ``stdlib_code`` corpora: docstrings (`collect`) and function
sources (`collect_sources`) of five standard-library packages, one class each.

Pure standard library (no NumPy) so that it runs on any bare interpreter: the pins below were made
by running a copy of this file (outside the package, so that nothing there shadows a standard
module) under several Pythons and keeping what they all agree on::

    for v in 3.10 3.11 3.12 3.13; do python$v -W error sd.py > pins-$v.txt; done
    python sd.py --intersect pins-3.*.txt

A docstring is one sample: the docstring of a module, or of a public class, function or method
*defined* in one of the modules listed in `PACKAGES`, cleaned by ``inspect.cleandoc``, at
least `MIN_CHARS` characters long, and not repeated (a text found twice is kept once, under
its first name; a text found in two packages is dropped). `PINS` holds
``crc32(name + "\\n" + text)`` of every sample found *identical* on CPython 3.10.13, 3.11.7,
3.12.1 and 3.13.0; keeping only pinned samples makes the corpus the same on all of them (and a
subset of it on a Python that changed a docstring).
"""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import zlib
from collections.abc import Iterator

__all__ = ["MIN_CHARS", "PACKAGES", "PINS", "collect", "collect_sources", "pin"]

#: The packages (the classes, in this order) and the modules read from each: modules present
#: and public on Python 3.10 to 3.13, importable without side effects or warnings.
PACKAGES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "email.base64mime", "email.charset", "email.contentmanager", "email.encoders",
        "email.errors", "email.feedparser", "email.generator", "email.header",
        "email.headerregistry", "email.iterators", "email.message", "email.mime.application",
        "email.mime.base", "email.mime.image", "email.mime.message", "email.mime.multipart",
        "email.mime.nonmultipart", "email.mime.text", "email.parser", "email.policy",
        "email.quoprimime", "email.utils",
    ),
    "http": ("http", "http.client", "http.cookiejar", "http.cookies", "http.server"),
    "logging": ("logging", "logging.config", "logging.handlers"),
    "unittest": (
        "unittest", "unittest.async_case", "unittest.case", "unittest.loader", "unittest.main",
        "unittest.mock", "unittest.result", "unittest.runner", "unittest.signals",
        "unittest.suite", "unittest.util",
    ),
    "xml": (
        "xml", "xml.dom", "xml.dom.NodeFilter", "xml.dom.domreg", "xml.dom.expatbuilder",
        "xml.dom.minicompat", "xml.dom.minidom", "xml.dom.pulldom", "xml.dom.xmlbuilder",
        "xml.etree.ElementInclude", "xml.etree.ElementPath", "xml.etree.ElementTree",
        "xml.sax", "xml.sax.expatreader", "xml.sax.handler", "xml.sax.saxutils",
        "xml.sax.xmlreader",
    ),
}  # fmt: skip

#: Shorter docstrings ("Return the value.") carry too little text to classify.
MIN_CHARS = 40


def _docstrings(module_name: str) -> Iterator[tuple[str, object]]:
    """``(qualified name, raw docstring)`` of a module and of what it defines, sorted by name."""
    mod = importlib.import_module(module_name)
    yield module_name, mod.__doc__
    for name, obj in sorted(vars(mod).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue  # private, or imported from elsewhere (counted where it is defined)
        if inspect.isfunction(obj):
            yield f"{module_name}.{name}", obj.__doc__
        elif inspect.isclass(obj):
            # The class's own docstring, not one inherited from a base class.
            yield f"{module_name}.{name}", vars(obj).get("__doc__")
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield f"{module_name}.{name}.{attr}", member.__doc__


def _functions(module_name: str) -> Iterator[tuple[str, object]]:
    """``(qualified name, function)`` of every function and method *defined* in a module, private
    ones included, sorted by name."""
    mod = importlib.import_module(module_name)
    for name, obj in sorted(vars(mod).items()):
        if getattr(obj, "__module__", None) != module_name:
            continue  # imported from elsewhere (counted where it is defined)
        if inspect.isfunction(obj):
            yield f"{module_name}.{name}", obj
        elif inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if inspect.isfunction(member):
                    yield f"{module_name}.{name}.{attr}", member


def collect_sources() -> list[tuple[str, str, int]]:
    """Every function's source as ``(qualified name, text, class)``, in package then name order.

    The source of each function and method defined in the modules of `PACKAGES` (private
    ones and dunders included), dedented, at least `MIN_CHARS` characters, kept once (a
    text found in two packages is dropped). Not pinned: the corpus is the running Python's (1802
    sources on CPython 3.11: 281 email, 227 http, 248 logging, 387 unittest, 659 xml).
    """

    def sources() -> Iterator[tuple[str, str | None, int]]:
        for label, package in enumerate(PACKAGES):
            for module_name in PACKAGES[package]:
                for name, func in _functions(module_name):
                    try:
                        text = textwrap.dedent(inspect.getsource(func))  # type: ignore[arg-type]
                    except (OSError, TypeError):  # no source file (frozen or built-in)
                        text = None
                    yield name, text, label

    return sorted(_keep_once(sources()), key=lambda s: (s[2], s[0]))


def _keep_once(samples: Iterator[tuple[str, str | None, int]]) -> list[tuple[str, str, int]]:
    """``(name, text, class)`` of the texts of at least `MIN_CHARS` characters, each once
    under its first name; a text found in two classes is dropped (None: no text)."""
    found: dict[str, tuple[str, int]] = {}  # text -> (first name, class)
    clash: set[str] = set()
    for name, text, label in samples:
        if text is None or len(text) < MIN_CHARS:
            continue
        if text in found:
            if found[text][1] != label:
                clash.add(text)
            continue
        found[text] = (name, label)
    return [(name, text, label) for text, (name, label) in found.items() if text not in clash]


def pin(name: str, text: str) -> int:
    """The pin of one sample: ``crc32`` of its UTF-8 ``name + "\\n" + text``."""
    return zlib.crc32(f"{name}\n{text}".encode())


def collect(*, pinned: bool = True) -> list[tuple[str, str, int]]:
    """Every sample as ``(qualified name, text, class)``, in package then name order.

    Args:
        pinned: keep only the samples in `PINS` (the corpus common to 3.10-3.13); False
            keeps everything this Python has.
    """

    def docstrings() -> Iterator[tuple[str, str | None, int]]:
        for label, package in enumerate(PACKAGES):
            for module_name in PACKAGES[package]:
                for name, doc in _docstrings(module_name):
                    yield name, inspect.cleandoc(doc) if isinstance(doc, str) else None, label

    out = _keep_once(docstrings())
    if pinned:
        out = [s for s in out if pin(s[0], s[1]) in PINS]
    return sorted(out, key=lambda s: (s[2], s[0]))


def _main(argv: list[str]) -> None:
    if argv[:1] == ["--intersect"]:
        sets = []
        for path in argv[1:]:
            with open(path, encoding="utf-8") as f:
                sets.append({int(line, 16) for line in f if line.strip()})
        common = sorted(set.intersection(*sets))
        for i in range(0, len(common), 8):
            print("    " + " ".join(f"0x{p:08x}," for p in common[i : i + 8]))
        return
    for name, text, _ in collect(pinned=False):
        print(f"{pin(name, text):08x}")


# Generated by ``--intersect`` (see the module docstring); do not edit by hand.
PINS: frozenset[int] = frozenset((
    0x007e15a1, 0x00f1936e, 0x01102596, 0x013bcf14, 0x0174763f, 0x019de532, 0x01ccf321, 0x024aea62,
    0x038c1da6, 0x0417d2bd, 0x045d96f9, 0x0552c767, 0x05e3d2ad, 0x064722e1, 0x06d1cc81, 0x07d68060,
    0x0842d9e5, 0x08d3fc49, 0x09765c6e, 0x0a044fdf, 0x0b466a41, 0x0bbc9bfa, 0x0c18d7a0, 0x0c34663f,
    0x0ca0e6e0, 0x0cce7154, 0x0d55e200, 0x0e31408e, 0x0e51dc66, 0x0ff6e130, 0x101eeab7, 0x1050bc2a,
    0x1081f03c, 0x10d1f943, 0x11ad2fc8, 0x11de46f0, 0x121dccfe, 0x1227e5b2, 0x12b00b5b, 0x13941eeb,
    0x13e1060b, 0x14141942, 0x146960ea, 0x147d98df, 0x148f15f7, 0x15742fd1, 0x15817fdb, 0x15a9547b,
    0x15b95cd0, 0x15eadb52, 0x1605698d, 0x16355ed3, 0x16393d7b, 0x16e150f2, 0x16f04809, 0x175c94f6,
    0x17925fa3, 0x180d4002, 0x18183307, 0x182411d9, 0x19626293, 0x197b0e70, 0x1a098a42, 0x1a80a2ad,
    0x1aa59109, 0x1ae67716, 0x1b64312e, 0x1c00c635, 0x1c90b367, 0x1cdd62eb, 0x1d8ac1b4, 0x1de422be,
    0x1f01d3d6, 0x1f19c9f2, 0x1fa314a8, 0x1fd5b854, 0x2017edd4, 0x205418e4, 0x208f52c5, 0x20d67081,
    0x20f28897, 0x211dac39, 0x2132cf9b, 0x21455fef, 0x21623a36, 0x2169c00b, 0x224a0f05, 0x2256c5c3,
    0x228169d1, 0x228e2eee, 0x22c3e293, 0x22f639f2, 0x231c1aab, 0x2365760f, 0x24d365a8, 0x2509c273,
    0x26424015, 0x26b83fcd, 0x26fd090f, 0x281cf5ca, 0x28e8cd20, 0x2936948c, 0x298f544a, 0x29e0a477,
    0x2b3d2aca, 0x2b4276c7, 0x2c727717, 0x2ca0517a, 0x2cc637eb, 0x2ce02664, 0x2ce4c19d, 0x2d240bc1,
    0x2d4e7f63, 0x2e925136, 0x2e94a48c, 0x2ea7e1c8, 0x2ec465a8, 0x2ed63b77, 0x2edb22c5, 0x2eec4e9e,
    0x2ef32658, 0x2fbb13d5, 0x2fc266b7, 0x2fd7ac39, 0x307bd763, 0x307d50d0, 0x309dd256, 0x30dfb01d,
    0x30e0409c, 0x31388149, 0x3141d4b5, 0x31a452c9, 0x31f25e12, 0x322d86ce, 0x3285d8f3, 0x3321c3fa,
    0x3390db56, 0x341c35bf, 0x35689099, 0x356f6a3c, 0x364f9092, 0x36e705b1, 0x371416bc, 0x37ab69bd,
    0x37d12308, 0x37f43f0b, 0x3882191a, 0x38d6957f, 0x3907badb, 0x396e8490, 0x397027e7, 0x39bf63c3,
    0x3aa3e559, 0x3afc0167, 0x3b21f13c, 0x3ba38e6e, 0x3c1274c4, 0x3c2588df, 0x3c4fd30c, 0x3ce58288,
    0x3dc9055a, 0x3e07d307, 0x3e597fbd, 0x3e5d168e, 0x3e71207b, 0x3e7d9a7a, 0x3e87dd3a, 0x3ebab2a4,
    0x3f007582, 0x3f09579c, 0x3fa2c8ff, 0x40193486, 0x4023f7fe, 0x41b21d28, 0x41e01a3c, 0x431b1498,
    0x43cb0383, 0x43ddae07, 0x44e68174, 0x46d9a0f7, 0x46fbb712, 0x473871c7, 0x474e2ad7, 0x47756681,
    0x47ee6855, 0x48690218, 0x4897245f, 0x49b5f90e, 0x49ea1e8b, 0x49eda45a, 0x4a25da37, 0x4a4aabfd,
    0x4a8b9b52, 0x4aa518b9, 0x4bc286aa, 0x4c1b0bf0, 0x4c3a82fb, 0x4c4c678e, 0x4c73bf57, 0x4cb1b3b9,
    0x4cd1e94a, 0x4d192f08, 0x4d1b36d7, 0x4d467efa, 0x4d64075a, 0x4e1b13dd, 0x4e437b6b, 0x4e5e8129,
    0x50a088fb, 0x50a59ec8, 0x50f4feed, 0x51683607, 0x52298faa, 0x52b49880, 0x52c3aefd, 0x5373953a,
    0x543f0367, 0x547449d8, 0x559ebf2e, 0x5642e4b8, 0x5686463a, 0x56c0907c, 0x572cfcca, 0x575fa35a,
    0x58525b67, 0x5938b63d, 0x59b3d361, 0x5a1062ff, 0x5a666dd6, 0x5ad6f55b, 0x5c8d9441, 0x5d7fd295,
    0x5defdf3d, 0x5e6d9f1e, 0x5f3feee1, 0x5f796e5a, 0x5fb5cf35, 0x62c80567, 0x630ec068, 0x633d1596,
    0x63edf58f, 0x642a9322, 0x644f556c, 0x65143b89, 0x6561d4e7, 0x65780a3f, 0x65d71b75, 0x65f62c20,
    0x66105906, 0x66762030, 0x67171fbc, 0x67578c0b, 0x6775fa70, 0x689696b2, 0x691813e1, 0x6a001c9f,
    0x6a6a6a32, 0x6aee4d0b, 0x6b8ade7d, 0x6bf6465e, 0x6c7f1fc8, 0x6c89cde7, 0x6c947ab5, 0x6cee0913,
    0x6d5ec1e8, 0x6e7b7522, 0x6e86cf68, 0x6e8c71a1, 0x6fb1cbdd, 0x704fb288, 0x70cc6b1b, 0x715ce5ac,
    0x71872e3d, 0x71c061f1, 0x7268aaeb, 0x72e4503f, 0x7319a64f, 0x74a28a17, 0x74ce6760, 0x74eb1339,
    0x74f50eea, 0x7582abe3, 0x762b3f91, 0x762f0b6e, 0x7690c485, 0x77438f9d, 0x778291fc, 0x77b2bb42,
    0x78017fa7, 0x78199cd2, 0x7860cfbf, 0x787d8017, 0x79971349, 0x7a6dac04, 0x7a9838f6, 0x7adcfdeb,
    0x7bacc3ab, 0x7c07b0d7, 0x7c1eea54, 0x7c89649a, 0x7d8cf9a7, 0x7e43ed52, 0x7e5cc6c7, 0x7e627985,
    0x7efabb1e, 0x7f36de83, 0x7f5998b7, 0x7f8b082c, 0x8020aa7f, 0x80e516e4, 0x822174bb, 0x8241b947,
    0x8248763a, 0x82dd792d, 0x83638400, 0x836fff3e, 0x8381d692, 0x83a992b7, 0x83bca8d9, 0x847ad286,
    0x84e74597, 0x8681290b, 0x86953944, 0x87097654, 0x87ae958e, 0x87c699b2, 0x883f4974, 0x88976dc5,
    0x88c5a8d1, 0x88da5307, 0x89115f8a, 0x891bf1bc, 0x89433477, 0x8a403419, 0x8af2d93c, 0x8afed423,
    0x8b07dbb8, 0x8cc97b0b, 0x8d282210, 0x8d2f8aae, 0x8d786ee9, 0x8e23c0d6, 0x8e2df22c, 0x8f43ab70,
    0x900a1c4b, 0x905809ce, 0x908aaaa5, 0x90cf9e71, 0x90e6836a, 0x912a4a9a, 0x91a3b794, 0x92169810,
    0x933027e9, 0x93673e86, 0x93b2571a, 0x94290a3d, 0x94aa0f6e, 0x94bfdea3, 0x94f4a8a7, 0x94f4eca9,
    0x94fc9383, 0x96d118aa, 0x97508794, 0x976084a2, 0x977d049e, 0x97dfc3e6, 0x9832fec0, 0x98c68fc9,
    0x990a452d, 0x9918cd13, 0x99d18ff6, 0x99ec496c, 0x9a0a36c1, 0x9a0d240b, 0x9a1c13f6, 0x9a9bc2ba,
    0x9aa845de, 0x9ab74f10, 0x9ac686f1, 0x9b401975, 0x9b8601be, 0x9d7b5345, 0x9e04e2eb, 0x9eadfa8d,
    0x9ee14d94, 0x9ee7713f, 0x9f0fb614, 0x9f352569, 0x9f417756, 0x9fc8c3d1, 0xa124cf1f, 0xa199a782,
    0xa21832e9, 0xa26a38a7, 0xa281f240, 0xa28f4157, 0xa34d6b3a, 0xa39f5673, 0xa402baa5, 0xa40bf366,
    0xa40eab8f, 0xa42e9668, 0xa45008d7, 0xa46d39e5, 0xa49bf043, 0xa4c6308a, 0xa5211b73, 0xa529e57e,
    0xa5a5009b, 0xa5b8d0f9, 0xa5d82c09, 0xa773d705, 0xa854a95e, 0xa88a7dde, 0xa8f61157, 0xa956658f,
    0xa98d74b2, 0xa9914020, 0xa9c45efe, 0xaa085419, 0xaa6b54d0, 0xaa9db8dc, 0xaabce49d, 0xab33d3f0,
    0xabf0913d, 0xac33eb48, 0xac9abad5, 0xac9c0825, 0xace7e884, 0xad2a8f52, 0xad453e6d, 0xad5be924,
    0xae3534ec, 0xae3df50a, 0xae5af5a2, 0xae613842, 0xaeca1f1e, 0xaf6765d8, 0xaf95ac05, 0xb0497477,
    0xb064e87d, 0xb0c7ced9, 0xb24ab130, 0xb3303241, 0xb34a266c, 0xb37727e1, 0xb4036273, 0xb48d68c6,
    0xb51549b4, 0xb51650b0, 0xb572117e, 0xb6a7f53d, 0xb6b9017d, 0xb836b0fa, 0xb876496f, 0xb89c60d0,
    0xb8bed8bc, 0xb97e2bb6, 0xb99bf7ee, 0xb9a3dfe6, 0xb9a78aaa, 0xb9cadd6a, 0xba0918a5, 0xba828bde,
    0xba9176a7, 0xba9f71d1, 0xbb8948ee, 0xbbeaf4ae, 0xbc1dbd9e, 0xbd21dcc4, 0xbd419bce, 0xbe246272,
    0xbe736065, 0xbef1e52b, 0xbf613330, 0xbf840a0b, 0xc0055ba0, 0xc046a7a2, 0xc08479dc, 0xc17c7cb3,
    0xc1aa2ce2, 0xc1e52527, 0xc234dd15, 0xc29341f8, 0xc30e6c26, 0xc4092dc1, 0xc426750f, 0xc4a92c14,
    0xc5163bef, 0xc520bf1f, 0xc584f997, 0xc596c0f1, 0xc63118a4, 0xc6a9c562, 0xc6f05bef, 0xc70dc88a,
    0xc961cbf9, 0xc9922901, 0xca71bb45, 0xca92fecd, 0xcaffa264, 0xcb16b931, 0xcb7f806d, 0xcbcfed87,
    0xcc4163a8, 0xcc99a746, 0xccd80e38, 0xcd1ed6ed, 0xcd38605f, 0xcd3e3b5c, 0xcd7e0a5e, 0xcdba865a,
    0xcddfabbc, 0xcdf9a69b, 0xce009585, 0xce6c0ad2, 0xce8aef22, 0xcf43fe52, 0xcf57d879, 0xcf591031,
    0xcf86d8e9, 0xcf914032, 0xcff3c379, 0xd071defb, 0xd1597c49, 0xd1ddce07, 0xd1ea2a06, 0xd2864d69,
    0xd32866c1, 0xd3743a09, 0xd397eda1, 0xd4f47581, 0xd50cde0f, 0xd526700d, 0xd529cc76, 0xd5bf308a,
    0xd5cf6f1d, 0xd6191685, 0xd624068f, 0xd7a300b5, 0xd7ae758d, 0xd7af5989, 0xd7ba99f6, 0xd7e1c716,
    0xd7f0fff8, 0xd83be6c2, 0xd88bde1c, 0xd8f640d3, 0xda13202c, 0xda3f53df, 0xdb1e23a6, 0xdb9b4dc8,
    0xdbb6e0d1, 0xdc126bb3, 0xdc5b3292, 0xdcbfd1d1, 0xdcda4753, 0xdd2720f6, 0xdd89b925, 0xddccfcf2,
    0xde40958f, 0xde8d85e4, 0xdf1c06dc, 0xdf3ee628, 0xdf72244c, 0xe03474a5, 0xe05990c9, 0xe06da068,
    0xe12490a8, 0xe137b66e, 0xe2761403, 0xe2d54f6e, 0xe2f8ea3a, 0xe330bd0c, 0xe37e57eb, 0xe400d736,
    0xe4156e81, 0xe42db73d, 0xe5181e97, 0xe532d529, 0xe5defb58, 0xe6094e73, 0xe6aef329, 0xe7066dc4,
    0xe71c5b4e, 0xe71d23b2, 0xe79f8f6b, 0xe7ed3afd, 0xe82749f2, 0xe853ab3a, 0xe8bef259, 0xe8e2a2da,
    0xe905d954, 0xe9f78e90, 0xeb57eea4, 0xeb9ed03f, 0xec47d9a5, 0xed4a7617, 0xed6861ac, 0xed69ac77,
    0xed8a8276, 0xee8328e2, 0xef2b095c, 0xf1158789, 0xf1fa8338, 0xf21e44f9, 0xf26fe948, 0xf3426fab,
    0xf38382cb, 0xf3b8515d, 0xf3db43d6, 0xf50e1337, 0xf5243a03, 0xf780d0e8, 0xf7c32ff4, 0xf8367a50,
    0xf8590a17, 0xf90a9d4d, 0xf94127b1, 0xf9dfb8ab, 0xfa1ae379, 0xfa46df44, 0xfa7d15f5, 0xfa898016,
    0xfa8b59ce, 0xfac87ea3, 0xfade6001, 0xfb227819, 0xfb90947a, 0xfc0c23a6, 0xfc205de4, 0xfc54fd8d,
    0xfc579d63, 0xfca2472a, 0xfcda4607, 0xfda93502, 0xfddaff6a, 0xfddf97ee, 0xfe14b2ae, 0xfe725fbc,
    0xfef9d481, 0xff1b3923, 0xff1e4637, 0xff9b4627,
))  # fmt: skip


if __name__ == "__main__":
    _main(sys.argv[1:])
