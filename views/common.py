"""What every page shares: the workspace, and cached handles on built artifacts."""

import json
import os

import streamlit as st

from ssae_core.cli import launch
from ssae_core.cli.launch import JobSpec
from ssae_core.demo import world as demo_world
from ssae_core.demo.world import DemoWorld
from ssae_core.infra import jobs
from ssae_core.infra.errors import LoadError
from ssae_core.infra.workspace import Workspace, resolve_root
from ssae_core.models import base as base_module
from ssae_core.models.base import Base, BaseSpec, saved_spec
from ssae_core.models.source import BaseData
from ssae_core.select import uploads


def workspace() -> Workspace:
    """The workspace named by ``$SSAE_WORKSPACE`` (default ``cache/``), one object per root."""
    return _workspace(str(resolve_root()))


@st.cache_resource
def _workspace(root: str) -> Workspace:
    return Workspace(root)


def demo_config() -> demo_world.DemoConfig:
    """The full demo world, or the miniature one when ``SSAE_DEMO=quick`` (tests, quick looks)."""
    return demo_world.DemoConfig.quick() if quick() else demo_world.DemoConfig()


def base_spec(ws: Workspace) -> BaseSpec:
    """The workspace's base: the one chosen on Home (``base.json``), else the demo world."""
    return saved_spec(ws, BaseSpec(quick=quick()))


def _spec_key(spec: BaseSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)


def demo(ws: Workspace) -> DemoWorld | None:
    """The built demo world when it is the workspace's base; None while it is not built or not
    the base."""
    if base_spec(ws).source != "demo":
        return None
    return _demo(str(ws.root), demo_config().digest())


@st.cache_resource(show_spinner="Loading the demo world…")
def _demo(root: str, digest: str) -> DemoWorld | None:
    return demo_world.find(demo_config(), _workspace(root))


def quick() -> bool:
    return os.environ.get("SSAE_DEMO") == "quick"


def forget_demo() -> None:
    """Drop the cached 'not built yet' answer once a build finishes."""
    _demo.clear()


def base(ws: Workspace) -> Base:
    """The workspace's LM + GSAE; stops the page with a pointer to Home while it cannot be
    loaded."""
    spec = base_spec(ws)
    if spec.source == "demo" and _demo(str(ws.root), demo_config().digest()) is None:
        st.info(
            "The demo world is not built yet: Home builds it on first launch (about fifteen minutes"
            " on two CPU cores)."
        )
        st.page_link("views/home.py", label="Go to Home", icon=":material/home:")
        st.stop()
    try:
        return load_base(ws, spec)
    except LoadError as exc:
        st.error(f"The workspace's base model could not be loaded. {exc}")
        st.page_link("views/home.py", label="Choose another base on Home", icon=":material/home:")
        st.stop()


@st.cache_resource(show_spinner="Loading the language model and GSAE…", max_entries=2)
def _base(root: str, spec_key: str) -> Base:
    spec = BaseSpec.from_dict(json.loads(spec_key))
    if spec.source != "demo":
        return base_module.load_base(spec)
    return demo_world.world_base(_demo(root, demo_config().digest()), spec)


def load_base(ws: Workspace, spec: BaseSpec) -> Base:
    """The base ``spec`` names, loaded once per workspace and spec; LoadError when it cannot
    be."""
    return _base(str(ws.root), _spec_key(spec))


def ssae_artifacts(ws: Workspace, base: Base) -> list:
    """The workspace's finetuning artifacts that start from this base's GSAE."""
    return [a for a in ws.list("ssae") if a.summary.get("gsae") == base.ref]


def selections(ws: Workspace, base: Base) -> list:
    """The workspace's selections made with this base's tokenizer."""
    return [a for a in ws.list("selection") if base.ref in a.manifest["inputs"]]


def named_saes(ws: Workspace, base: Base) -> list:
    """The GSAE and every SSAE finetuned from it (``sae_set.NamedSAE``), loaded once per set."""
    return _named(
        str(ws.root), tuple(a.key for a in ssae_artifacts(ws, base)), _spec_key(base.spec)
    )


@st.cache_resource(show_spinner="Loading SAEs…")
def _named(root: str, keys: tuple, spec_key: str) -> list:
    from ssae_core.evaluate.sae_set import sae_set

    ws = _workspace(root)
    return sae_set(ws, _base(root, spec_key), [a for a in ws.list("ssae") if a.key in keys])


