"""Seeds & data: upload seed, corpus, test and OOD sets (validated), or use the demo world's."""

import pandas as pd
import streamlit as st

from ssae_core import data
from ssae_core.data import DataError
from views import common

st.title("Seeds & data")
st.caption(
    "Text files (.txt: blank-line separated documents), .jsonl (a `text` field), .csv or .parquet"
    " (a `text` column). Files are checked before use: empty, binary, bad encoding, too large,"
    " duplicates."
)
ws = common.workspace()
base = common.base(ws)

for role, what in (
    ("seeds", "Seed set"),
    (
        "corpus",
        "Corpus to select from (up to 200 MB; larger: `python -m ssae_core select --corpus PATH`)",
    ),
    ("test", "In-domain test set"),
    ("ood", "Out-of-distribution test set"),
):
    upload = st.file_uploader(what, type=["txt", "jsonl", "csv", "parquet"], key=f"up-{role}")
    if upload is None:
        continue
    target = ws.root / "uploads" / role / upload.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(upload.getvalue())
    try:
        texts = data.load_texts(target, data.IngestConfig())
    except DataError as exc:
        target.unlink()
        st.error(f"{upload.name}: {exc}")
        continue
    report = dict(texts.report)
    report["tokens"] = data.count_tokens(texts, base.tokenizer)
    st.success(
        f"{upload.name}: {report['documents']} documents, {report['tokens']:,} tokens"
        + (
            f", {report['duplicates_dropped']} duplicates dropped"
            if report.get("duplicates_dropped")
            else ""
        )
    )

world = base.world
if world is not None:
    st.subheader("The demo world's sets")
    rows = []
    for split in ["physics_seed", "medicine_seed", "general", *common.test_splits(world)]:
        docs = world.split_tokens(split)
        rows.append(
            {"split": split, "documents": len(docs), "tokens": int(sum(len(d) for d in docs))}
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
uploaded = sorted((ws.root / "uploads").glob("*/*")) if (ws.root / "uploads").exists() else []
if uploaded:
    st.subheader("Uploaded")
    st.dataframe(
        pd.DataFrame(
            [{"role": p.parent.name, "file": p.name, "bytes": p.stat().st_size} for p in uploaded]
        ),
        hide_index=True,
    )
