"""What every page shares: the workspace, and cached handles on built artifacts."""

import os

import streamlit as st

from ssae_core.demo import world as demo_world
from ssae_core.workspace import Workspace, resolve_root

DEMO_JOB = "demo-build"


def workspace() -> Workspace:
    """The workspace named by ``$SSAE_WORKSPACE`` (default ``cache/``), one object per root."""
    return _workspace(str(resolve_root()))


@st.cache_resource
def _workspace(root: str) -> Workspace:
    return Workspace(root)


def demo_config() -> demo_world.DemoConfig:
    """The full demo world, or the miniature one when ``SSAE_DEMO=quick`` (tests, quick looks)."""
    return demo_world.DemoConfig.quick() if _quick() else demo_world.DemoConfig()


def demo(ws: Workspace):
    """The built demo world of this workspace, or None while it is not built."""
    return _demo(str(ws.root), demo_config().digest())


@st.cache_resource(show_spinner="Loading the demo world…")
def _demo(root: str, digest: str):
    return demo_world.find(demo_config(), _workspace(root))


def demo_build_args() -> list[str]:
    return ["demo", "build", "--json"] + (["--quick"] if _quick() else [])


def _quick() -> bool:
    return os.environ.get("SSAE_DEMO") == "quick"


def forget_demo() -> None:
    """Drop the cached 'not built yet' answer once a build finishes."""
    _demo.clear()
