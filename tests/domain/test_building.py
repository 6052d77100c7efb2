"""desk.domain.building: a builder makes the very object its frozen dataclass's constructor makes —
every class desk builds in bulk, with every field given and with only the required ones — and
refuses the classes it cannot build faithfully."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from desk.domain.book import BookLeg, Hedge, Transfer
from desk.domain.building import builder_for
from desk.domain.model import Position, Tier
from desk.domain.report import PositionRisk

# what the reader, the engine and the book make in bulk
BUILT = (Position, Tier, PositionRisk, BookLeg, Hedge, Transfer)


def _values(cls: type, fields: list[dataclasses.Field[Any]]) -> list[str]:
    # a distinct value in every field, so a field set from another's value shows
    return [f"{cls.__name__}.{f.name}" for f in fields]


@pytest.mark.parametrize("cls", BUILT, ids=lambda c: c.__name__)
def test_a_builder_makes_the_very_dataclass_its_constructor_makes(cls: type) -> None:
    build = builder_for(cls)
    fields = list(dataclasses.fields(cls))
    required = [f for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for given in (fields, required):
        values = _values(cls, given)
        built, made = build(*values), cls(*values)
        assert type(built) is cls
        assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
        assert [getattr(built, f.name) for f in fields] == [getattr(made, f.name) for f in fields]
        keywords = dict(zip((f.name for f in given), values, strict=True))
        assert build(**keywords) == cls(**keywords)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(built, fields[0].name, "changed")
        assert not hasattr(built, "__dict__")


def test_a_default_factory_makes_a_new_value_for_each_object() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Holder:
        name: str
        items: list[int] = dataclasses.field(default_factory=list)

    build = builder_for(Holder)
    first, second = build("a"), build("b")
    assert first.items == [] and first.items is not second.items
    assert build("a", [1]) == Holder("a", [1])


def test_what_a_builder_cannot_make_faithfully_is_refused() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        y: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Hidden:
        x: int
        y: int = dataclasses.field(init=False, default=0)

    for cls in (Mutable, NoSlots, Checked, Derived, Hidden):
        with pytest.raises(TypeError):
            builder_for(cls)
