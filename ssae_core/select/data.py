"""Text ingestion: seed sets, test sets and corpora from files, folders or the demo world.

Formats: ``.txt`` (documents separated by blank lines), ``.jsonl`` (a text field),
``.csv`` / ``.parquet`` (a text column), a folder of these (a ``.txt`` file in a folder
is one document), and a Hugging Face dataset name (streamed, with a document limit).
Text files are UTF-8 (a BOM is allowed) or UTF-16 / UTF-32 with a byte-order mark.
Everything is validated at the edge; a problem raises ``DataError`` saying what is
wrong, where, and what to do. Exact duplicate documents are dropped and counted.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ssae_core.infra.config import Config
from ssae_core.infra.errors import SSAEError
from ssae_core.models.source import TextSet

TEXT_SUFFIXES = {".txt", ".jsonl", ".csv", ".parquet"}


class DataError(SSAEError):
    """Input text that cannot be used as given."""


@dataclass(frozen=True)
class IngestConfig(Config):
    text_field: str = "text"
    """jsonl field / csv or parquet column holding the text."""
    max_doc_chars: int = 200_000
    """A longer document is an error (split it, or raise the limit)."""
    max_file_bytes: int = 500_000_000
    hf_limit: int = 10_000
    """Documents streamed from a Hugging Face dataset."""


def load_texts(source: str | Path, cfg: IngestConfig | None = None) -> TextSet:
    """Documents from a file, a folder, or ``hf:NAME[:split]``; validated and de-duplicated."""
    cfg = cfg or IngestConfig()
    source_str = str(source)
    if source_str.startswith("hf:"):
        raw = _from_hub(source_str[3:], cfg)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(
                f"{path} does not exist. Give a .txt, .jsonl, .csv or .parquet file, or a folder of"
                " them."
            )
        raw = _from_folder(path, cfg) if path.is_dir() else read_file(path, cfg)
    return finish(raw, source_str, cfg)


def from_strings(
    texts: list[str], source: str = "<strings>", cfg: IngestConfig | None = None
) -> TextSet:
    """Validate in-memory documents (pasted text, the demo world's splits)."""
    return finish(
        [(f"{source}#{i}", t) for i, t in enumerate(texts)], source, cfg or IngestConfig()
    )


def finish(raw: list[tuple[str, str]], source: str, cfg: IngestConfig) -> TextSet:
    """Check sizes, drop empty and duplicate documents, and report counts."""
    kept, seen, duplicates, empty = [], set(), 0, 0
    for where, text in raw:
        text = text.strip()
        if not text:
            empty += 1
            continue
        if len(text) > cfg.max_doc_chars:
            raise DataError(
                f"{where}: a document of {len(text):,} characters is over the limit of"
                f" {cfg.max_doc_chars:,}. Split it into smaller documents or raise max_doc_chars."
            )
        if text in seen:
            duplicates += 1
            continue
        seen.add(text)
        kept.append((where, text))
    if not kept:
        raise DataError(
            f"{source} holds no text{' (only empty documents)' if empty else ''}. Check the file"
            " and its text field or column."
        )
    docs = pd.DataFrame(kept, columns=["doc_id", "text"])
    report = {
        "source": source,
        "documents": len(docs),
        "characters": int(docs.text.str.len().sum()),
        "duplicates_dropped": duplicates,
        "empty_dropped": empty,
    }
    return TextSet(docs, report)


def count_tokens(texts: TextSet, tokenizer) -> int:
    """Tokens of all documents under ``tokenizer`` (no special tokens)."""
    return int(
        sum(len(ids) for ids in tokenizer(texts.texts, add_special_tokens=False)["input_ids"])
    )


def _from_folder(path: Path, cfg: IngestConfig) -> list[tuple[str, str]]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise DataError(f"The folder {path} has no .txt, .jsonl, .csv or .parquet files.")
    raw = []
    for f in files:
        if f.suffix.lower() == ".txt":  # in a folder, one .txt file is one document
            raw.append((str(f), _read_text(f, cfg)))
        else:
            raw.extend(read_file(f, cfg))
    return raw


def read_file(path: Path, cfg: IngestConfig) -> list[tuple[str, str]]:
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {suffix or '(none)'}; use .txt, .jsonl, .csv or"
            " .parquet."
        )
    if suffix == ".txt":
        blocks = [b for b in _split_blocks(_read_text(path, cfg))]
        return [(f"{path}:block{i}", b) for i, b in enumerate(blocks)]
    if suffix == ".jsonl":
        return _read_jsonl(path, cfg)
    _check_size(path, cfg)
    try:
        table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid UTF-8 ({exc.reason} at byte {exc.start}). Save it as UTF-8."
        ) from None
    except Exception as exc:
        raise DataError(f"{path} could not be read as {suffix[1:]}: {exc}") from None
    if cfg.text_field not in table.columns:
        raise DataError(
            f"{path} has no column {cfg.text_field!r}; its columns are {list(table.columns)}."
            " Choose the text column (text_field)."
        )
    column = table[cfg.text_field].fillna("").astype(str)
    return [(f"{path}:row{i}", t) for i, t in enumerate(column)]


