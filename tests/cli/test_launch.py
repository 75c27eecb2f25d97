"""Job specs: one place names each background job, its command line, resource and device."""

from ssae_core.cli import build_parser, launch
from ssae_core.cli import finetune as finetune_cli
from ssae_core.cli.common import base_spec
from ssae_core.models.base import BaseSpec

LOCAL = BaseSpec(source="local", model_dir="/m", sae_dir="/s")


def test_the_same_request_is_the_same_job_and_another_is_not():
    a = launch.select(LOCAL, "seeds.txt", "demo", "bm25", 2000)
    assert a == launch.select(LOCAL, "seeds.txt", "demo", "bm25", 2000.0)
    assert a.name.startswith("select-") and a.resource == ""
    assert a.name != launch.select(LOCAL, "seeds.txt", "demo", "dense", 2000).name


def test_training_jobs_hold_the_device_they_train_on(monkeypatch):
    monkeypatch.setenv("SSAE_DEVICE", "cpu")
    job = launch.finetune(BaseSpec(quick=True), "selection/k", "term", "1,2", 40, "5")
    assert job.resource == "train:cpu"
    assert job.argv[-2:] == ("--device", "cpu")
    args = build_parser().parse_args(list(job.argv))
    assert (args.objective, args.tilt, args.steps, args.quick) == ("term", 5.0, 40, True)
    by_ess = launch.finetune(BaseSpec(quick=True), "selection/k", "term", "1", 40, "0.2", "ess")
    args = build_parser().parse_args(list(by_ess.argv))
    assert (args.tilt, args.target_ess) == (0.0, 0.2) and by_ess.name != job.name
    sweep = launch.finetune(BaseSpec(quick=True), "selection/k", "term", "1", 40, "0.5,0.1", "ess")
    cfg = finetune_cli.check(build_parser().parse_args(list(sweep.argv)))
    assert cfg.curve_labels == ["ESS 0.5", "ESS 0.1"] and cfg.decay_steps == 40 // 5
    demo = launch.demo_ssaes(BaseSpec(), "physics", "bm25")
    assert demo.name == launch.DEMO_SSAES and demo.resource == "train:cpu"


def test_sae_refs_become_artifacts_and_the_gsae_flag():
    refs = ["ssae/abc#0", "ssae/abc#1", "ssae/def#0"]
    only_ssaes = build_parser().parse_args(list(launch.evaluate(LOCAL, refs, ["t.txt"]).argv))
    assert only_ssaes.ssae == ["ssae/abc", "ssae/def"] and only_ssaes.no_gsae
    assert base_spec(only_ssaes) == LOCAL and only_ssaes.split == ["t.txt"]
    with_gsae = launch.autointerp(LOCAL, ["sae/g", *refs], "t.txt", 5, "offline", "m")
    args = build_parser().parse_args(list(with_gsae.argv))
    assert not args.no_gsae and args.features == 5
