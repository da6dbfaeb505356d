"""Bytes to text lines for catalog files, whatever encoding they came in.

UTF-8 is tried line by line; the lines that are not UTF-8 are decoded in the encoding
charset-normalizer detects for them (a cp1252 export of the Kaggle file, say), so a
"Rédmi" is read, not rejected. UTF-16 files (they start with a byte-order mark) are
decoded whole first. What was used is reported: nothing is guessed silently.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field

UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
COHERENCE_MARGIN = 0.05  # how much less coherent than the first choice cp1252 may read


@dataclass
class DecodedLines:
    # (physical line number, text or None when no encoding fits, reason when None)
    lines: list[tuple[int, str | None, str]] = field(default_factory=list)
    encoding: str = "utf-8"  # what the file was read as, in words for the report

    def __iter__(self) -> Iterator[tuple[int, str | None, str]]:
        return iter(self.lines)


def decode_lines(data: bytes) -> DecodedLines:
    if data.startswith(UTF16_BOMS):
        text = data.decode("utf-16")
        return DecodedLines(
            [(n, line, "") for n, line in enumerate(text.splitlines(keepends=True), 1)],
            "utf-16",
        )
    bom = data.startswith(UTF8_BOM)
    raw_lines = (data[3:] if bom else data).splitlines(keepends=True)
    decoded: list[tuple[int, str | None, str]] = []
    failing: list[int] = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            decoded.append((number, raw.decode("utf-8"), ""))
        except UnicodeDecodeError:
            decoded.append((number, None, ""))
            failing.append(number - 1)
    result = DecodedLines(decoded, "utf-8 (with byte-order mark)" if bom else "utf-8")
    if not failing:
        return result
    # A file with no valid UTF-8 beyond ASCII was written in another encoding: read
    # its lines in the one detected. In a UTF-8 file, a line that is not UTF-8 is only
    # read in another encoding when that gives letters inside words ("Rédmi"), not a
    # stray byte ("Bad ÿ byte"), which stays rejected.
    whole_file = len(failing) == _non_ascii_lines(raw_lines)
    fallback = _detect(b"".join(raw_lines[i] for i in failing))
    for i in failing:
        raw = raw_lines[i]
        try:
            if fallback is None:
                raise UnicodeError
            text = raw.decode(fallback)
            if not whole_file and not _reads_as_words(text):
                raise UnicodeError
            result.lines[i] = (i + 1, text, "")
        except UnicodeError:
            at = _first_bad_byte(raw)
            tried = f"UTF-8 or {fallback}" if fallback else "UTF-8 (and no other encoding fits)"
            byte = raw[at : at + 1].hex()
            result.lines[i] = (i + 1, None, f"byte 0x{byte} at column {at + 1} is not {tried}")
    recovered = sum(result.lines[i][1] is not None for i in failing)
    if recovered and fallback:
        everything = whole_file and recovered == len(failing)
        result.encoding = (
            fallback if everything else f"utf-8, with {recovered} line(s) in {fallback}"
        )
    return result


def _reads_as_words(text: str) -> bool:
    """Every non-ASCII character is a letter next to another letter."""
    for i, char in enumerate(text):
        if char.isascii():
            continue
        left = text[i - 1] if i else ""
        right = text[i + 1] if i + 1 < len(text) else ""
        if not (char.isalpha() and (left.isalpha() or right.isalpha())):
            return False
    return True


def _detect(sample: bytes) -> str | None:
    """The encoding charset-normalizer finds for the lines that are not UTF-8."""
    from charset_normalizer import from_bytes

    matches = from_bytes(sample)
    best = matches.best()
    if best is None or best.encoding in ("utf_8", "ascii"):
        return None
    # Accented Western text fits several code pages almost equally (é is 0xE9 in cp1250
    # and cp1252 alike; the detector ranked DOS Baltic cp775 first for a cp1252 export
    # of the Kaggle file). Catalog exports come from Windows: prefer cp1252 whenever it
    # reads the lines as coherently as the detector's first choice.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if western is not None and western.coherence >= best.coherence - COHERENCE_MARGIN:
        return "cp1252"
    try:
        if sample.decode("cp1252") == str(best):
            return "cp1252"
    except UnicodeDecodeError:
        pass
    return codecs.lookup(best.encoding).name


def _first_bad_byte(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def _non_ascii_lines(raw_lines: list[bytes]) -> int:
    return sum(not raw.isascii() for raw in raw_lines)
