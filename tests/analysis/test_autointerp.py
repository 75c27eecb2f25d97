"""Autointerp: the real anthropic client through an httpx2.MockTransport, parsing, caching, F1,
example sampling."""

import asyncio
import json
import math

import httpx2
import numpy as np
import pytest
from helpers import KEY, message

from ssae_core.analysis.autointerp import prompts
from ssae_core.analysis.autointerp.backends import (
    AutointerpError,
    ClaudeBackend,
    ClaudeConfig,
    OfflineBackend,
    find_api_key,
)
from ssae_core.analysis.autointerp.examples import (
    Example,
    FeatureExamples,
    build_examples,
    marked,
    plain,
    top_windows,
    words,
)
from ssae_core.analysis.autointerp.run import estimate, f1_scores, run_sync, score_features
from ssae_core.infra.workspace import Workspace


class FakeClaude:
    """A mock Messages API: answers the interpreter and the predictor, records every request."""

    def __init__(
        self,
        explain="The feature fires on physics words.\nEXPLANATION: physics particles",
        predict=None,
        fail_first=0,
        status=429,
        delay=0.0,
    ):
        self.requests, self.explain, self.predict = [], explain, predict
        self.fail_first, self.status, self.delay = fail_first, status, delay
        self.in_flight = self.max_in_flight = 0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append((request, body))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if len(self.requests) <= self.fail_first:
            kind = {429: "rate_limit_error", 401: "authentication_error", 529: "overloaded_error"}[
                self.status
            ]
            return httpx2.Response(
                self.status,
                headers={"retry-after-ms": "1"},
                json={"type": "error", "error": {"type": kind, "message": "no"}},
            )
        if body["system"][0]["text"] == prompts.INTERPRETER_SYSTEM:
            return httpx2.Response(200, json=message(self.explain))
        n = body["messages"][0]["content"].count("\n") - 4  # excerpt lines
        return httpx2.Response(
            200, json=message(self.predict if self.predict is not None else json.dumps([1] * n))
        )


def backend(fake, **cfg):
    return ClaudeBackend(
        ClaudeConfig(model="claude-test", **cfg),
        api_key=KEY,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(fake)),
    )


def examples(feature=3, n_held=4) -> FeatureExamples:
    on = Example(("the", "quark", "spin", "is"), (0.0, 1.5, 0.7, 0.0), 0, 0)
    off = Example(("a", "cat", "sat", "down"), (0.0, 0.0, 0.0, 0.0), 1, 0)
    held = tuple([on, off] * (n_held // 2))
    return FeatureExamples(feature, (on,) * 3, held, ("quark", "gluon"))


def run(coro):
    return run_sync(coro)


def test_request_shape_and_the_explain_predict_round_trip(tmp_path):
    fake = FakeClaude()
    b = backend(fake)
    [result] = run(score_features(Workspace(tmp_path), b, "sae/x", [examples()], cfg=b.cfg))
    assert result["status"] == "ok" and result["explanation"] == "physics particles"
    (_, explain), (_, predict) = fake.requests
    assert (
        explain["model"] == "claude-test"
        and explain["max_tokens"] == ClaudeConfig().explain_max_tokens
    )
    assert explain["system"][0]["cache_control"] == {"type": "ephemeral"}, (
        "the fixed prompt is sent for caching"
    )
    assert (
        "the <<quark spin>> is" in explain["messages"][0]["content"]
        and "'gluon'" in explain["messages"][0]["content"]
    )
    assert (
        predict["system"][0]["text"] == prompts.PREDICTOR_SYSTEM
        and predict["max_tokens"] == ClaudeConfig().predict_max_tokens
    )
    assert (
        "<<" not in predict["messages"][0]["content"]
        and "Feature description: physics particles" in predict["messages"][0]["content"]
    )
    assert result["truth"] == [1, 0, 1, 0] and result["predictions"] == [1, 1, 1, 1]
    assert (
        result["f1"] == pytest.approx(2 / 3)
        and result["precision"] == 0.5
        and result["recall"] == 1.0
    )


def test_a_429_is_retried_then_succeeds(tmp_path):
    fake = FakeClaude(fail_first=1, status=429)
    [result] = run(score_features(Workspace(tmp_path), backend(fake), "sae/x", [examples()]))
    assert result["status"] == "ok" and len(fake.requests) == 3


def test_an_auth_error_is_a_clear_message_without_the_key(tmp_path):
    fake = FakeClaude(fail_first=10, status=401)
    with pytest.raises(AutointerpError, match="rejected the API key") as err:
        run(score_features(Workspace(tmp_path), backend(fake), "sae/x", [examples()]))
    assert KEY not in str(err.value) and len(fake.requests) == 1, (
        "authentication errors are not retried"
    )


def test_a_malformed_answer_gets_one_reminder_then_is_recorded_as_a_failure(tmp_path):
    fake = FakeClaude(explain="I think it is about physics.")
    [result] = run(score_features(Workspace(tmp_path), backend(fake), "sae/x", [examples()]))
    assert (
        result["status"] == "failed: explanation unparseable"
        and result["raw"] == "I think it is about physics."
    )
    assert len(fake.requests) == 2
    retry = fake.requests[1][1]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"] and retry[2][
        "content"
    ] == prompts.EXPLAIN_REMINDER
    bad_list = FakeClaude(predict="[1, 0]")  # wrong length, twice
    [result] = run(
        score_features(Workspace(tmp_path / "b"), backend(bad_list), "sae/x", [examples()])
    )
    assert result["status"] == "failed: predictions unparseable" and "f1" not in result


def test_concurrency_is_bounded(tmp_path):
    fake = FakeClaude(delay=0.05)
    run(
        score_features(
            Workspace(tmp_path),
            backend(fake, concurrency=3),
            "sae/x",
            [examples(feature=i) for i in range(12)],
        )
    )
    assert len(fake.requests) == 24 and fake.max_in_flight == 3


def test_stored_results_skip_calls_and_the_key_never_reaches_a_file(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    fake = FakeClaude()
    first = run(score_features(ws, backend(fake), "sae/x", [examples(feature=i) for i in range(3)]))
    again = run(score_features(ws, backend(fake), "sae/x", [examples(feature=i) for i in range(3)]))
    assert len(fake.requests) == 6 and [r["f1"] for r in again] == [r["f1"] for r in first]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="ignore"), path
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AutointerpError, match="No Anthropic API key"):
        ClaudeBackend(ClaudeConfig())
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'ANTHROPIC_API_KEY = "{KEY}"\n')
    assert find_api_key() == KEY


