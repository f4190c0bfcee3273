"""The package and README.md are generated from the notebooks: regenerating them must change nothing that is committed."""
import shutil, subprocess
import pytest
from conftest import ROOT, BIN


def git_changes(*paths):
    r = subprocess.run(['git', 'status', '--porcelain', '--', *paths], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip()


@pytest.mark.skipif(not (shutil.which('git') and (ROOT/'.git').exists()), reason='not a git checkout')
def test_package_matches_notebooks():
    before = git_changes('onecycle')
    subprocess.run([str(BIN/'nbdev-export')], cwd=ROOT, check=True)
    after = git_changes('onecycle')
    assert after == before, f"nbdev-export changed the package: edit the notebooks, run nbdev-export, commit both.\n{after}"
