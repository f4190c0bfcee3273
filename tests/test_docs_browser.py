"""The docs site, built from the notebooks, opened in a real browser: Debian's headless Chromium, driven by Selenium.

Screenshots are kept in test-artifacts/ (ignored by git) for a person to look at: the desktop ones at 1400 px,
mobile-*.png at 400 px."""
import functools, http.server, shutil, tempfile, threading, time
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from conftest import ROOT
from docs_site import SITE, build_site

ARTIFACTS = ROOT/'test-artifacts'
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic', '--window-size=1400,1000']
DESKTOP, MOBILE = (1400, 1000), (400, 900)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture(scope='module')
def site():
    "Build the site with `make docs`'s script and serve it on 127.0.0.1"
    before = build_site()
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(SITE)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield dict(url=f'http://127.0.0.1:{srv.server_address[1]}/', readme_before=before['README.md'])
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


def scroll_to(browser, el):
    "Scroll `el` to the middle of the window, then wait out the header's fade from the site's name to the page's title"
    browser.execute_script('arguments[0].scrollIntoView({block: "center"})', el)
    time.sleep(0.6)


def open_page(browser, url, shot, size=DESKTOP):
    browser.set_window_size(*size)
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
    for t in ('Home', 'Lessons', '1. Quick start', 'Reference', 'Core', 'Getting the data'):
        assert t in nav, f'sidebar lacks {t!r}: {nav}'
    assert nav.index('Lessons') < nav.index('1. Quick start') < nav.index('Reference') < nav.index('Core'), nav
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
    scroll_to(browser, imgs[0])
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


def js(browser, script, *args): return browser.execute_script(script, *args)


def test_theme_at_1400(site, browser):
    "A wide content column, repository and edit links, a previous/next footer"
    open_page(browser, site['url'] + '05_learner.html', 'learner.png')
    width = js(browser, 'return document.querySelector("article").getBoundingClientRect().width')
    assert width >= 850, f'the content column is {width:.0f} px wide in a 1400 px window'
    assert browser.find_elements(By.CSS_SELECTOR, 'a.md-source[href="https://github.com/onecycle-dev/onecycle"]')
    edit = browser.find_elements(By.CSS_SELECTOR, 'a.md-content__button[href$="edit/main/nbs/05_learner.ipynb"]')
    assert edit and edit[0].is_displayed(), 'no edit link to the notebook'
    prev = browser.find_element(By.CSS_SELECTOR, '.md-footer__link--prev').get_attribute('textContent')
    nxt = browser.find_element(By.CSS_SELECTOR, '.md-footer__link--next').get_attribute('textContent')
    assert prev.strip(), 'no previous page in the footer'
    assert nxt.strip(), 'no next page in the footer'
    covered = js(browser, """
        var s = document.querySelector('.md-sidebar--primary .md-sidebar__scrollwrap'), sr = s.getBoundingClientRect(), out = [];
        s.scrollTop = 120;
        document.querySelectorAll('.md-sidebar--primary .md-nav__link').forEach(function (e) {
          var r = e.getBoundingClientRect(), x = r.left + Math.min(20, r.width / 2), y = r.top + r.height / 2;
          if (!r.height || y < sr.top || y > sr.bottom) return;
          var t = document.elementFromPoint(x, y);
          if (t && !e.contains(t) && !t.contains(e)) out.push(e.textContent.trim() + ' under ' + t.textContent.trim().slice(0, 20));
        });
        return out;""")
    browser.save_screenshot(str(ARTIFACTS/'sidebar-scrolled.png'))
    assert not covered, f'sidebar links hidden under another element once it scrolls: {covered}'


def test_results_table_visible(site, browser):
    "The README's results table shows every column at 1400 px: nothing cut off, nothing to scroll"
    open_page(browser, site['url'] + 'index.html', 'home.png')
    tables = [t for t in browser.find_elements(By.CSS_SELECTOR, 'article table') if 'test accuracy' in t.text]
    assert tables, 'no results table on the home page'
    t = tables[0]
    scroll_to(browser, t)
    browser.save_screenshot(str(ARTIFACTS/'results-table.png'))
    box = js(browser, 'var r = arguments[0].getBoundingClientRect(), a = document.querySelector("article").getBoundingClientRect();'
                      'return [r.left, r.right, a.left, a.right, arguments[0].scrollWidth, arguments[0].clientWidth, window.innerWidth]', t)
    left, right, aleft, aright, sw, cw, win = box
    assert sw <= cw + 1, f'the results table scrolls: {sw} px of content in a {cw} px box'
    boxes = js(browser, 'var out = [], e = arguments[0].parentElement; while (e && e.tagName != "ARTICLE") {'
                        'out.push([e.className, e.scrollWidth, e.clientWidth]); e = e.parentElement; } return out', t)
    assert all(s <= c + 1 for _, s, c in boxes), f'a box around the results table scrolls: {boxes}'
    assert aleft - 1 <= left and right <= min(aright, win) + 1, f'the results table leaves the column: {box}'
    assert len(t.find_elements(By.CSS_SELECTOR, 'th')) == 6


