"""The docs site, built from the notebooks, opened in a real browser: Debian's headless Chromium, driven by Selenium.

Screenshots are kept in test-artifacts/ (ignored by git) for a person to look at."""
import functools, http.server, shutil, subprocess, sys, tempfile, threading
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from conftest import ROOT

ARTIFACTS = ROOT/'test-artifacts'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic', '--window-size=1280,1000']


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def site():
    "Build the site with `make docs`'s script and serve it on 127.0.0.1"
    readme = (ROOT/'README.md').read_text()
    subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py')], cwd=ROOT, check=True)
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(ROOT/'_site')))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield dict(url=f'http://127.0.0.1:{srv.server_address[1]}/', readme_before=readme)
    srv.shutdown(); srv.server_close()


@pytest.fixture(scope='module')
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.fail("chromium and chromedriver are needed: run `make sysdeps` as root "
                    "(Debian's packages chromium and chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory() as profile:
        for a in FLAGS + [f'--user-data-dir={profile}']: opts.add_argument(a)
        drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
        yield drv
        drv.quit()


def open_page(browser, url, shot):
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script('return document.readyState') == 'complete')
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS/shot))


def sidebar(browser):
    return [e.get_attribute('textContent').strip()
            for e in browser.find_elements(By.CSS_SELECTOR, '.md-sidebar--primary .md-nav__link')]


def rendered_images(browser):
    "Images in the page content that the browser actually decoded"
    imgs = browser.find_elements(By.CSS_SELECTOR, 'article img')
    return [i for i in imgs if browser.execute_script('return arguments[0].complete && arguments[0].naturalWidth > 0', i)]


def test_home_page(site, browser):
    open_page(browser, site['url'] + 'index.html', 'home.png')
    assert browser.find_element(By.CSS_SELECTOR, 'article h1').text.startswith('onecycle')
    assert 'Two commands' in [h.text.strip('¶ ') for h in browser.find_elements(By.CSS_SELECTOR, 'article h2')]
    nav = sidebar(browser)
    for t in ('onecycle', 'Core', 'Getting the data', 'A first look at Fashion-MNIST'):
        assert t in nav, f'sidebar lacks {t!r}: {nav}'
    assert rendered_images(browser), 'the home page shows no rendered plot'


def test_core_api_page(site, browser):
    open_page(browser, site['url'] + '00_core.html', 'core.png')
    assert browser.find_element(By.CSS_SELECTOR, 'article h1').text.startswith('Core')
    for name in ('default_device', 'to_device', 'set_seed', 'reproducible'):  # show_doc entries are headings
        h = browser.find_elements(By.CSS_SELECTOR, f'article h3[id="{name}"]')
        assert h and h[0].is_displayed(), f'no API entry for {name}'
    assert 'Core' in sidebar(browser)
    imgs = rendered_images(browser)
    assert imgs, 'the core page shows no plot'
    browser.execute_script('arguments[0].scrollIntoView()', imgs[0])
    browser.save_screenshot(str(ARTIFACTS/'core-plot.png'))
    src = browser.find_element(By.TAG_NAME, 'article').text
    assert 'show_doc(' not in src and '#| ' not in src, 'nbdev directives leak into the page'


def test_search(site, browser):
    "The search box finds an API name and links to its page"
    open_page(browser, site['url'] + 'index.html?q=to_device', 'search-initial.png')
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, '.md-search-result__item'))
    browser.save_screenshot(str(ARTIFACTS/'search.png'))
    links = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, '.md-search-result__item a')]
    assert any('/00_core.html' in l and l.endswith('#to_device') for l in links), links


def test_readme_is_generated_from_index(site):
    "The docs build regenerates README.md from nbs/index.ipynb; the committed README must be that output"
    assert (ROOT/'README.md').read_text() == site['readme_before'], \
        "README.md is out of date: run `make docs` and commit README.md (and README_files/)"
