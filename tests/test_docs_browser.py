"""The docs site, built from the notebooks, opened in a real browser (Debian's headless Chromium).

Screenshots are kept in test-artifacts/ (ignored by git) for a person to look at."""
import functools, http.server, re, shutil, subprocess, sys, tempfile, threading
from pathlib import Path
import pytest
from conftest import ROOT, BIN

ARTIFACTS = ROOT/'test-artifacts'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic', '--hide-scrollbars']


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def site():
    "Build the site with `make docs`'s script and serve it on 127.0.0.1"
    subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], cwd=ROOT, check=True)
    handler = functools.partial(QuietHandler, directory=str(ROOT/'_site'))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown(); srv.server_close()


def chromium(url, screenshot=None):
    "The DOM of `url` after scripts ran, and optionally a screenshot"
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make sysdeps` as root (Debian's package `chromium`)")
    with tempfile.TemporaryDirectory() as prof:
        args = [CHROMIUM, *FLAGS, f'--user-data-dir={prof}', '--window-size=1280,1000', '--virtual-time-budget=8000']
        if screenshot:
            ARTIFACTS.mkdir(exist_ok=True)
            subprocess.run(args + [f'--screenshot={ARTIFACTS/screenshot}', url], capture_output=True, timeout=120)
            assert (ARTIFACTS/screenshot).stat().st_size > 10_000, f"empty screenshot of {url}"
        r = subprocess.run(args + ['--dump-dom', url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def nav_titles(dom):
    return re.findall(r'class="md-nav__link[^"]*"[^>]*>\s*<span class="md-ellipsis">\s*([^<]+?)\s*<', dom)


def test_home_page(site):
    dom = chromium(site + 'index.html', 'home.png')
    assert re.search(r'<h1[^>]*>\s*onecycle', dom), 'home page has no onecycle heading'
    assert 'Two commands' in dom
    titles = nav_titles(dom)
    for t in ('onecycle', 'Core', 'Getting the data', 'A first look at Fashion-MNIST'):
        assert t in titles, f'sidebar lacks {t!r}: {titles}'
    assert re.search(r'<img[^>]+src="data:image/png', dom), 'home page shows no rendered plot'


def test_core_api_page(site):
    dom = chromium(site + '00_core.html', 'core.png')
    assert re.search(r'<h1[^>]*>\s*Core', dom)
    for name in ('default_device', 'to_device', 'set_seed', 'reproducible'):  # show_doc entries are headings
        assert re.search(rf'<h[234][^>]*id="{name}"', dom), f'no API entry heading for {name}'
    assert re.search(r'<img[^>]+src="data:image/png', dom), 'core page shows no plot'
    assert 'md-sidebar--primary' in dom


def test_search(site):
    "The search box finds an API name: the page opened with ?q= runs the query in the browser"
    dom = chromium(site + 'index.html?q=to_device', 'search.png')
    hits = re.findall(r'class="md-search-result__item', dom)
    assert hits, 'search for to_device found nothing'
    assert '00_core.html' in dom
