"""Every notebook under nbs/ is a test: each runs through `nbdev-test` in its own process, one pytest item per notebook.

Cells flagged with a flag in `tst_flags` (pyproject.toml: `notest`, `slow`, `gpu`) are skipped unless the flag is named in
$ONECYCLE_TEST_FLAGS, which `make test FLAGS=slow` sets."""
import os, subprocess
import pytest
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from conftest import ROOT, BIN

cfg = get_config(ROOT)
NOTEBOOKS = sorted(nbglob(cfg.nbs_path, as_path=True))


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(cfg.nbs_path)))
def test_notebook(nb):
    flags = os.environ.get('ONECYCLE_TEST_FLAGS', '')
    r = subprocess.run([str(BIN/'nbdev-test'), str(nb), '--flags', flags],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{nb.relative_to(ROOT)} failed under nbdev-test:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


def test_found_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert 'index.ipynb' in names and '00_core.ipynb' in names, names
