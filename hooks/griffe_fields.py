"""griffe extension: the API pages show what a user calls, not how the package checks it.

Loaded by mkdocstrings (``mkdocs.yml``: ``extensions``, after griffe's built-in ``dataclasses``),
it changes what the docs read of the source, never the package:

- A field declared with a rule, ``seed: int = checked(Integer(0, 2**64 - 1), default=0,
  kw_only=True)``, reads as the ``dataclasses.field`` it builds (so the generated ``__init__``
  gets the field's default and keyword-only flag), and the field's value is its default:
  signatures show ``seed: int = 0``, a required field ``num_classes: int``.
- A private base (``_ClassCodes``, ``_Strength``) leaves the class's bases; the public members
  it gives the class are documented on the class itself.
- A parameter of a class that its docstring's ``Args:`` does not describe takes the description
  of the nearest base class that does (``seed``, ``coverage``, ``fidelity`` from ``Injector``).
- An attribute documented by a ``#:`` comment above it (the convention of Sphinx's autodoc,
  which griffe does not read) gets the comment: a module's as its docstring, a class's as a row
  of the class's "Class attributes" table (13 sections of their own would bury ``Injector``'s
  methods).
- A signal class (a class whose ``name`` is a string ``X``) for which ``docs/img/X.png`` exists
  shows that picture after its docstring's first paragraph (``pictures``/``picture_url``).

The site's test (tests/test_docs_site.py) compares every rendered dataclass signature with the
signature Python itself gives the class.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import griffe

RULE = "checked"  # signalinject.core.checked
RULE_PATH = "signalinject.core.checked"
DROPPED = {"omit_default"}  # checked()'s own options, not dataclasses.field's
PLAIN_MAX = 40  # characters: a private constant's value longer than this keeps its name


def _is_rule_call(value: object) -> bool:
    if not isinstance(value, griffe.ExprCall):
        return False
    fn = value.function
    if not isinstance(fn, griffe.ExprName) or fn.name != RULE:
        return False
    try:
        return fn.canonical_path == RULE_PATH
    except Exception:  # an unresolvable name: a `checked` of some other package
        return False


def as_field(call: griffe.ExprCall) -> griffe.ExprCall:
    """``checked(rule, default=..., kw_only=..., omit_default=...)`` as the
    ``dataclasses.field(default=..., kw_only=...)`` it returns (the rule dropped)."""
    keywords: list[str | griffe.Expr] = [
        a for a in call.arguments if isinstance(a, griffe.ExprKeyword) and a.name not in DROPPED
    ]
    if not keywords:  # a required field: the dataclasses extension reads a bare field() as a value
        keywords = [griffe.ExprKeyword("init", "True")]
    return griffe.ExprCall(griffe.ExprName("field", parent="dataclasses"), keywords)


def field_default(value: object) -> str | griffe.Expr | None:
    """The ``default=`` of a ``dataclasses.field(...)`` expression, None when it has none."""
    if isinstance(value, griffe.ExprCall):
        for a in value.arguments:
            if isinstance(a, griffe.ExprKeyword) and a.name == "default":
                return a.value
    return None


def _names_private(value: object) -> bool:
    """Whether an expression names a private object (``_Signals()``, ``{"a": _integer()}``)."""
    if not isinstance(value, griffe.Expr):
        return False
    return any(
        isinstance(e, griffe.ExprName) and e.name.startswith("_") and not e.name.startswith("__")
        for e in value.iterate(flat=True)
    )


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    out: list[griffe.Object] = [obj]
    for member in obj.members.values():
        if not member.is_alias and (member.is_module or member.is_class):
            out += _walk(member)  # type: ignore[arg-type]
    return out


def _private(base: object) -> bool:
    name = base.name if isinstance(base, griffe.ExprName) else str(base)
    return name.rsplit(".", 1)[-1].startswith("_")


def comment_docstring(attr: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above ``attr``'s definition, joined, or None."""
    try:
        lines = attr.lines_collection[attr.filepath]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    if not lines or attr.lineno is None:
        return None
    found: list[str] = []
    i = attr.lineno - 2  # 0-based line above the definition
    while i >= 0 and lines[i].strip().startswith("#:"):
        found.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return "\n".join(found) or None


