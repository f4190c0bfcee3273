"""Every link inside the built site (_site/) leads somewhere: no missing page or anchor, no link to a notebook file,
no id twice on a page, no script or stylesheet that loads nothing. A crawler over the files: no browser needed."""
import collections, posixpath, re, sys
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest
from bs4 import BeautifulSoup
from conftest import ROOT
from docs_site import SITE, build_site

sys.path.insert(0, str(ROOT/'tools'))
import build_docs

# Links known to be broken by the notebooks' prose (page, link): each needs a fix in a notebook, listed for the
# coordinator. Empty this list as they are fixed; the test fails on a listed link that works (so the list shrinks).
EXPECTED_BROKEN = set()  # (page, link) pairs known to be broken, to be fixed; the list only shrinks (empty now)

CHECKED = (('a', 'href'), ('link', 'href'), ('img', 'src'), ('script', 'src'), ('iframe', 'src'), ('source', 'src'))


_RAW_LINK = re.compile(r'\]\((?:https?://|[\w./-]+\.html)[^)\s]*\)')  # `[text](url)` that reached the page as text


def raw_links(soup) -> list:
    "Markdown links shown as text in a page's prose (outside code), as a link wrapped in a second link renders"
    return [m for s in soup.find_all(string=True) if not s.find_parent(('code', 'pre', 'script', 'style', 'textarea'))
            for m in _RAW_LINK.findall(s)]


def crawl(site: Path) -> list:
    "[(problem, page, link or id)] over every HTML page of `site`"
    pages, problems = {}, []
    for p in sorted(site.rglob('*.html')):
        rel = p.relative_to(site).as_posix()
        soup = BeautifulSoup(p.read_text(encoding='utf-8'), 'html.parser')
        problems += [('raw markdown link', rel, m) for m in raw_links(soup)]
        ids = [t['id'] for t in soup.find_all(id=True)] + [t['name'] for t in soup.find_all('a', attrs={'name': True})]
        problems += [('duplicate id', rel, i) for i, n in collections.Counter(ids).items() if n > 1]
        pages[rel] = (soup, set(ids))
    for rel, (soup, _) in pages.items():
        for tag, attr in CHECKED:
            for t in soup.find_all(tag, attrs={attr: True}):
                url = t[attr].strip()
                if not url: problems.append((f'empty {tag} {attr}', rel, str(t)[:80])); continue
                parts = urlsplit(url)
                if parts.scheme or url.startswith('//'): continue  # outside the site
                path, frag = unquote(parts.path), unquote(parts.fragment)
                if path.startswith('/'): target = path.lstrip('/')  # the site is served at its root
                elif path: target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path))
                else: target = rel
                if not target or target.endswith('/') or (site/target).is_dir(): target = posixpath.join(target, 'index.html')
                if target.endswith('.ipynb'): problems.append(('link to a notebook file', rel, url))
                elif not (site/target).is_file(): problems.append(('missing page or file', rel, url))
                elif frag and target in pages and frag not in pages[target][1]: problems.append(('missing anchor', rel, url))
    return problems


@pytest.fixture(scope='module')
def site():
    before = build_site()
    return dict(before=before, problems=crawl(SITE))


def test_no_broken_links(site):
    broken = [p for p in site['problems'] if p[0] in ('missing page or file', 'missing anchor')]
    unexpected = [p for p in broken if (p[1], p[2]) not in EXPECTED_BROKEN]
    assert not unexpected, 'broken links in _site/ (problem, page, link):\n' + '\n'.join(map(str, unexpected))
    fixed = EXPECTED_BROKEN - {(p[1], p[2]) for p in broken}
    assert not fixed, f'these links work now: remove them from EXPECTED_BROKEN: {sorted(fixed)}'


def test_no_links_to_notebook_files(site):
    bad = [p for p in site['problems'] if p[0] == 'link to a notebook file']
    assert not bad, 'links to .ipynb files (link to the page instead):\n' + '\n'.join(map(str, bad))


def test_no_raw_markdown_links(site):
    "No `[text](url)` shown as text: a link written by hand in a notebook and linked again by the build rendered so"
    bad = [p for p in site['problems'] if p[0] == 'raw markdown link']
    assert not bad, 'markdown links rendered as text (write the name in backticks and let the build link it):\n' + '\n'.join(map(str, bad))
    page = BeautifulSoup('<p>the finder\'s [<a href="x.html#steep"><code>steep</code></a>](08_callback.lr_finder.html#steep) '
                         'suggestion</p><pre>[a](b.html)</pre>', 'html.parser')
    assert raw_links(page) == ['](08_callback.lr_finder.html#steep)']


def test_ids_unique(site):
    bad = [p for p in site['problems'] if p[0] == 'duplicate id']
    assert not bad, 'ids used twice on a page:\n' + '\n'.join(map(str, bad))


def test_nothing_loads_nothing(site):
    bad = [p for p in site['problems'] if p[0].startswith('empty')]
    assert not bad, 'elements with an empty src/href (the MathJax loader was one):\n' + '\n'.join(map(str, bad))


