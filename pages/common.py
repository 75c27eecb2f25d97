"""What every page shares: the workspace, and cached handles on built artifacts."""

import os

import streamlit as st

from ssae_core.demo import world as demo_world
from ssae_core.workspace import Workspace

DEMO_JOB = "demo-build"


@st.cache_resource
def workspace() -> Workspace:
    return Workspace()


def demo_config() -> demo_world.DemoConfig:
    """The full demo world, or the miniature one when ``SSAE_DEMO=quick`` (tests, quick looks)."""
    return demo_world.DemoConfig.quick() if os.environ.get("SSAE_DEMO") == "quick" else demo_world.DemoConfig()


@st.cache_resource(show_spinner="Loading the demo world…")
def demo(_ws: Workspace, key: str):
    """The built demo world, or None; ``key`` (the config digest) keys the cache."""
    return demo_world.find(demo_config(), _ws)


def demo_build_args() -> list[str]:
    return ["demo", "build", "--json"] + (["--quick"] if os.environ.get("SSAE_DEMO") == "quick" else [])