class CheckedFields(griffe.Extension):
    """See the module docstring."""

    def __init__(self, pictures: str = "docs/img", picture_url: str = "../img") -> None:
        super().__init__()
        self.pictures = Path(pictures)
        self.picture_url = picture_url.rstrip("/")
        self.rules: dict[str, griffe.ExprCall] = {}  # attribute path -> the field(...) it reads as

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        # Before the built-in dataclasses extension builds __init__ (on_package): the field as
        # dataclasses.field, so that its default and kw_only reach the signature.
        if _is_rule_call(attr.value):
            attr.value = as_field(attr.value)  # type: ignore[arg-type]
            self.rules[attr.path] = attr.value

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        objects = _walk(pkg)
        comments: dict[str, list[tuple[griffe.Attribute, str]]] = {}
        for obj in objects:
            for member in list(obj.members.values()):
                if member.is_alias or not member.is_attribute:
                    continue
                if member.path in self.rules:
                    member.value = field_default(member.value)  # type: ignore[union-attr]
                elif _names_private(member.value):  # type: ignore[union-attr]
                    member.value = None  # built from private helpers: the type says enough
                if member.docstring is None:
                    text = comment_docstring(member)  # type: ignore[arg-type]
                    if text and isinstance(obj, griffe.Class) and member.name.startswith("_"):
                        pass  # a private class attribute (the package's own business)
                    elif text and isinstance(obj, griffe.Class):
                        # a row of the class's attributes table, not a section of its own
                        comments.setdefault(obj.path, []).append((member, text))  # type: ignore[arg-type]
                    elif text:
                        member.docstring = griffe.Docstring(
                            text,
                            lineno=member.lineno,
                            parent=member,  # type: ignore[arg-type]
                            parser=obj.docstring.parser if obj.docstring else None,
                            parser_options=obj.docstring.parser_options if obj.docstring else None,
                        )
        for obj in objects:
            for member in obj.members.values():
                if not member.is_alias and isinstance(member, griffe.Function):
                    for param in member.parameters:
                        param.default = self._plain(pkg, param.default)
        classes = [o for o in objects if isinstance(o, griffe.Class)]
        for cls in classes:
            self._hide_private_bases(cls)
        for cls in classes:
            self._add_picture(cls)  # first: the passes below parse (and cache) docstrings
            self._inherit_parameter_docs(cls)
            self._attributes_table(cls, comments.get(cls.path, []))

    def _plain(self, pkg: griffe.Module, default: Any) -> Any:
        """A default that names a private constant (``pad: str = SPACE``, ``= _BACKENDS``) as
        the constant's literal value, which is what a caller can pass; other defaults as they are.
        """
        if not isinstance(default, griffe.ExprName):
            return default
        try:
            target = pkg.modules_collection[default.canonical_path]
            if target.is_alias:
                target = target.final_target
        except Exception:  # not in this package, or not resolvable: leave it
            return default
        if not isinstance(target, griffe.Attribute) or target.is_public or target.value is None:
            return default
        text = str(target.value)
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return default
        return text if len(text) <= PLAIN_MAX else default

    def _hide_private_bases(self, cls: griffe.Class) -> None:
        if not any(_private(b) for b in cls.bases):
            return
        try:
            mro = cls.mro()
        except ValueError:
            return
        for base in mro:
            if not base.name.startswith("_"):
                continue
            for name, member in base.members.items():
                if name.startswith("_") or name in cls.members:
                    continue
                # the class gets it from the private base unless a class before it in the MRO
                # defines it
                owner = next(c for c in mro if name in c.members)
                if owner is base:
                    cls.set_member(name, griffe.Alias(name, member, parent=cls))
        cls.bases = [b for b in cls.bases if not _private(b)]

    def _inherit_parameter_docs(self, cls: griffe.Class) -> None:
        init = cls.members.get("__init__")
        if cls.docstring is None or init is None or not isinstance(init, griffe.Function):
            return
        section = next(
            (s for s in cls.docstring.parsed if s.kind is griffe.DocstringSectionKind.parameters),
            None,
        )
        if section is None:
            return
        documented = {p.name for p in section.value}
        for param in init.parameters:
            if param.name in documented or param.name == "self":
                continue
            doc = self._parameter_doc(cls, param.name)
            if doc is not None:
                section.value.append(
                    griffe.DocstringParameter(
                        param.name,
                        description=doc.description,
                        annotation=param.annotation,
                        value=param.default,
                    )
                )

    def _attributes_table(
        self, cls: griffe.Class, rows: list[tuple[griffe.Attribute, str]]
    ) -> None:
        """The class attributes documented by ``#:`` comments as rows of the class docstring's
        "Attributes" table (one compact table, as a docstring's ``Attributes:`` renders)."""
        if not rows or cls.docstring is None:
            return
        parsed = cls.docstring.parsed
        section = next(
            (s for s in parsed if s.kind is griffe.DocstringSectionKind.attributes), None
        )
        if section is None:
            section = griffe.DocstringSectionAttributes([], title="Class attributes")
            parsed.append(section)
        for attr, text in rows:
            section.value.append(
                griffe.DocstringAttribute(
                    attr.name, description=text, annotation=attr.annotation, value=attr.value
                )
            )

    def _parameter_doc(self, cls: griffe.Class, name: str) -> griffe.DocstringParameter | None:
        try:
            mro = cls.mro()
        except ValueError:
            return None
        for base in mro:
            if base.docstring is None:
                continue
            for s in base.docstring.parsed:
                if s.kind is griffe.DocstringSectionKind.parameters:
                    for p in s.value:
                        if p.name == name:
                            return p  # type: ignore[no-any-return]
        return None

    def _add_picture(self, cls: griffe.Class) -> None:
        name = cls.members.get("name")
        if cls.docstring is None or not isinstance(name, griffe.Attribute):
            return
        try:
            signal = ast.literal_eval(str(name.value))
        except (ValueError, SyntaxError):
            return
        if not isinstance(signal, str) or not (self.pictures / f"{signal}.png").is_file():
            return
        head, sep, rest = cls.docstring.value.partition("\n\n")
        picture = f"![{cls.name}: what it writes]({self.picture_url}/{signal}.png)"
        cls.docstring.value = f"{head}\n\n{picture}{sep}{rest}"