def page(title: str, caption: str = "") -> tuple[Workspace, Base]:
    """Draw the page's title and caption; return the workspace and its base (``base`` stops the
    page while there is none)."""
    st.title(title)
    if caption:
        st.caption(caption)
    ws = workspace()
    return ws, base(ws)


def choose_saes(ws: Workspace, base: Base, key: str, most: int | None = None, help=None) -> list:
    """The SAE multiselect over the GSAE and its SSAEs, defaulting to the demo comparison's picks
    (at most ``most``)."""
    defaults = comparison_defaults(ws, base)[:most]
    return pick_saes(named_saes(ws, base), key, defaults, help)


def pick_saes(
    saes: list, key: str, default: list[str] | None = None, help: str | None = None
) -> list:
    """A multiselect over SAE labels; returns the chosen ``NamedSAE``s in list order."""
    labels = [s.label for s in saes]
    chosen = st.multiselect(
        "SAEs",
        labels,
        default=[d for d in default or labels[:1] if d in labels],
        key=key,
        help=help,
    )
    return [s for s in saes if s.label in chosen]


def demo_comparison_config():
    from ssae_core.demo import comparison

    return comparison.DemoComparisonConfig.quick() if quick() else comparison.DemoComparisonConfig()


def comparison_defaults(ws: Workspace, base: Base) -> list[str]:
    """Labels of the GSAE and of every member of the demo comparison's ERM and TERM sweeps, if it is
    built."""
    if base.data is None:
        return ["GSAE"]
    return _comparison_defaults(
        str(ws.root), tuple(a.key for a in ssae_artifacts(ws, base)), _spec_key(base.spec)
    )


@st.cache_data(show_spinner=False)
def _comparison_defaults(root: str, keys: tuple, spec_key: str) -> list[str]:
    from ssae_core.demo import comparison

    ws, base = _workspace(root), _base(root, spec_key)
    arts = comparison.find(base, ws, demo_comparison_config())
    if not arts:
        return ["GSAE"]
    saes = _named(root, keys, spec_key)
    picks = ["GSAE"]
    for sweep in (arts.erm, arts.term):
        picks += [s.label for s in saes if s.ref.startswith(sweep.ref + "#")]
    return picks


def test_splits(data: BaseData | None, ws: Workspace | None = None) -> list[str]:
    """Test split choices: the base's own (the demo world's), then test / OOD sets uploaded on
    the Seeds & data page (as paths)."""
    demo = data.test_splits if data is not None else []
    if ws is None:
        return demo
    return demo + [p for role in ("test", "ood") for p in uploads.uploaded(ws, role)]


def require_splits(base: Base, ws: Workspace) -> list[str]:
    """``test_splits``; stops the page with a pointer to Seeds & data when there is none."""
    names = test_splits(base.data, ws)
    if not names:
        st.info(
            "No test set yet: upload an in-domain test set (and an out-of-distribution one) on"
            " Seeds & data."
        )
        st.page_link("views/data.py", label="Go to Seeds & data", icon=":material/upload_file:")
        st.stop()
    return names


def default_splits(names: list[str], subdomain: str) -> list[str]:
    """The demo comparison's splits when offered (the subdomain's test and OOD splits, general
    text), else the first uploaded test and OOD sets."""
    from ssae_core.demo.comparison import comparison_splits

    demo = [n for n in comparison_splits(subdomain) if n in names]
    if demo:
        return demo
    return [
        next(n for n in names if f"/{role}/" in n)
        for role in ("test", "ood")
        if any(f"/{role}/" in n for n in names)
    ]


def split_label(name: str) -> str:
    """How a data set choice reads in a picker: demo names as they are, uploads by file name."""
    return name if "/" not in name else f"uploaded: {name.rsplit('/', 1)[-1]}"