def test_sidebar_is_generated(site):
    "The build writes nbs/sidebar.yml (Quarto's) from the notebooks present; the committed file must be that output"
    assert (ROOT/'nbs'/'sidebar.yml').read_text() == site['before']['nbs/sidebar.yml'], \
        'nbs/sidebar.yml is out of date: run `make docs` and commit nbs/sidebar.yml'


def test_api_anchors_are_nbdevs():
    "A method's entry has nbdev's anchor (`#learner.lr_find`), which nbdev's doc links point at"
    page = ('<h3 id="learnerlr_find">Learner.lr_find<a class="anchor-link" href="#learnerlr_find">¶</a></h3>'
            '<div class="doc-sig"><code>x</code></div><a href="#learnerlr_find">see</a>'
            '<h2 id="x">Normalize<a class="anchor-link" href="#x">¶</a></h2>'
            '<h3 id="x">X<a class="anchor-link" href="#x">¶</a></h3><div class="doc-sig"><code>x</code></div>')
    out, renames = build_docs.fix_ids(page)
    assert 'id="learner.lr_find"' in out and renames == {'learnerlr_find': 'learner.lr_find'}
    assert out.count('id="x"') == 1 and 'id="x_1"' in out  # the prose heading gives way to the API entry


def test_signature_parsing():
    sig = ("def parse_lr(\n    lr, # a number, or `slice(lo, hi)`\n    n_groups:int | None=None, # how many groups\n"
           "    where:str='lr, x', # who asks,\n    # for the error message\n    f:dict={'a': (1, 2)}, *args, **kwargs\n"
           ")->list: # the rates")
    kind, name, params, ret, ret_doc = build_docs.split_params(sig)
    assert (kind, name, ret, ret_doc) == ('def', 'parse_lr', 'list', 'the rates')
    assert params == [('lr', '', '', 'a number, or `slice(lo, hi)`'), ('n_groups', 'int | None', 'None', 'how many groups'),
                      ('where', 'str', "'lr, x'", 'who asks, for the error message'), ('f', 'dict', "{'a': (1, 2)}", ''),
                      ('*args', '', '', ''), ('**kwargs', '', '', '')]
    out = build_docs.render_signature(sig)
    assert out.count('class="sig-param"') == 6
    assert '<td><strong>n_groups</strong></td><td><code>int | None</code></td><td><code>None</code></td><td>how many groups</td>' in out
    assert '<td>a number, or <code>slice(lo, hi)</code></td>' in out
    assert 'Details' not in build_docs.render_signature('def f(\n    a, b=1\n):')  # no docments: no table
    assert build_docs.split_params('def f():')[2] == []
    assert build_docs.split_params('not a signature') is None


def test_reading_order():
    "Lessons first (the quick start leading), numbered; then the library chapters by number, new ones included"
    nav = build_docs.nav_sections(ROOT/'nbs')
    labels = [k for k, _ in nav]
    assert labels[:3] == [None, 'Lessons', 'Reference'], labels
    lessons, ref = dict(nav)['Lessons'], dict(nav)['Reference']
    assert lessons[0][0] == '1. Quick start' and all(t.startswith(f'{i}. ') for i, (t, _) in enumerate(lessons, 1))
    assert {p.as_posix() for _, p in lessons} == {p.relative_to(ROOT/'nbs').as_posix() for p in (ROOT/'nbs'/'tutorials').glob('*.ipynb')}
    names = [p.name for _, p in ref]
    assert names == sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if p.name != 'index.ipynb'), names


def test_epoch_tables_become_tables():
    "The build turns a printed results table into an HTML table and keeps the text around it as text"
    text = ('lr_find suggests 1e-2\nepoch       train_loss  valid_loss  accuracy    size        time\n'
            '0           1.247003    1.333332    0.655400    20          00:11\n'
            '1           0.881435    1.386201    0.600100    20          00:10\nfinal accuracy 0.9\n')
    outs = build_docs.epoch_tables([{'output_type': 'stream', 'name': 'stdout', 'text': text}])
    assert [o['output_type'] for o in outs] == ['stream', 'display_data', 'stream']
    assert outs[0]['text'] == 'lr_find suggests 1e-2\n' and outs[2]['text'] == 'final accuracy 0.9\n'
    soup = BeautifulSoup(outs[1]['data']['text/html'], 'html.parser')
    assert [th.text for th in soup.find_all('th')] == ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'size', 'time']
    assert [[td.text for td in tr.find_all('td')] for tr in soup.tbody.find_all('tr')][1] == ['1', '0.881435', '1.386201', '0.600100', '20', '00:10']
    assert outs[1]['data']['text/plain'] == ''.join(text.splitlines(True)[1:4])
    plain = [{'output_type': 'stream', 'name': 'stdout', 'text': 'epoch 1 of 3\nno table here\n'}]
    assert build_docs.epoch_tables(plain) == plain