def test_maths_rendered(site, browser):
    "The LR-finder tutorial's LaTeX is typeset by the bundled KaTeX, with nothing fetched from the network"
    open_page(browser, site['url'] + 'tutorials/03_lr_finder.html', 'lr-finder.png')
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, 'article .katex'))
    maths = browser.find_elements(By.CSS_SELECTOR, 'article .katex')
    assert len(maths) >= 5, len(maths)
    text = browser.find_element(By.TAG_NAME, 'article').text
    assert '\\beta' not in text and '$a_k' not in text, 'raw LaTeX left on the page'
    scroll_to(browser, maths[1])
    browser.save_screenshot(str(ARTIFACTS/'lr-finder-maths.png'))
    assert js(browser, 'return document.fonts.check("16px KaTeX_Main")'), "KaTeX's fonts did not load"
    assert not browser.find_elements(By.CSS_SELECTOR, 'script[src=""]')


def test_mobile_menu(site, browser):
    "At 400 px the page fits the screen, and the menu button opens the navigation with the lessons first"
    open_page(browser, site['url'] + 'index.html', 'mobile-home.png', size=MOBILE)
    assert js(browser, 'return document.documentElement.scrollWidth') <= js(browser, 'return window.innerWidth') + 1, \
        'the page is wider than a 400 px screen'
    button = browser.find_element(By.CSS_SELECTOR, 'label.md-header__button[for="__drawer"]')
    assert button.is_displayed()
    drawer = browser.find_element(By.CSS_SELECTOR, '.md-sidebar--primary')
    assert drawer.location['x'] + drawer.size['width'] <= 1, 'the menu is open before it is asked for'
    button.click()
    WebDriverWait(browser, 5).until(lambda b: abs(drawer.location['x']) < 1)
    browser.save_screenshot(str(ARTIFACTS/'mobile-menu.png'))
    texts = lambda: [e.text.strip() for e in drawer.find_elements(By.CSS_SELECTOR, '.md-nav__link') if e.is_displayed()]
    assert texts()[:3] == ['Home', 'Lessons', 'Reference'], texts()
    [e for e in drawer.find_elements(By.CSS_SELECTOR, '.md-nav__link') if e.text.strip() == 'Lessons'][0].click()
    WebDriverWait(browser, 5).until(lambda b: '1. Quick start' in texts())
    browser.save_screenshot(str(ARTIFACTS/'mobile-menu-lessons.png'))


def test_mobile_pages_fit(site, browser):
    "At 400 px wide code and tables scroll inside their own boxes; the page itself does not scroll sideways"
    for page, shot in (('05_learner.html', 'mobile-learner.png'), ('07_callback.schedule.html', 'mobile-schedule.png')):
        open_page(browser, site['url'] + page, shot, size=MOBILE)
        assert js(browser, 'return document.documentElement.scrollWidth') <= js(browser, 'return window.innerWidth') + 1, page


