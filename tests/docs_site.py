"""The docs site, built once per test session for the tests that read it (test_docs_links, test_docs_browser)."""
import functools, os, subprocess, sys
from conftest import ROOT

SITE = ROOT/'_site'


@functools.lru_cache(maxsize=None)
def _build() -> dict:
    before = {f: (ROOT/f).read_text() for f in ('README.md', 'nbs/sidebar.yml')}
    if os.environ.get('ONECYCLE_DOCS_BUILT') != '1':
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], cwd=ROOT, capture_output=True, text=True)
        if r.returncode: return dict(error=f'`make docs` failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}')
    return dict(before=before)


def build_site() -> dict:
    """Run `make docs`'s script once per session (a failure is reported to every test, not rebuilt for each); return
    what the generated, committed files held before it ran. ONECYCLE_DOCS_BUILT=1 reuses the _site/ already there
    (for iterating on these tests only)."""
    res = _build()
    if 'error' in res: raise RuntimeError(res['error'])
    return res['before']
