"""The typed record of the error correction applied to a small system.

An error-correction option is one class (``circuits/system/_transforms.py`` holds them and their
registry): it says how it is written, how it changes the circuit width and the number of
network layers, what on-indicator error its step corrects, and it transforms a
:class:`circuits.SmallSystem`. :class:`ErrorCorrection` is the ordered set of options applied:
the value a system, a network, a saved file and a table row all carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base import Option

#: The on-indicator error the study's step corrects (it zeroes alpha <= 0.25).
BASE_STEP = 0.25


class CorrectionOption(Option):
    """One error-correction option (base class; subclasses live in ``circuits/system/_transforms.py``).

    Class attributes a subclass sets: ``name`` (as written before any ``:``), ``argument`` (how its
    argument is written, ``""`` for none), ``help`` (one line), ``order`` (options apply and are
    written in increasing order).
    """

    parameter = "error_correction"
    order: int = 0

    def circuit_width(self, width: int) -> int:
        """Circuit width after the option, from the width before it."""
        return width

    def network_layers(self, n_layers: int) -> int:
        """Network layers after the option, from the number before it."""
        return n_layers

    def margin(self, margin: float) -> float:
        """The on-indicator error corrected after the option, from the one before it."""
        return margin

    def apply(self, system, n_layers: int, on: tuple[int, int] | None):
        """The transformed :class:`circuits.SmallSystem` (``on``: the base circuits' on-neurons)."""
        raise NotImplementedError

    @property
    def calibrates(self) -> bool:
        """Whether the option is chosen on a calibration batch when a network is built."""
        return False

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True, eq=False)
class ErrorCorrection:
    """The error-correction options applied to a system, in their canonical order.

    The value a spec holds for its ``error_correction`` field: equal to, and hashing like, its
    canonical text (:attr:`spec`), so it stands wherever the text did.

    Attributes:
        options: the options (:class:`CorrectionOption`), each at most once, sorted by ``order``.

    Example:
        >>> ErrorCorrection().spec, ErrorCorrection().margin, ErrorCorrection() == "none"
        ('none', 0.25, True)
    """

    options: tuple = ()

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            return self.spec == other
        return isinstance(other, ErrorCorrection) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __str__(self) -> str:
        return self.spec

    @property
    def spec(self) -> str:
        """The canonical spec string (``"none"`` when nothing is on)."""
        return "+".join(o.text for o in self.options) or "none"

    def __repr__(self) -> str:
        return f"ErrorCorrection({self.spec!r})"

    def get(self, name: str):
        """The option called ``name``, or ``None``."""
        return next((o for o in self.options if o.name == name), None)

    @property
    def margin(self) -> float:
        """The largest on-indicator error the on-indicator step corrects (0.25 for the study's step)."""
        margin = BASE_STEP
        for o in self.options:
            margin = o.margin(margin)
        return margin

    @property
    def tuned_chi(self) -> bool:
        """Whether chi's multiplier is chosen on a calibration batch."""
        return any(o.calibrates for o in self.options)

    @property
    def changes_system(self) -> bool:
        """Whether any option rewrites the small circuits (every option but calibrations)."""
        return any(not o.calibrates for o in self.options)

    def circuit_width(self, base_width: int) -> int:
        """d of the corrected circuits for circuits of width ``base_width``."""
        for o in self.options:
            base_width = o.circuit_width(base_width)
        return base_width

    def network_layers(self, n_layers: int) -> int:
        """Network layers for ``n_layers`` computation layers."""
        for o in self.options:
            n_layers = o.network_layers(n_layers)
        return n_layers
