"""The library guide's examples (docs/library.md), read out of the page so that the tests run
exactly what a reader copies."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LIBRARY_GUIDE = ROOT / "docs" / "library.md"


def python_blocks(page: Path = LIBRARY_GUIDE) -> list[str]:
    """Every ```python block of ``page``, in order."""
    text, blocks, start = page.read_text(), [], 0
    while (start := text.find("```python\n", start)) != -1:
        start += len("```python\n")
        end = text.index("```", start)
        blocks.append(text[start:end])
        start = end + 3
    if not blocks:
        raise AssertionError(f"{page}: no python block")
    return blocks


def library_example() -> str:
    """The guide's first example: an LSTM classifier trained with the penalty and shrunk."""
    return python_blocks()[0]


def gru_example() -> str:
    return python_blocks()[1]


def encoder_decoder_example() -> str:
    return python_blocks()[2]
