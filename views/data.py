"""Seeds & data: upload seed, corpus, test and OOD sets (validated), or use the demo world's."""

from pathlib import Path

import pandas as pd
import streamlit as st

from ssae_core.demo.data import world_of
from ssae_core.select import data, uploads
from ssae_core.select.data import DataError
from views import common

ws, base = common.page(
    "Seeds & data",
    "Text files (.txt: blank-line separated documents), .jsonl (a `text` field), .csv or .parquet"
    " (a `text` column). Files are checked before use: empty, binary, bad encoding, too large,"
    " duplicates.",
)

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
    try:
        target, texts = uploads.save(ws, role, upload.name, upload.getvalue())
    except DataError as exc:
        st.error(f"{upload.name[:100]}: {exc}")
        continue
    report = dict(texts.report)
    report["tokens"] = data.count_tokens(texts, base.tokenizer)
    st.success(
        f"{target.name}: {report['documents']} documents, {report['tokens']:,} tokens"
        + (
            f", {report['duplicates_dropped']} duplicates dropped"
            if report.get("duplicates_dropped")
            else ""
        )
    )

world = world_of(base)
if world is not None:
    st.subheader("The demo world's sets")
    roles = {"general": "the LM's and the GSAE's training text", "pool": "what retrieval searches"}
    roles |= {s: "seeds" for s in world.seed_splits} | {s: "test" for s in world.test_splits}
    splits = [*world.seed_splits, "general", world.corpus_split, *world.test_splits]
    rows = []
    for split in dict.fromkeys(splits):
        docs = world.split_tokens(split)
        tokens = int(sum(len(d) for d in docs))
        rows.append(
            {"split": split, "role": roles[split], "documents": len(docs), "tokens": tokens}
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
stored = [(role, Path(p)) for role in uploads.ROLES for p in uploads.uploaded(ws, role)]
if stored:
    st.subheader("Uploaded")
    rows = [{"role": role, "file": p.name, "bytes": p.stat().st_size} for role, p in stored]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