def test_budget_cap_stops_starting_features(tmp_path):
    fake = FakeClaude()
    cfg = ClaudeConfig(concurrency=1)
    per_feature = estimate([examples()], cfg)["usd"]
    rows = run(
        score_features(
            Workspace(tmp_path),
            backend(fake, concurrency=1),
            "sae/x",
            [examples(feature=i) for i in range(6)],
            budget_usd=1.2 * per_feature,
            cfg=cfg,
        )
    )
    statuses = [r["status"] for r in rows]
    assert statuses.count("ok") == 2 and statuses.count("skipped: budget reached") == 4, (
        "real usage (far below the estimate) is counted"
    )
    assert len(fake.requests) == 2 * statuses.count("ok")


def test_f1_on_hand_made_cases():
    assert f1_scores([1, 1, 0, 0], [1, 1, 0, 0]) == {
        "f1": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "accuracy": 1.0,
    }
    assert f1_scores([1, 1, 0, 0], [1, 0, 1, 0]) == {
        "f1": 0.5,
        "precision": 0.5,
        "recall": 0.5,
        "accuracy": 0.5,
    }
    assert f1_scores([1, 0, 0, 0], [0, 0, 0, 0])["f1"] == 0.0
    assert f1_scores([1, 1, 1, 0], [1, 1, 1, 1]) == pytest.approx(
        {"f1": 6 / 7, "precision": 0.75, "recall": 1.0, "accuracy": 0.75}
    )


def test_marking_spans_and_bpe_spacing():
    words = Example(("a", "b", "c", "d", "e"), (0, 1, 1, 0, 2), 0, 0)
    assert marked(words) == "a <<b c>> d <<e>>" and plain(words) == "a b c d e"
    bpe = Example((" The", " qu", "ark", " spins"), (0, 1, 1, 0), 0, 0)
    assert marked(bpe) == "The <<quark>> spins"


def test_sub_word_pieces_count_as_the_words_they_make():
    bpe = Example((" The", " bos", "ons", ".", " Bos", "ons", "!"), (0, 0, 2, 0, 1, 0, 0), 0, 0)
    assert words(bpe.tokens, bpe.acts) == [
        ("the", 0),
        ("bosons", 2),
        (".", 0),
        ("bosons", 1),
        ("!", 0),
    ]
    plain_words = Example(("bos", "ons", "."), (1, 0, 0), 0, 0)
    assert [w for w, _ in words(plain_words.tokens, plain_words.acts)] == ["bos", "ons", "."]
    b = OfflineBackend()
    fx = FeatureExamples(
        7,
        (bpe, Example((" bos", "ons", " decay"), (0, 3, 0), 1, 0)),
        (Example((" a", " bos", "ons"), (0, 0, 1), 2, 0), Example((" bos", "ses"), (0, 0), 3, 0)),
        (),
    )
    explained = run(b.explain(fx)).value
    assert explained == "tokens: bosons", "whole words, not the pieces 'bos' or 'ons'"
    assert run(b.predict(explained, fx.held_out)).value == [1, 0], "'bosses' is not 'bosons'"


