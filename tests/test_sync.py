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


@pytest.mark.skipif(not (shutil.which('make') and (ROOT/'.venv'/'.installed').exists()), reason='no make, or no installed .venv')
def test_export_does_not_force_a_reinstall():
    "nbdev-export rewrites pyproject.toml with the same text; `make setup` after it must not reinstall the package"
    subprocess.run([str(BIN/'nbdev-export')], cwd=ROOT, check=True)
    subprocess.run(['make', '-s', 'setup'], cwd=ROOT, check=True, capture_output=True)  # settles a first copy of the file
    (ROOT/'pyproject.toml').touch()                                                    # what every export does to it
    r = subprocess.run(['make', 'setup'], cwd=ROOT, check=True, capture_output=True, text=True)
    assert 'pip install' not in r.stdout, f"`make setup` reinstalls after pyproject.toml was only touched:\n{r.stdout}"