def job_panel(ws: Workspace, name: str, what: str, live=None) -> jobs.JobState | None:
    """Live progress of job ``name`` (stage, bar, ETA, log, cancel, and ``live()`` if given: more
    live output, e.g. training curves); reruns the page when it ends."""
    state = jobs.status(ws, name)
    if state is None:
        return None

    @st.fragment(run_every="1s" if state.running else None)
    def panel():
        now = jobs.status(ws, name) or state
        if now.state != state.state and not now.running:
            st.rerun(scope="app")
        if now.running:
            _progress_bar(now, what)
            if st.button("Cancel", key=f"cancel-{name}"):
                jobs.cancel(ws, name)
            if live is not None:
                live()
        elif now.state == "failed":
            st.error(f"{what} failed: {now.error or 'no message'}")
        elif now.state == "cancelled":
            st.warning(f"{what} was cancelled; finished parts are kept, running it again resumes.")
        with st.expander("Job log"):
            st.code("\n".join(now.log) or "…")

    panel()
    return state


def _progress_bar(job: jobs.JobState, what: str) -> None:
    info = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in job.info.items()
    )
    counts = f" {job.done}/{job.total}" if job.total else ""
    eta = f", about {job.eta_s:.0f} s left" if job.eta_s else ""
    text = f"{what}: {job.state} — {job.stage or 'starting'}{counts}{eta}"
    st.progress(
        min(job.done / job.total, 1.0) if job.total else 0.0,
        text=text + (f" ({info})" if info else ""),
    )


def launch_button(ws: Workspace, job: JobSpec, what: str, label: str, live=None, **kwargs) -> None:
    """The job's live panel, and a button that (re)launches it while it is not running (or why the
    values given cannot be run)."""
    state = job_panel(ws, job.name, what, live)
    if state is not None and state.running:
        return
    problem = None if kwargs.get("disabled") else job.problem()
    if problem:
        st.error(f"{problem} Fix this value above to launch.", icon=":material/error:")
    elif st.button(label, type="primary", **kwargs):
        job.launch(ws)
        st.rerun()


def download_csv(df, name: str, label: str = "Download data (CSV)") -> None:
    st.download_button(
        label,
        df.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv-{name}",
    )


@st.cache_resource(max_entries=32)
def _token_split(name: str, stamp: float, base_ref: str, _base):
    from ssae_core.evaluate.evaluation import token_split

    return token_split(name, _base)


def split_refs(base: Base, names: list[str]) -> list:
    """The chosen splits as TokenSplits; an uploaded file is read and tokenized once per version
    (its mtime)."""
    return [
        _token_split(n, os.path.getmtime(n) if os.path.exists(n) else 0.0, base.ref, base)
        for n in names
    ]


def missing_evaluations(ws: Workspace, base: Base, saes: list, splits: list) -> int:
    """How many (SAE, split) evaluations are not stored yet."""
    from ssae_core.evaluate.evaluation import find_eval

    return sum(find_eval(ws, base, s.ref, sp) is None for s in saes for sp in splits)


def evaluation_gate(ws: Workspace, base: Base, saes: list, split_names: list[str]) -> bool:
    """True when every chosen SAE is evaluated on every chosen split; otherwise offers (and
    tracks) the job."""
    missing = missing_evaluations(ws, base, saes, split_refs(base, split_names))
    job = launch.evaluate(base.spec, [s.ref for s in saes], split_names)
    state = job_panel(ws, job.name, "Evaluation")
    if not missing:
        return True
    if state is None or not state.running:
        st.info(
            f"{missing} evaluation(s) of the chosen SAEs on {', '.join(split_names)} are not"
            " computed yet."
        )
        if st.button("Evaluate (background job)", type="primary", key=f"go-{job.name}"):
            job.launch(ws)
            st.rerun()
    return False


@st.cache_resource(show_spinner="Building the comparison…", max_entries=8)
def _comparison(root: str, spec_key: str, refs: tuple, split_names: tuple, l0_range: tuple | None):
    from ssae_core.report.html import compare_saes

    ws = _workspace(root)
    base = _base(root, spec_key)
    saes = [
        s
        for s in _named(root, tuple(a.key for a in ssae_artifacts(ws, base)), spec_key)
        if s.ref in refs
    ]
    lo, hi = l0_range or (None, None)
    return compare_saes(ws, base, saes, split_refs(base, list(split_names)), lo, hi)


def comparison(
    ws: Workspace, base: Base, saes: list, split_names: list[str], l0_range: tuple | None = None
):
    """``report.compare_saes`` over stored evaluations, cached per choice of SAEs and splits."""
    return _comparison(
        str(ws.root), _spec_key(base.spec), tuple(s.ref for s in saes), tuple(split_names), l0_range
    )
