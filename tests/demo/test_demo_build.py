"""End to end: ``python -m ssae_core demo build --quick`` as a user runs it."""

import json
from pathlib import Path

from helpers import run_cli

from ssae_core.demo import corpus


def _manifests(root):
    """The demo world's own five artifacts (other tests add selections, caches, GSAE widths, ... to
    the shared workspace)."""
    from ssae_core.demo.world import DemoConfig, find
    from ssae_core.infra.workspace import Workspace

    world = find(DemoConfig.quick(), Workspace(root))
    arts = [world.corpus_art, world.tokenizer_art, world.lm_art, world.gsae_art, world.report_art]
    return {a.path / "manifest.json": (a.path / "manifest.json").stat().st_mtime_ns for a in arts}


def test_quick_build_summary_has_the_numbers(quick_build):
    _, summary = quick_build
    assert summary["corpus"]["concepts"] >= 200
    lm, g = summary["lm"], summary["gsae"]
    assert 0 < lm["heldout_ce"] < lm["unigram_ce"]
    assert g["d_sae"] >= 8 * g["d_in"]
    for key in [
        "l0",
        "explained_variance",
        "dead_fraction",
        "ce_clean",
        "ce_spliced",
        "ce_zero_ablation",
        "ce_loss_recovered",
    ]:
        assert isinstance(g[key], float)
    assert g["ce_clean"] <= g["ce_spliced"] <= g["ce_zero_ablation"]
    buckets = [row["bucket"] for row in summary["recall_by_bucket"]]
    assert buckets == [b for b in corpus.BUCKETS if b in buckets]
    assert sum(row["concepts"] for row in summary["recall_by_bucket"]) > 150
    steps = summary["step_seconds"]
    assert list(steps) == ["corpus", "tokenizer", "LM", "GSAE", "report"]
    assert all(s > 0 for s in steps.values())


def test_second_build_reuses_every_artifact(quick_build):
    root, first = quick_build
    before = _manifests(root)
    assert len(before) == 5
    again = json.loads(
        run_cli("demo", "build", "--quick", "--json", "--workspace", str(root)).stdout
    )
    assert _manifests(root) == before
    assert again["gsae"] == first["gsae"]


def test_human_summary_and_bad_workspace(quick_build, tmp_path):
    root, _ = quick_build
    text = run_cli("demo", "build", "--quick", "--workspace", str(root)).stdout
    assert "CE loss recovered" in text and "unigram" in text
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run_cli("demo", "build", "--quick", "--workspace", str(blocker / "ws"), check=False)
    assert proc.returncode == 1
    assert "not writable" in proc.stderr and "Traceback" not in proc.stderr


def test_select_command_on_the_demo_world(quick_build, tmp_path):
    root, _ = quick_build
    out = json.loads(
        run_cli(
            *"select --seeds demo:physics --method bm25 --tokens 1500 --quick --json".split(),
            "--workspace",
            str(root),
        ).stdout
    )
    assert out["method"] == "bm25" and out["tokens"] >= 1500
    assert out["precision"] > 0.5 and len(out["top"]) == 5
    assert out["seeds"]["source"] == "demo:physics_seed"
    bad = run_cli(
        "select", "--seeds", "demo:chemistry", "--quick", "--workspace", str(root), check=False
    )
    assert (
        bad.returncode == 1
        and "no split 'chemistry_seed'" in bad.stderr
        and "Traceback" not in bad.stderr
    )
    missing = run_cli(
        "select",
        "--seeds",
        str(tmp_path / "nope.txt"),
        "--quick",
        "--workspace",
        str(root),
        check=False,
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_the_first_build_evaluates_the_gsae_on_every_test_split(quick_world, quick_workspace):
    """So Features, Tail tokens and Error norms work right after the first launch."""
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import find_eval, named_split
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    for split in quick_world.test_splits:
        assert find_eval(quick_workspace, base, base.ref, named_split(quick_world, split)), split


def test_demo_ssaes_builds_and_evaluates_the_comparison_in_one_command(quick_build, quick_world):
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import find_eval, named_split
    from ssae_core.evaluate.sae_set import sae_set
    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import BaseSpec

    root, _ = quick_build
    cmd = "demo ssaes --quick --subdomain physics --method bm25 --device cpu --json".split()
    paths = json.loads(run_cli(*cmd, "--workspace", str(root)).stdout)
    ws = Workspace(root)
    base = world_base(quick_world, BaseSpec(quick=True))
    saes = sae_set(ws, base, [ws.open(Path(paths[k])) for k in ("erm", "term")])
    assert len(saes) == 1 + 2 * 2, "the GSAE and both two-value sweeps"
    for split in ("physics_test", "physics_ood"):
        for sae in saes:
            assert find_eval(ws, base, sae.ref, named_split(quick_world, split)), (sae.label, split)


def test_rare_token_coverage_against_a_plain_count(quick_build, quick_world):
    """The report's rare-token coverage, recounted word by word: the tokens seen least often in
    physics_test (the rarest log-spaced bucket), and which of them some feature that fires there
    puts in its logit-lens top 10 (final LN's centering and scale, then W_U)."""
    import numpy as np
    import torch

    from ssae_core.demo.report import rare_token_coverage

    _, summary = quick_build
    world, split = quick_world, "physics_test"
    got = rare_token_coverage(world, split, k=10)
    assert summary["rare_token_coverage"][split] == got._asdict()
    docs = world.split_tokens(split)
    counts = {}
    for t in np.concatenate(docs).tolist():
        counts[t] = counts.get(t, 0) + 1
    second_edge = int(np.floor(np.geomspace(1, max(counts.values()) + 1, 9))[1])
    rarest = {t for t, c in counts.items() if c < max(second_edge, 2)}
    model, sae = world.model, world.gsae
    fired = set()
    with torch.no_grad():
        for d in docs:
            _, cache = model.run_with_cache(torch.tensor([[world.tokenizer.bos_token_id, *d]]))
            acts = cache[world.hook_name][0, 1:]
            fired |= set(torch.nonzero(sae.encode(acts).amax(0) > 0).flatten().tolist())
        covered = set()
        for j in fired:
            v = sae.W_dec[j] - sae.W_dec[j].mean()
            logits = (v * model.ln_final.w) @ model.W_U
            covered |= set(logits.topk(10).indices.tolist())
    assert got.tokens == len(rarest) > 20
    assert got.covered == len(rarest & covered)