def _read_jsonl(path: Path, cfg: IngestConfig) -> list[tuple[str, str]]:
    lines = enumerate(_read_text(path, cfg).splitlines(), start=1)
    return [
        (f"{path}:{n}", jsonl_text(path, n, line, cfg.text_field))
        for n, line in lines
        if line.strip()
    ]


def jsonl_text(path: Path, n: int, line: str, text_field: str) -> str:
    """The text field of line ``n`` of a .jsonl file; DataError naming the line otherwise."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{n}: not valid JSON ({exc.msg}). Each line must be one JSON object."
        ) from None
    if not isinstance(record, dict) or text_field not in record:
        raise DataError(
            f"{path}:{n}: no field {text_field!r}. Set text_field to the field that holds the text."
        )
    value = record[text_field]
    if not isinstance(value, str):
        raise DataError(
            f"{path}:{n}: field {text_field!r} holds {json_kind(value)}, not text. Each line's"
            " text field must be a JSON string."
        )
    return value


def json_kind(value) -> str:
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), "a list" if isinstance(value, list) else "an object")


BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _read_text(path: Path, cfg: IngestConfig) -> str:
    data = _check_size(path, cfg).read_bytes()
    if not data.strip():
        raise DataError(f"{path} is empty.")
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _decode_wide(path, data, encoding)
    if b"\x00" in data[:8192]:
        if _looks_utf16(data[:8192]):
            raise DataError(
                f"{path} looks like UTF-16 text without a byte-order mark. Save it as UTF-8 (or"
                " as UTF-16 with a BOM)."
            )
        raise DataError(
            f"{path} looks binary (it contains NUL bytes), not text. Upload a text file."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not valid UTF-8: byte {exc.start} (line {line}) is"
            f" {data[exc.start : exc.start + 1]!r}. Re-save the file as UTF-8."
        ) from None


def _decode_wide(path: Path, data: bytes, encoding: str) -> str:
    """Text of a file that starts with a UTF-16 or UTF-32 byte-order mark."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} starts with a {encoding.upper()} byte-order mark but is not valid"
            f" {encoding.upper()} ({exc.reason} at byte {exc.start}). Save it as UTF-8."
        ) from None
    if "\x00" in text:
        raise DataError(f"{path} contains NUL characters, not text. Upload a text file.")
    if not text.strip():
        raise DataError(f"{path} is empty.")
    return text


def _looks_utf16(head: bytes) -> bool:
    """Most bytes at even or at odd offsets are NUL: ASCII-range text in UTF-16 without a BOM."""
    pairs = len(head) // 2
    return pairs >= 2 and max(head[0::2].count(0), head[1::2].count(0)) >= 0.9 * pairs


def _check_size(path: Path, cfg: IngestConfig) -> Path:
    size = path.stat().st_size
    if size > cfg.max_file_bytes:
        raise DataError(
            f"{path} is {size:,} bytes, over the limit of {cfg.max_file_bytes:,}. Split it or raise"
            " max_file_bytes."
        )
    return path


def _split_blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def _from_hub(spec: str, cfg: IngestConfig) -> list[tuple[str, str]]:
    """``NAME[:split]`` streamed from the Hugging Face Hub, at most ``hf_limit`` documents."""
    from ssae_core.infra.hub import OFFLINE_ALTERNATIVES, hub_reachable

    name, _, split = spec.partition(":")
    if not hub_reachable():
        raise DataError(
            f"Cannot reach the Hugging Face Hub to stream {name}. Offline, load local files"
            f" instead. {OFFLINE_ALTERNATIVES}"
        )
    from datasets import load_dataset

    try:
        stream = load_dataset(name, split=split or "train", streaming=True)
        rows = []
        for i, row in enumerate(stream):
            if i >= cfg.hf_limit:
                break
            if cfg.text_field not in row:
                raise DataError(
                    f"{name} has no field {cfg.text_field!r}; its fields are {list(row)}."
                )
            rows.append((f"hf:{name}#{i}", str(row[cfg.text_field])))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"Could not stream {name}: {type(exc).__name__}: {exc}") from None
    return rows
