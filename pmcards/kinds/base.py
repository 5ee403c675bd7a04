"""What every note kind is: `Kind`, and the `Face` of a card it renders."""

from __future__ import annotations

from dataclasses import dataclass, field

# The `why` field every kind has: the mechanism behind the answer, shown on the back.
WHY = "why"
_WHY_TEMPLATE = "{{#Why}}<div class=why>{{Why}}</div>{{/Why}}"
# The longest answer a learner can recall in one piece, in words (the minimum-information
# principle): an answer field, and a cloze deletion.
ANSWER_WORDS = 30
CLOZE_WORDS = 8


@dataclass(frozen=True)
class Recalled:
    """One thing a card asks the learner to produce from memory, as the linter sees it."""

    field: str
    text: str
    max_words: int  # longer than this cannot be recalled in one piece
    listable: bool = True  # checked for enumerations (a cloze is the cure for a list)


@dataclass(frozen=True)
class Face:
    """What one side of a card shows: a heading and labelled blocks of text."""

    heading: str
    blocks: tuple[tuple[str, str], ...]  # (label, text); an empty label is plain text


@dataclass(frozen=True)
class AnkiModel:
    """The Anki note type a kind is exported as (and recognised by on import)."""

    name: str
    id: int  # fixed, so a second export updates the note type Anki already has
    # One (name, front template, back template) per card, in card order.
    templates: tuple[tuple[str, str, str], ...]
    cloze: bool = False


@dataclass(frozen=True)
class Kind:
    """A note kind. Subclasses render their cards; the data says the rest."""

    name: str
    required: tuple[str, ...]
    card_names: tuple[str, ...]  # one name per card ordinal
    # field -> its label in a Markdown deck and on screen ("Q", "BAD", "Why" ...)
    labels: dict[str, str]
    # field -> the name of the Anki field it is exported as
    anki_fields: dict[str, str]
    anki: AnkiModel
    optional: tuple[str, ...] = (WHY,)
    # The fields a learner must produce from memory (linted for length), and the cue.
    answer_fields: tuple[str, ...] = ()
    question_fields: tuple[str, ...] = ()
    # Two answers the learner tells apart (a contrast's GOOD and BAD): the linter wants them
    # alike in length and free of verdict words, so only their content gives the verdict.
    balanced_fields: tuple[str, ...] = ()
    # The fields compared with other notes for near-duplicates (empty: every field).
    compared_fields: tuple[str, ...] = ()
    # False: the cards are practised elsewhere (prompts in `pmcards mock`) and leave daily
    # review unless a setting brings them back (`prompts_in_review`).
    in_review: bool = True
    # Another kind this one is a variant of (same fields, more cards): Markdown writes it as
    # that kind plus a flag.
    variant_of: str | None = None
    description: str = field(default="", compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional

    def ords(self, fields: dict[str, str]) -> list[int]:
        """The card ordinals a note with these fields makes: one per card name."""
        return list(range(len(self.card_names)))

    def sides(self, ord: int) -> tuple[str, ...]:
        """The sides card `ord` may show, one drawn per presentation (a contrast's judge card:
        BAD or GOOD); empty for a card that always shows the same."""
        return ()

    def recalled(self, fields: dict[str, str]) -> tuple[Recalled, ...]:
        """What the cards of a note ask the learner to recall: its answer fields."""
        return tuple(
            Recalled(name, fields[name], ANSWER_WORDS)
            for name in self.answer_fields
            if name in fields
        )

    def compared_text(self, fields: dict[str, str]) -> str:
        """The text compared with other notes for near-duplicates."""
        names = self.compared_fields or self.fields
        return " ".join(fields[name] for name in names if name in fields)

    def card_name(self, ord: int) -> str:
        return self.card_names[ord] if ord < len(self.card_names) else str(ord + 1)

    def problem(self, fields: dict[str, str]) -> tuple[str, str] | None:
        """(field, why) a note cannot have these fields, or None if it can. Required fields
        are checked by the formats; a kind adds its own rules."""
        return None

    def render(
        self, fields: dict[str, str], ord: int, side: str | None = None
    ) -> tuple[Face, Face]:
        raise NotImplementedError

    def summary(self, fields: dict[str, str]) -> str:
        """A one-line description of a note for listings: its first field."""
        return fields.get(self.required[0], "")

    @staticmethod
    def why(fields: dict[str, str]) -> tuple[tuple[str, str], ...]:
        """The Why block of a back, when the note has a why."""
        text = fields.get(WHY, "")
        return (("Why", text),) if text else ()

    @staticmethod
    def why_template() -> str:
        return _WHY_TEMPLATE
