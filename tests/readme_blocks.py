"""The README's "Use ISS on your own model" example, read out of README.md so that the tests run
exactly what a reader copies."""
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Use ISS on your own model"


def library_example() -> str:
    """The first ```python block of the README's library section."""
    text = README.read_text()
    if SECTION not in text:
        raise AssertionError(f"{README}: no section {SECTION!r}")
    section = text[text.index(SECTION):]
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]