def test_epoch_tables(site, browser):
    "A Learner's results table is an HTML table on the site: whole at 1400 px, inside its own box at 400 px"
    for size, shot in ((DESKTOP, 'epoch-table.png'), (MOBILE, 'mobile-epoch-table.png')):
        open_page(browser, site['url'] + 'tutorials/01_quick_start.html', shot, size=size)
        tables = browser.find_elements(By.CSS_SELECTOR, 'table.epoch-table')
        assert len(tables) >= 2, 'the quick start shows its two results tables as text, not as tables'
        t = tables[-1]
        assert [e.text for e in t.find_elements(By.CSS_SELECTOR, 'th')][:3] == ['epoch', 'train_loss', 'valid_loss']
        assert len(t.find_elements(By.CSS_SELECTOR, 'tbody tr')) == 6    # the full run's six epochs
        scroll_to(browser, t)
        browser.save_screenshot(str(ARTIFACTS/shot))
        left, right, aleft, aright, sw, cw = js(browser, 'var r = arguments[0].getBoundingClientRect(), '
            'a = document.querySelector("article").getBoundingClientRect(); '
            'return [r.left, r.right, a.left, a.right, arguments[0].scrollWidth, arguments[0].clientWidth]', t)
        assert aleft - 1 <= left and right <= aright + 1, f'the results table leaves the column at {size}'
        if size == DESKTOP: assert sw <= cw + 1, f'the results table scrolls at 1400 px: {sw} px in {cw}'
        assert js(browser, 'return document.documentElement.scrollWidth') <= js(browser, 'return window.innerWidth') + 1


def test_dark_mode(site, browser):
    "The header's toggle switches to the dark palette and back, and the choice survives a page change"
    open_page(browser, site['url'] + 'index.html', 'light.png')
    scheme = lambda: browser.find_element(By.TAG_NAME, 'body').get_attribute('data-md-color-scheme')
    start = scheme()
    toggle = [e for e in browser.find_elements(By.CSS_SELECTOR, 'form[data-md-component="palette"] label') if e.is_displayed()]
    assert toggle, 'no dark/light toggle in the header'
    toggle[0].click()
    WebDriverWait(browser, 5).until(lambda b: scheme() != start)
    assert {start, scheme()} == {'default', 'slate'}
    browser.save_screenshot(str(ARTIFACTS/'dark.png'))
    open_page(browser, site['url'] + '08_callback.lr_finder.html', 'dark-lr-finder.png')
    assert scheme() != start, 'the palette was not remembered'
    [e for e in browser.find_elements(By.CSS_SELECTOR, 'form[data-md-component="palette"] label') if e.is_displayed()][0].click()
    WebDriverWait(browser, 5).until(lambda b: scheme() == start)


def entry(browser, name):
    "The elements of one show_doc entry (its heading id is nbdev's anchor), up to the next heading"
    return js(browser, """
        var h = document.getElementById(arguments[0]); if (!h) return null;
        var out = [], e = h.nextElementSibling;
        while (e && !/^H[1-6]$/.test(e.tagName)) { out.push(e); e = e.nextElementSibling; }
        return out;""", name)


def param_table(browser, name):
    els = entry(browser, name)
    assert els is not None, f'no entry #{name}'
    tables = [e for e in els if e.tag_name == 'table'] + [t for e in els for t in e.find_elements(By.TAG_NAME, 'table')]
    heads = [[th.text.strip() for th in t.find_elements(By.TAG_NAME, 'th')] for t in tables]
    return [h for h in heads if h[1:] == ['Type', 'Default', 'Details']]


def test_parameter_table_from_docments(site, browser):
    "A function with docments comments gets a parameter table, as on nbdev's and fastai's sites"
    open_page(browser, site['url'] + '05_learner.html#parse_lr', 'parse-lr.png')
    assert param_table(browser, 'parse_lr'), 'parse_lr has docments but its entry shows no parameter table'


def test_learner_parameter_table(site, browser):
    open_page(browser, site['url'] + '05_learner.html#learner', 'learner-entry.png')
    assert param_table(browser, 'learner'), "the Learner's entry has no parameter table (its parameters need docments)"


def test_signature_wraps_between_parameters(site, browser):
    "At 400 px a long signature breaks only between parameters: each parameter stays on one line"
    open_page(browser, site['url'] + '05_learner.html#learner', 'mobile-learner-entry.png', size=MOBILE)
    params = browser.find_elements(By.CSS_SELECTOR, '.doc-sig .sig-param')
    assert len(params) > 20
    lines = 'return new Set(Array.from(arguments[0].getClientRects(), r => Math.round(r.bottom))).size'
    split = [p.text for p in params if js(browser, lines, p) > 1]
    assert not split, f'parameters broken across lines: {split[:5]}'


def test_api_anchor_from_doc_link(site, browser):
    "nbdev's doc links (`#learner.lr_find`) land on the entry"
    open_page(browser, site['url'] + '08_callback.lr_finder.html#learner.lr_find', 'lr-find-entry.png')
    h = browser.find_element(By.ID, 'learner.lr_find')
    assert h.is_displayed() and 'lr_find' in h.text
