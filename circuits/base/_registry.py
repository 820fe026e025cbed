"""Registries: every named option of the library has the same shape.

An *option* is anything a spec names by a word: a small system, an assignment method, a weight
scheme, an error-correction option, a failure criterion, a preset. Each kind has one
:class:`Registry`, a read-only mapping ``name -> entry``. Every entry has

- ``name``: the word a spec, a flag or a grid writes (``"inhibited"``);
- ``help``: one line for help texts, error messages and ``cis ... --list``;
- ``parse(arg, text)``: the value the text stands for (``arg`` is what follows a ``:`` in
  ``name:arg``, ``None`` when there is none; ``text`` is the whole text, for messages).

An entry is either a class whose ``parse`` makes an instance (weight schemes, error-correction
options: the value carries its argument) or an instance whose ``parse`` returns itself
(systems, assignments, criteria, presets). :meth:`Registry.parse` reads a text once into that
value; the layers above hold the value and ask it what they need, never its class or its name.

:class:`Option` is the base of the values that carry an argument: they are equal to, and hash
like, the text that writes them (``weight_scheme("inhibited:8") == "inhibited:8"``), so a value
stands wherever its text did (table cells, JSON through ``str``, sets and dict keys).

Example:
    >>> class Plain(Option):
    ...     name, help = "plain", "the plain way"
    >>> kinds = Registry("kind", [Plain])
    >>> kinds.parse("plain") == "plain", list(kinds), kinds.listing()
    (True, ['plain'], [('plain', 'the plain way')])
    >>> kinds.parse("fancy")
    Traceback (most recent call last):
    ...
    circuits.CircuitsError: kind must be one of plain; got 'fancy'
    >>> "fancy" in kinds, kinds.get("fancy")
    (False, None)
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from ._errors import require, require_choice


class Option:
    """A value written as ``name`` or ``name:arg`` (base class of weight schemes and error-correction options).

    Class attributes a subclass sets: ``name``, ``help`` (one line), ``parameter`` (the spec field that
    writes it, named by refusals) and ``argument`` (how the argument is written in help texts, ``""``
    for none).
    """

    name: str = ""
    help: str = ""
    parameter: str = ""
    argument: str = ""

    @classmethod
    def parse(cls, arg: str | None, text: str) -> "Option":
        """The value of ``text`` (``arg``: what follows the ``:``): options without an argument refuse one."""
        require(arg is None, f"{cls.parameter} {cls.name!r} takes no argument, got {text!r}", parameter=cls.parameter)
        return cls()

    @property
    def text(self) -> str:
        """How a spec writes this value."""
        return self.name

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            return self.text == other
        return type(self) is type(other) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)


class Registry(Mapping):
    """The named options of one kind (see the module docstring).

    Args:
        parameter: the spec field (and flag) that names them, used in refusals.
        entries: the entries, each with ``name``, ``help`` and ``parse``; listed in this order.
    """

    def __init__(self, parameter: str, entries: Iterable):
        self.parameter = parameter
        self._entries = {}
        for entry in entries:
            require(entry.name not in self._entries, f"{parameter} {entry.name!r} is registered twice")
            self._entries[entry.name] = entry

    def __getitem__(self, name: str) -> Any:
        """The entry called ``name``; an unknown name is refused naming the parameter and the choices (as
        :meth:`entry`), a :class:`CircuitsError` rather than a bare ``KeyError``."""
        return self.entry(name)

    def __contains__(self, name) -> bool:
        try:
            return name in self._entries
        except TypeError:  # an unhashable value is no name
            return False

    def get(self, name, default=None) -> Any:
        """The entry called ``name``, or ``default`` when there is none (no refusal)."""
        return self._entries[name] if name in self else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.parameter!r}, {list(self._entries)})"

    def entry(self, name: str) -> Any:
        """The entry called ``name``; an unknown name is refused naming the parameter and the choices."""
        return self._entries[require_choice(self.parameter, name, self._entries)]

    def parse(self, text) -> Any:
        """The value ``text`` stands for (``name`` or ``name:arg``); a value already parsed is returned as it is."""
        if not isinstance(text, str):
            require(any(_is_value_of(entry, text) for entry in self._entries.values()),
                    f"{self.parameter} must be a string such as {next(iter(self._entries), '')!r}, got {text!r}",
                    parameter=self.parameter)
            return text
        name, sep, arg = text.strip().partition(":")
        return self.entry(name).parse(arg if sep else None, text)

    def listing(self) -> list[tuple[str, str]]:
        """``(written form, help)`` of every entry, for help texts and ``--list``."""
        return [(name + (f":{e.argument}" if getattr(e, "argument", "") else ""), e.help)
                for name, e in self._entries.items()]

    def help_text(self) -> str:
        """The entries in one line: ``name (help); ...``."""
        return "; ".join(f"{form} ({text})" for form, text in self.listing())


def _is_value_of(entry, value) -> bool:
    """Whether ``value`` is what ``entry.parse`` gives: an instance of a class entry, or the entry itself."""
    return value is entry or (isinstance(entry, type) and isinstance(value, entry))


def describe_registries(registries: Mapping[str, Registry]) -> str:
    """A plain-text listing of several registries (``cis list``), one block per kind."""
    blocks = []
    for title, reg in registries.items():
        width = max(len(form) for form, _ in reg.listing())
        lines = [f"{title} ({reg.parameter}):"] + [f"  {form:<{width}}  {text}" for form, text in reg.listing()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
