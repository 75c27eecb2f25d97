"""The Neuronpedia export of the quick world's GSAE, every record validated against a schema written
from Neuronpedia's database schema and importer, and its numbers against the evaluation."""

import gzip
import json
from pathlib import Path

import jsonschema
import pytest
from helpers import run_cli

from ssae_core.evaluate.evaluation import find_eval, load_features

# Column names and types from Neuronpedia's apps/webapp/prisma/schema.prisma (models SourceRelease,
# Model, SourceSet, Source, Neuron, Activation, Explanation); "required" are the NOT NULL columns
# without a default, which its importer (apps/webapp/app/api/admin/import/route.ts) cannot fill.
# additionalProperties is false: the importer drops unknown keys silently, so a misspelt name
# would vanish from the import rather than fail it.
STR, INT, NUM, BOOL = (
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
)
STRS, NUMS = {"type": "array", "items": STR}, {"type": "array", "items": NUM}
VISIBILITY = {"enum": ["PUBLIC", "UNLISTED", "PRIVATE"]}


def _schema(required: dict, optional: dict) -> dict:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **optional},
        "additionalProperties": False,
    }


SCHEMAS = {
    "release": _schema(
        {"name": STR, "description": STR, "creatorName": STR, "creatorId": STR},
        {"descriptionShort": STR, "urls": STRS, "visibility": VISIBILITY, "createdAt": STR},
    ),
    "model": _schema(
        {"id": STR, "creatorId": STR, "layers": INT, "neuronsPerLayer": INT, "owner": STR},
        {
            "displayName": STR,
            "dimension": INT,
            "visibility": VISIBILITY,
            "inferenceEnabled": BOOL,
            "createdAt": STR,
            "updatedAt": STR,
        },
    ),
    "sourceset": _schema(
        {"modelId": STR, "name": STR, "description": STR, "creatorName": STR, "creatorId": STR},
        {
            "type": STR,
            "releaseName": STR,
            "visibility": VISIBILITY,
            "hasDashboards": BOOL,
            "urls": STRS,
            "createdAt": STR,
        },
    ),
    "source": _schema(
        {"id": STR, "modelId": STR, "setName": STR, "creatorId": STR},
        {
            "hasDashboards": BOOL,
            "visibility": VISIBILITY,
            "num_prompts": INT,
            "notes": STR,
            "createdAt": STR,
        },
    ),
    "features": _schema(
        {"modelId": STR, "layer": STR, "index": {"type": "string", "pattern": "^[0-9]+$"}},
        {
            "creatorId": STR,
            "sourceSetName": STR,
            "hookName": STR,
            "maxActApprox": NUM,
            "frac_nonzero": {"type": "number", "minimum": 0, "maximum": 1},
            "freq_hist_data_bar_values": NUMS,
            "freq_hist_data_bar_heights": NUMS,
            "pos_str": STRS,
            "pos_values": NUMS,
            "neg_str": STRS,
            "neg_values": NUMS,
            "hasVector": BOOL,
            "createdAt": STR,
        },
    ),
    "activations": _schema(
        {
            "id": {"type": "string", "minLength": 25, "maxLength": 25},
            "modelId": STR,
            "layer": STR,
            "index": STR,
            "creatorId": STR,
            "maxValue": NUM,
            "maxValueTokenIndex": INT,
            "minValue": NUM,
        },
        {"tokens": STRS, "values": NUMS, "dataSource": STR, "createdAt": STR},
    ),
    "explanations": _schema(
        {
            "id": STR,
            "modelId": STR,
            "layer": STR,
            "index": STR,
            "description": STR,
            "authorId": STR,
        },
        {"typeName": STR, "explanationModelName": STR, "notes": STR, "createdAt": STR},
    ),
}


def _records(source: Path) -> dict[str, list[dict]]:
    """Every record of an export, by kind, read back as Neuronpedia's importer reads them."""
    out = {k: [json.loads((source / f"{k}.jsonl").read_text())] for k in list(SCHEMAS)[:4]}
    for kind in ("features", "activations", "explanations"):
        out[kind] = [
            json.loads(line)
            for path in sorted((source / kind).glob("batch-*.jsonl.gz"))
            for line in gzip.open(path, "rt")
        ]
    return out


