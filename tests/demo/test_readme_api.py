"""The README's Python API block runs as written (on the quick world's workspace)."""

import re

from helpers import ROOT


def test_the_readme_python_api_runs(quick_build, monkeypatch):
    root, _ = quick_build
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'BaseSpec(source="demo")' in code
    monkeypatch.setenv("SSAE_WORKSPACE", str(root))
    scope: dict = {}
    exec(code.replace('BaseSpec(source="demo")', 'BaseSpec(source="demo", quick=True)'), scope)
    base = scope["base"]
    assert base.hook_name == "blocks.1.hook_resid_post"
    assert "physics_test" in base.data.test_splits
    assert callable(scope["finetune"]) and callable(scope["compare_saes"])
