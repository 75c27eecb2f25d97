"""Loading the base model + GSAE from local directories, and clear failures."""

import json
import time

import pytest
import torch
from helpers import standard_sae
from safetensors.torch import load_file, save_file

from ssae_core.demo.world import copy_base
from ssae_core.infra.errors import LoadError
from ssae_core.models import base, model_io


def _sae_dir(tmp_path, d_in, hook="blocks.0.hook_resid_post", name="sae"):
    sae = standard_sae(d_in, 4 * d_in, hook)
    out = tmp_path / name
    sae.save_model(out)
    return out


def test_hf_directory_loads_and_matches_transformers(hf_dir, tmp_path):
    path, reference = hf_dir
    spec = base.BaseSpec(source="local", model_dir=str(path), sae_dir=str(_sae_dir(tmp_path, 32)))
    loaded = base.load_base(spec, device="cpu")
    ids = torch.tensor([[0, 4, 5, 6, 7]])
    ours = loaded.model(ids).log_softmax(-1)
    theirs = reference(ids).logits.log_softmax(-1)
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert loaded.hook_name == "blocks.0.hook_resid_post"
    assert loaded.sae.cfg.d_in == 32 and loaded.tokenizer is not None


def test_project_format_directory_round_trips(quick_world, tmp_path):
    copy_base(quick_world, tmp_path)
    spec = base.BaseSpec(
        source="local", model_dir=str(tmp_path / "model"), sae_dir=str(tmp_path / "sae")
    )
    loaded = base.load_base(spec, device="cpu")
    tokens = torch.tensor(
        [[quick_world.tokenizer.bos_token_id, *quick_world.split_tokens("general_test")[0][:20]]]
    )
    assert torch.equal(loaded.model(tokens), quick_world.model(tokens))
    assert torch.equal(loaded.sae.W_dec, quick_world.gsae.W_dec)
    assert loaded.hook_name == quick_world.hook_name


def test_sae_width_mismatch_is_explained(hf_dir, tmp_path):
    path, _ = hf_dir
    spec = base.BaseSpec(source="local", model_dir=str(path), sae_dir=str(_sae_dir(tmp_path, 48)))
    with pytest.raises(LoadError, match="d_in=48.*width 32"):
        base.load_base(spec, device="cpu")


def test_sae_hook_missing_from_model_is_explained(hf_dir, tmp_path):
    path, _ = hf_dir
    spec = base.BaseSpec(
        source="local",
        model_dir=str(path),
        sae_dir=str(_sae_dir(tmp_path, 32, "blocks.9.hook_resid_post")),
    )
    with pytest.raises(LoadError, match="blocks.9.hook_resid_post"):
        base.load_base(spec, device="cpu")


def test_not_an_sae_or_model_directory(tmp_path):
    (tmp_path / "cfg.json").write_text("{}")
    with pytest.raises(LoadError, match="sae_weights.safetensors is missing"):
        model_io.load_sae_dir(tmp_path)
    with pytest.raises(LoadError, match="neither tl_config.json"):
        model_io.load_model_dir(tmp_path / "nothing-here")


def _edit_cfg(d, **changes):
    cfg = json.loads((d / "cfg.json").read_text())
    (d / "cfg.json").write_text(json.dumps({**cfg, **changes}))


def _poison(value):
    def edit(d):
        weights = load_file(d / "sae_weights.safetensors")
        weights["W_dec"][3, 1] = value
        save_file(weights, d / "sae_weights.safetensors")

    return edit


def _truncate(d):
    data = (d / "sae_weights.safetensors").read_bytes()
    (d / "sae_weights.safetensors").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: (d / "cfg.json").unlink(), "cfg.json is missing"),
        (lambda d: (d / "cfg.json").write_text("{not json"), "cfg.json is not valid JSON"),
        (lambda d: (d / "cfg.json").write_text("[1, 2]"), "d_in and d_sae as positive integers"),
        (lambda d: _edit_cfg(d, d_sae=-4), "d_in and d_sae as positive integers"),
        (
            lambda d: _edit_cfg(d, d_sae=10**9),
            r"W_enc .* has shape \(8, 32\).*needs \(8, 1000000000\)",
        ),
        (lambda d: _edit_cfg(d, d_in=16), r"The config does not belong to these weights"),
        (_truncate, "truncated or not a safetensors file"),
        (lambda d: (d / "sae_weights.safetensors").write_bytes(b"\x00" * 64), "truncated or not"),
        (_poison(float("nan")), "W_dec holds NaN or infinite values"),
        (_poison(float("inf")), "W_dec holds NaN or infinite values"),
    ],
    ids=[
        "no-cfg",
        "bad-json",
        "not-object",
        "negative",
        "absurd-width",
        "wrong-d_in",
        "truncated",
        "garbage",
        "nan",
        "inf",
    ],
)
def test_a_damaged_sae_directory_is_one_clear_message(tmp_path, damage, match):
    d = _sae_dir(tmp_path, 8)
    model_io.load_sae_dir(d)  # intact, it loads
    damage(d)
    with pytest.raises(LoadError, match=match):
        model_io.load_sae_dir(d)


def test_unknown_release_and_sae_id_offline_fast():
    start = time.time()
    with pytest.raises(LoadError, match="Unknown SAELens release"):
        base.load_base(
            base.BaseSpec(source="release", release="no-such-release", sae_id="x"), device="cpu"
        )
    with pytest.raises(LoadError, match="has no SAE 'nope'"):
        base.load_base(
            base.BaseSpec(source="release", release="gpt2-small-res-jb", sae_id="nope"),
            device="cpu",
        )
    with pytest.raises(LoadError, match="Unknown TransformerLens model"):
        base.load_base(
            base.BaseSpec(
                source="release",
                release="gpt2-small-res-jb",
                sae_id="blocks.8.hook_resid_pre",
                model_name="not-a-model",
            ),
            device="cpu",
        )
    assert time.time() - start < 10


def test_hub_model_offline_names_the_alternatives(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens there
    start = time.time()
    with pytest.raises(LoadError, match="demo world.*local directories"):
        base.load_base(
            base.BaseSpec(
                source="release", release="gpt2-small-res-jb", sae_id="blocks.8.hook_resid_pre"
            ),
            device="cpu",
        )
    assert time.time() - start < 10


def test_unknown_source():
    with pytest.raises(LoadError, match="Unknown base source"):
        base.load_base(base.BaseSpec(source="ftp"), device="cpu")


@pytest.mark.parametrize(
    "spec",
    [
        base.BaseSpec(),
        base.BaseSpec(quick=True),
        base.BaseSpec(
            source="release",
            release="gpt2-small-res-jb",
            sae_id="blocks.8.hook_resid_pre",
            model_name="gpt2",
        ),
        base.BaseSpec(source="local", model_dir="/data/my model", sae_dir="/data/sae"),
    ],
)
def test_cli_args_name_the_same_base(spec):
    from ssae_core.cli import build_parser
    from ssae_core.cli.common import base_spec
    from ssae_core.cli.launch import base_args

    args = build_parser().parse_args(["evaluate", *base_args(spec), "--split", "physics_test"])
    assert base_spec(args) == spec


def test_saved_spec_round_trips_and_defaults(tmp_path):
    from ssae_core.infra.workspace import Workspace

    ws = Workspace(tmp_path)
    default = base.BaseSpec(quick=True)
    assert base.saved_spec(ws, default) == default
    spec = base.BaseSpec(source="local", model_dir="m", sae_dir="s")
    base.save_spec(ws, spec)
    assert base.saved_spec(ws, default) == spec