def test_offline_baseline_explains_from_activating_tokens():
    b = OfflineBackend()
    fx = examples()
    explained = run(b.explain(fx))
    assert "quark" in explained.value and "the" not in explained.value.split(" | ")
    assert run(b.predict(explained.value, fx.held_out)).value == [1, 0, 1, 0]


@pytest.mark.slow
def test_example_sampling_quintiles_no_overlap_and_determinism(quick_world, quick_workspace):
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import evaluate, load_features, named_split, split_docs
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    art = evaluate(
        quick_workspace,
        base,
        [NamedSAE(base.ref, "GSAE", base.sae)],
        named_split(quick_world, "physics_test"),
    )[base.ref]
    table = load_features(art).set_index("feature")
    rare = [int(j) for j in table.index[(table["count"] > 0)][:3]]
    docs = split_docs(art)
    a = build_examples(base, base.sae, docs, table, rare, seed=0)
    b = build_examples(base, base.sae, docs, table, rare, seed=0)
    c = build_examples(base, base.sae, docs, table, rare, seed=1)
    assert [x.digest() for x in a] == [x.digest() for x in b] and [x.digest() for x in a] != [
        x.digest() for x in c
    ]
    for fx in a:
        tops = list(table.loc[fx.feature].top_doc)
        explain_docs = {e.doc for e in fx.explain}
        assert [e.doc for e in fx.explain] == tops[:10]
        positives = [e for e in fx.held_out if e.doc in tops[10:] and e.active]
        assert len(positives) == 5 and not explain_docs & {e.doc for e in positives}
        ranks = sorted(tops.index(e.doc) - 10 for e in positives)
        quintile = np.array_split(np.arange(len(tops) - 10), 5)
        assert [r in q for r, q in zip(ranks, quintile)] == [True] * 5, (
            "one from each quintile of the rest"
        )
        assert all(not e.active for e in fx.held_out if e not in positives)
        browser = top_windows(base, base.sae, docs, table, fx.feature)
        assert [(w.doc, w.start, w.tokens) for w in browser] == [
            (e.doc, e.start, e.tokens) for e in fx.explain
        ], "the browser shows what autointerp explains"
        assert all(np.allclose(w.acts, e.acts, atol=1e-4) for w, e in zip(browser, fx.explain)), (
            "same activations from a pass over fewer documents"
        )


def test_autointerp_cli_offline_end_to_end(quick_build, tmp_path):
    from helpers import run_cli

    root, _ = quick_build
    out = tmp_path / "scores.json"
    args = [
        "autointerp",
        "--quick",
        "--workspace",
        str(root),
        "--split",
        "physics_test",
        "--features",
        "4",
    ]
    res = json.loads(run_cli(*args, "--out", str(out), "--json").stdout)
    assert res["backend"].startswith("offline-baseline") and len(res["results"]) == 4
    assert all(r["status"] == "ok" and 0 <= r["f1"] <= 1 for r in res["results"])
    for name in ("detection", "fuzzing", "embedding"):  # NaN: a feature with no silent window
        values = [r[name] for r in res["results"] if not math.isnan(r[name])]
        assert values and all(0 <= v <= 1 for v in values), name
    assert len(json.loads(out.read_text())) == 4
    est = json.loads(run_cli(*args, "--estimate", "--json").stdout)
    assert est["features"] == 4 and est["usd"] > 0
    proc = run_cli(*args, "--backend", "claude", check=False, env_remove=("ANTHROPIC_API_KEY",))
    assert proc.returncode == 1 and "No Anthropic API key" in proc.stderr


def test_run_sync_works_inside_a_running_event_loop():
    async def inner():
        await asyncio.sleep(0)
        return 7

    async def outer():  # e.g. a Jupyter cell: a loop is already running in this thread
        return run_sync(inner())

    assert asyncio.run(outer()) == 7 and run_sync(inner()) == 7


