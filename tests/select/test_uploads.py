"""Uploads: names made by the product (never a path), validation before anything is kept."""

import pytest

from ssae_core.infra.workspace import Workspace
from ssae_core.select import uploads
from ssae_core.select.data import DataError

TEXT = b"First document about quarks.\n\nSecond document about protons.\n"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("notes.txt", "notes.txt"),
        ("../../outside.txt", "outside.txt"),
        ("..\\..\\evil.JSONL", "evil.jsonl"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("my lab notes (v2).txt", "my_lab_notes_v2.txt"),
        (".hidden.txt", "hidden.txt"),
        ("a\x00b\nc.txt", "a_b_c.txt"),
        ("..txt", "upload.txt"),
        ("x" * 500 + ".txt", "x" * 76 + ".txt"),
    ],
)
def test_safe_name_is_one_plain_file_name(sent, stored):
    assert uploads.safe_name(sent) == stored


def test_safe_name_rejects_unknown_suffixes():
    with pytest.raises(DataError, match="does not end in"):
        uploads.safe_name("payload.exe")


def test_a_path_like_name_is_stored_inside_the_uploads_folder(tmp_path):
    ws = Workspace(tmp_path / "ws")
    path, texts = uploads.save(ws, "seeds", "../../../escaped.txt", TEXT)
    assert path == ws.root / "uploads" / "seeds" / "escaped.txt"
    assert path.read_bytes() == TEXT and len(texts.docs) == 2
    assert not (tmp_path / "escaped.txt").exists()
    assert uploads.uploaded(ws, "seeds") == [str(path)]


def test_a_rejected_upload_keeps_the_earlier_file_and_deletes_nothing_else(tmp_path):
    ws = Workspace(tmp_path / "ws")
    outside = tmp_path / "ws" / "uploads" / "keep.txt"
    path, _ = uploads.save(ws, "test", "set.txt", TEXT)
    outside.write_bytes(b"not the product's")
    with pytest.raises(DataError, match="set.txt is empty"):
        uploads.save(ws, "test", "set.txt", b"   \n")
    with pytest.raises(DataError):
        uploads.save(ws, "test", "../keep.txt", b"\x00\x01binary")
    assert path.read_bytes() == TEXT, "the earlier upload of that name is kept"
    assert outside.read_bytes() == b"not the product's"
    assert uploads.uploaded(ws, "test") == [str(path)], "no temporary file is left or listed"


def test_unknown_role_is_refused(tmp_path):
    with pytest.raises(DataError, match="Unknown upload role"):
        uploads.folder(Workspace(tmp_path), "../x")