@pytest.mark.slow
def test_the_gsae_export_matches_the_schema_and_the_evaluation(
    quick_build, quick_world, quick_workspace, tmp_path
):
    root, _ = quick_build
    ws = ["--quick", "--workspace", str(root)]
    run_cli("autointerp", *ws, "--split", "physics_test", "--features", "3", "--json")
    cmd = ["export", "neuronpedia", *ws, "--split", "physics_test", "--out", str(tmp_path)]
    out = json.loads(run_cli(*cmd, "--batch-features", "200", "--json").stdout)
    source = Path(out["path"])
    assert source == tmp_path / "ssae-demo-lm" / "1-res-gsae"
    records = _records(source)
    for kind, rows in records.items():
        for row in rows:
            jsonschema.validate(row, SCHEMAS[kind])
    d_sae = quick_world.gsae.cfg.d_sae
    assert len(list((source / "features").glob("*.gz"))) == -(-d_sae // 200)
    features = records["features"]
    assert [int(r["index"]) for r in features] == list(range(d_sae))
    assert {r["layer"] for rows in records.values() for r in rows if "layer" in r} == {"1-res-gsae"}
    assert records["source"][0]["setName"] == records["sourceset"][0]["name"] == "res-gsae"
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import named_split
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    table = load_features(
        find_eval(quick_workspace, base, base.ref, named_split(quick_world, "physics_test"))
    ).set_index("feature")
    by_feature: dict[str, list[dict]] = {}
    for a in records["activations"]:
        by_feature.setdefault(a["index"], []).append(a)
        assert len(a["tokens"]) == len(a["values"])
        assert a["maxValue"] == max(a["values"]) == a["values"][a["maxValueTokenIndex"]]
        assert a["minValue"] == min(a["values"]) and a["tokens"][1].startswith(" ")
    for r in features:
        row = table.loc[int(r["index"])]
        assert r["frac_nonzero"] == pytest.approx(row.frequency)
        assert r["maxActApprox"] == pytest.approx(row.max_act)
        assert sum(r["freq_hist_data_bar_heights"]) == row["count"]
        assert r["pos_values"] == sorted(r["pos_values"], reverse=True)
        assert (
            r["neg_values"] == sorted(r["neg_values"]) and r["neg_values"][0] < r["pos_values"][0]
        )
        examples = by_feature.get(r["index"], [])
        assert len(examples) == (min(10, len(row.top_doc)) if row["count"] else 0)
        if examples:  # the top example holds the split's peak activation
            assert examples[0]["maxValue"] == pytest.approx(row.max_act, rel=1e-4)
    explained = records["explanations"]
    from ssae_core.analysis.autointerp.run import stored_results

    stored = {
        (r["feature"], r["backend"], r["explanation"])
        for r in stored_results(quick_workspace, [base.ref])
        if r["status"] == "ok"
    }
    assert len(explained) == out["explanations"] == len(stored) >= 3, "each stored explanation"
    assert len({e["id"] for e in explained}) == len(explained)
    assert all("F1" in e["notes"] for e in explained)
    again = json.loads(run_cli(*cmd, "--batch-features", "200", "--json").stdout)
    assert _records(Path(again["path"]))["activations"][0]["id"] == records["activations"][0]["id"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model-id", "My Model"], "use lower-case letters"),
        (["--sae", "ssae/nothing"], "No ssae artifact"),
        (["--examples", "0"], "must be at least 1"),
    ],
)
def test_bad_export_values_are_one_message(quick_build, tmp_path, flags, message):
    root, _ = quick_build
    cmd = ["export", "neuronpedia", "--quick", "--workspace", str(root), "--split", "physics_test"]
    proc = run_cli(*cmd, "--out", str(tmp_path), *flags, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing written"