class FakeBatches:
    """A mock Message Batches API: create, retrieve (in progress once, then ended), JSONL results in
    reverse order."""

    def __init__(self, explain_replies):
        self.explain_replies = list(explain_replies)  # consumed in order by interpreter requests
        self.batches, self.polls = {}, 0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/messages/batches":
            bid = f"msgbatch_{len(self.batches)}"
            self.batches[bid] = json.loads(request.content)["requests"]
            return httpx2.Response(200, json=self.batch(bid, "in_progress"))
        bid = path.split("/")[4]
        if path.endswith("/results"):
            lines = [
                json.dumps(
                    {
                        "custom_id": r["custom_id"],
                        "result": {
                            "type": "succeeded",
                            "message": message(self.answer(r["params"])),
                        },
                    }
                )
                for r in self.batches[bid]
            ]
            return httpx2.Response(
                200,
                content="\n".join(reversed(lines)).encode(),
                headers={"content-type": "application/binary"},
            )
        self.polls += 1
        return httpx2.Response(200, json=self.batch(bid, "ended"))

    def answer(self, params):
        if params["system"][0]["text"] == prompts.INTERPRETER_SYSTEM:
            return (
                self.explain_replies.pop(0) if self.explain_replies else "EXPLANATION: quark words"
            )
        n = params["messages"][0]["content"].count("\n") - 4
        return json.dumps([1, 0] * (n // 2))

    @staticmethod
    def batch(bid, status):
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": status,
            "created_at": "2026-11-21T00:00:00Z",
            "expires_at": "2026-11-22T00:00:00Z",
            "request_counts": {
                "processing": 0,
                "succeeded": 1,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "ended_at": None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": (
                f"https://api.anthropic.com/v1/messages/batches/{bid}/results"
                if status == "ended"
                else None
            ),
        }


def test_message_batches_match_results_by_id_and_remind_once(tmp_path):
    from ssae_core.analysis.autointerp.run import score_features_batched

    fake = FakeBatches(
        ["no explanation line here", "EXPLANATION: quark words", "EXPLANATION: gluon words"]
    )
    b = backend(fake)
    fxs = [examples(feature=i) for i in (4, 9)]
    rows = run(score_features_batched(Workspace(tmp_path), b, "sae/x", fxs, poll_s=0.0))
    assert [r["feature"] for r in rows] == [4, 9] and all(r["status"] == "ok" for r in rows)
    assert {r["explanation"] for r in rows} == {
        "quark words",
        "gluon words",
    }, "results matched by custom_id despite reversed order"
    assert [len(reqs) for reqs in fake.batches.values()] == [
        2,
        1,
        2,
    ], "explain batch, one reminder batch, predict batch"
    reminder = fake.batches["msgbatch_1"][0]["params"]["messages"]
    assert reminder[-1]["content"] == prompts.EXPLAIN_REMINDER and fake.polls >= 3
    assert all(r["f1"] == 1.0 for r in rows)
    again = run(score_features_batched(Workspace(tmp_path), b, "sae/x", fxs, poll_s=0.0))
    assert again == rows and len(fake.batches) == 3, "stored results: no new batch"
    assert estimate(fxs, ClaudeConfig(), batches=True)["usd"] == pytest.approx(
        estimate(fxs, ClaudeConfig())["usd"] / 2
    )


def test_one_feature_is_explained_scored_and_stored_like_a_batch_run(
    quick_world, quick_workspace, tmp_path
):
    """The feature browser's Explain & score: an explanation with its F1, and every scorer's
    value for that explanation; a second call reuses what is stored."""
    from ssae_core.analysis.autointerp.feature import explain_and_score, explanation_scores
    from ssae_core.analysis.autointerp.run import SCORERS, stored_results
    from ssae_core.demo.world import world_base
    from ssae_core.evaluate.evaluation import evaluate, load_features, named_split
    from ssae_core.evaluate.sae_set import NamedSAE
    from ssae_core.infra.workspace import Workspace
    from ssae_core.models.base import BaseSpec

    base = world_base(quick_world, BaseSpec(quick=True))
    gsae = NamedSAE(base.ref, "GSAE", base.sae)
    split = named_split(quick_world, "physics_test")
    table = load_features(evaluate(quick_workspace, base, [gsae], split)[base.ref])
    feature = int(table.sort_values("count").feature[table["count"] > 20].iloc[0])
    ws = Workspace(tmp_path / "ws")
    (result,) = explain_and_score(ws, base, gsae, split, feature, OfflineBackend())
    assert result["feature"] == feature and result["status"] == "ok" and result["explanation"]
    assert 0 <= result["f1"] <= 1
    assert stored_results(ws, [base.ref]) == [result]
    scores = explanation_scores(ws, base.ref, result)
    assert set(scores) == set(SCORERS) and all(0 <= v <= 1 for v in scores.values())
    assert explain_and_score(ws, base, gsae, split, feature, OfflineBackend()) == [result]
