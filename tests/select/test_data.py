"""Ingestion: every format, and each kind of bad input with its message."""

import codecs
import json

import pandas as pd
import pytest

from ssae_core.select.data import DataError, IngestConfig, count_tokens, from_strings, load_texts


def test_txt_blocks_and_duplicates(tmp_path):
    f = tmp_path / "seeds.txt"
    f.write_text("first doc\nstill first\n\nsecond doc\n\n\nfirst doc\nstill first\n")
    ts = load_texts(f)
    assert ts.texts == ["first doc\nstill first", "second doc"]
    assert ts.report["duplicates_dropped"] == 1 and ts.report["documents"] == 2


def test_jsonl_csv_parquet_and_folder(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"body": t}) for t in ["one", "two"]))
    pd.DataFrame({"body": ["three", "four"]}).to_csv(tmp_path / "b.csv", index=False)
    pd.DataFrame({"body": ["five"]}).to_parquet(tmp_path / "c.parquet")
    (tmp_path / "d.txt").write_text("six\n\nstill six (one file is one document in a folder)")
    cfg = IngestConfig(text_field="body")
    assert load_texts(tmp_path / "a.jsonl", cfg).texts == ["one", "two"]
    assert load_texts(tmp_path / "b.csv", cfg).texts == ["three", "four"]
    assert load_texts(tmp_path / "c.parquet", cfg).texts == ["five"]
    folder = load_texts(tmp_path, cfg)
    assert folder.texts == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six\n\nstill six (one file is one document in a folder)",
    ]


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.txt", b"   \n\n", "is empty"),
        ("binary.txt", b"abc\x00\x01\x02", "looks binary"),
        (
            "latin1.txt",
            "caf\u00e9 ok\nna\u00efve".encode("latin-1"),
            r"not valid UTF-8: byte 3 \(line 1\)",
        ),
        ("bad.jsonl", b'{"text": "ok"}\n{not json}\n', r"bad.jsonl:2: not valid JSON"),
        ("nofield.jsonl", b'{"body": "x"}\n', r"no field 'text'"),
        (
            "number.jsonl",
            b'{"text": "ok"}\n{"text": 42}\n',
            r"number.jsonl:2: field 'text' holds a num",
        ),
        ("null.jsonl", b'{"text": null}\n', r"null.jsonl:1: field 'text' holds null, not text"),
        ("list.jsonl", b'{"text": ["a"]}\n', r"holds a list, not text"),
        ("object.jsonl", b'{"text": {"a": 1}}\n', r"holds an object, not text"),
        ("bool.jsonl", b'{"text": true}\n', r"holds a boolean, not text"),
        ("utf16.txt", "plain words".encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        ("utf16be.txt", "plain words".encode("utf-16-be"), "UTF-16 text without a byte-order mark"),
        ("badbom.txt", codecs.BOM_UTF16_LE + b"\x00\xd8", "not valid UTF-16"),
        ("nocol.csv", b"body\nx\n", r"no column 'text'.*\['body'\]"),
        ("doc.pdf", b"%PDF", "unsupported file type .pdf"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, name, content, match):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_texts(f)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path, encoding):
    text = "Électron spin\n\nsecond document: 量子"
    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    (tmp_path / "a.txt").write_bytes(bom + text.encode(encoding))
    (tmp_path / "b.jsonl").write_bytes(bom + '{"text": "量子 spin"}\n'.encode(encoding))
    assert load_texts(tmp_path / "a.txt").texts == ["Électron spin", "second document: 量子"]
    assert load_texts(tmp_path / "b.jsonl").texts == ["量子 spin"]


def test_limits_and_missing_paths(tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("x" * 500)
    with pytest.raises(DataError, match="over the limit of 100"):
        load_texts(f, IngestConfig(max_doc_chars=100))
    with pytest.raises(DataError, match=r"500 bytes, over the limit of 10\."):
        load_texts(f, IngestConfig(max_file_bytes=10))
    with pytest.raises(DataError, match="does not exist"):
        load_texts(tmp_path / "missing.txt")
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(DataError, match="has no .txt"):
        load_texts(tmp_path / "empty-folder")
    with pytest.raises(DataError, match="only empty documents"):
        from_strings(["", "  "])


def test_token_count_uses_the_base_tokenizer(quick_world):
    ts = quick_world.text_set("physics_seed")
    assert count_tokens(ts, quick_world.tokenizer) == sum(
        len(t) for t in quick_world.split_tokens("physics_seed")
    )
