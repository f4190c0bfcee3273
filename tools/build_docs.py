"""Build the documentation site and README.md from the notebooks.

With Quarto on PATH this is nbdev's own pipeline (`nbdev-readme`, `nbdev-docs`), as the GitHub deploy workflow runs it.
Without Quarto (this project's development and CI machines, where it cannot be installed) we keep nbdev's processing
of the notebooks (directives, `show_doc` entries, front matter) and render the processed notebooks with
mkdocs-material and mkdocs-jupyter into `_site/`. README.md comes from the same processed `index.ipynb`.

Both sites read the notebooks in one order, made from the files present: the home page, the lessons (nbs/tutorials/,
numbered, the quick start first), then the library chapters by number. It is written into nbs/sidebar.yml (Quarto's
sidebar; `python tools/build_docs.py --sidebar` writes only that) and into mkdocs' `nav`. After mkdocs, the pages are
post-processed: show_doc entries get nbdev's anchors (`#learner.lr_find`), no id appears twice, and the LaTeX is typeset
by the KaTeX bundled in tools/docs_assets/katex/ (MIT licence; the site works offline).
"""
import html, json, os, re, shutil, subprocess, sys
from pathlib import Path
import nbformat, yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def proc_notebooks() -> Path:
    "nbdev's notebook processing into `_proc/`, without nbdev-proc-nbs's attempt to install Quarto"
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.doclinks import _build_modidx
    from nbdev.serve import proc_nbs
    os.chdir(ROOT)
    cfg = get_config(ROOT)
    refresh_quarto_yml()
    _build_modidx()
    write_sidebar(cfg.nbs_path)
    return proc_nbs(cfg.nbs_path, force=True, n_workers=0)


LESSONS = 'tutorials'        # the course: read first, numbered in reading order
LESSONS_FIRST = ('quick_start',)  # the whole game first, as fastai's course does; the other lessons in file order
ASSETS = ROOT/'tools'/'docs_assets'


def _order(nb: Path):
    "Sort key: a lesson named in LESSONS_FIRST first, then by file name (`05_`, `05a_`, `06_`...)"
    return (not any(k in nb.stem for k in LESSONS_FIRST), nb.name)


def site_pages(nbs: Path) -> dict:
    """The site's reading order from the notebooks present: {'home': index, 'lessons': [...], 'reference': [...],
    other folders: [...]}. A new notebook appears in its section without editing any list."""
    files = [f for f in sorted(nbs.rglob('*.ipynb')) if not any(part.startswith(('_', '.')) for part in f.relative_to(nbs).parts)
             and '.ipynb_checkpoints' not in f.parts]
    out = {'home': None, 'lessons': [], 'reference': []}
    for f in files:
        rel = f.relative_to(nbs)
        if rel == Path('index.ipynb'): out['home'] = rel
        elif len(rel.parts) == 1: out['reference'].append(rel)
        elif rel.parts[0] == LESSONS: out['lessons'].append(rel)
        else: out.setdefault(rel.parts[0], []).append(rel)
    for k, v in out.items():
        if isinstance(v, list): v.sort(key=_order)
    return out


def nb_title(nb: Path) -> str:
    "A notebook's title as plain text (for the sidebar): its front matter's `title`, else its first `# heading`"
    return _nb_title(nb).replace('`', '')


def _nb_title(nb: Path) -> str:
    cells = json.loads(nb.read_text()).get('cells', [])
    for c in cells[:3]:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and (m := re.search(r'^title:\s*["\']?(.*?)["\']?\s*$', src, re.M)): return m[1]
        if c['cell_type'] == 'markdown' and (m := re.search(r'^#\s+(.+?)\s*$', src, re.M)): return m[1]
    return re.sub(r'^\d+[a-z]?_', '', nb.stem).replace('_', ' ')


def nav_sections(nbs: Path) -> list:
    "[(section label or None, [(label, path)])] in reading order; lessons numbered 1, 2, 3..."
    pages = site_pages(nbs)
    secs = [(None, [('Home', pages['home'])] if pages['home'] else [])]
    secs.append(('Lessons', [(f'{i}. {nb_title(nbs/p)}', p) for i, p in enumerate(pages['lessons'], 1)]))
    secs.append(('Reference', [(nb_title(nbs/p), p) for p in pages['reference']]))
    secs += [(k.replace('_', ' ').capitalize(), [(nb_title(nbs/p), p) for p in v])
             for k, v in pages.items() if k not in ('home', 'lessons', 'reference')]
    return [(k, v) for k, v in secs if v]


def write_sidebar(nbs: Path):
    "nbs/sidebar.yml for Quarto (needs `custom_sidebar = true` in [tool.nbdev], or nbdev-docs rewrites it A-Z)"
    contents = []
    for label, pages in nav_sections(nbs):
        items = [str(p) if label is None else {'href': str(p), 'text': t} for t, p in pages]
        contents += items if label is None else [{'section': label, 'contents': items}]
    text = ('# Written by tools/build_docs.py from the notebooks present (lessons first, in reading order): '
            'do not edit by hand.\n' + yaml.dump({'website': {'sidebar': {'contents': contents}}}, sort_keys=False))
    if (nbs/'sidebar.yml').read_text() != text if (nbs/'sidebar.yml').exists() else True: (nbs/'sidebar.yml').write_text(text)


def mkdocs_nav(nbs: Path) -> list:
    "The same order as mkdocs `nav`"
    nav = []
    for label, pages in nav_sections(nbs):
        items = [{t: p.as_posix()} for t, p in pages]
        nav += items if label is None else [{label: items}]
    return nav


_OPT = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_ATTRS = re.compile(r'\{target="_blank"[^}]*\}')  # Quarto attribute blocks on show_doc's source links


def html_name(nb: Path, root: Path) -> str:
    "Where nbdev's Quarto site puts a notebook's page: its path with number prefixes removed, as .html"
    return '/'.join(re.sub(r'^\d+_', '', part) for part in nb.relative_to(root).with_suffix('.html').parts)


def split_params(sig: str):
    """Parse the signature nbdev's show_doc prints (`def f(\n    a:int=1, # what a is\n    b=2\n)->list: # returns`)
    into (prefix, name, [(param, type, default, comment)], return type, return comment); None if it is not one."""
    m = re.match(r'\s*((?:async\s+)?(?:def|class))\s+([\w.]+)\(', sig)
    if not m: return None
    params, buf, depth, i, quote = [], '', 0, m.end(), None
    while i < len(sig):
        ch = sig[i]
        if quote:
            buf += ch
            if ch == '\\' and i + 1 < len(sig): buf += sig[i+1]; i += 1
            elif sig.startswith(quote, i): buf += quote[1:]; i += len(quote) - 1; quote = None
        elif ch in '"\'':
            quote = sig[i:i+3] if sig[i:i+3] in ('"' * 3, "'" * 3) else ch
            buf += quote; i += len(quote) - 1
        elif ch == '#' and depth == 0:  # a docments comment: it belongs to the parameter just finished
            end = sig.find('\n', i); end = len(sig) if end < 0 else end
            if params and not buf.strip(): params[-1][1] = (params[-1][1] + ' ' + sig[i+1:end].strip()).strip()
            else: buf += sig[i:end]
            i = end; continue
        elif ch in '([{': depth += 1; buf += ch
        elif ch in ')]}':
            if depth == 0: break
            depth -= 1; buf += ch
        elif ch == ',' and depth == 0: params.append([buf.strip(), '']); buf = ''
        else: buf += ch
        i += 1
    else: return None
    if buf.strip(): params.append([buf.strip(), ''])
    rm = re.match(r'(?:->\s*(.*?))?\s*:?\s*(?:#\s*(.*))?$', sig[i+1:].strip(), re.S)
    ret, ret_doc = ((rm[1] or '').strip(), (rm[2] or '').strip()) if rm else ('', '')
    return m[1], m[2], [(*_top_split(text), doc) for text, doc in params], ret, ret_doc


def _top_split(p: str):
    "`name:type=default` split at the top-level ':' and '=' (defaults may hold brackets, strings, colons)"
    depth, quote, colon, eq = 0, None, -1, -1
    for j, ch in enumerate(p):
        if quote:
            if ch == quote: quote = None
        elif ch in '"\'': quote = ch
        elif ch in '([{': depth += 1
        elif ch in ')]}': depth -= 1
        elif depth == 0 and ch == ':' and colon < 0 and eq < 0: colon = j
        elif depth == 0 and ch == '=' and eq < 0: eq = j
    name_end = colon if colon >= 0 else (eq if eq >= 0 else len(p))
    anno = p[colon+1:eq if eq >= 0 else len(p)].strip() if colon >= 0 else ''
    return p[:name_end].strip(), anno, (p[eq+1:].strip() if eq >= 0 else '')


def _esc(t: str) -> str: return html.escape(t, quote=False)
def _inline(t: str) -> str:
    "A docments comment as HTML: `code` spans, the rest escaped (the table is HTML: a `|` in a type cannot split it)"
    return re.sub(r'`([^`]+)`', lambda m: f'<code>{m[1]}</code>', _esc(t))
def _code(t: str) -> str: return f'<code>{_esc(t)}</code>' if t else ''


_OPTIONAL = re.compile(r'\bOptional\[([^\[\]]+)\]')
_UNION = re.compile(r'\bUnion\[([^\[\]]+)\]')
_TORCH_MOD = re.compile(r'\btorch\.nn\.modules\.\w+\.')


def tidy_type(a: str) -> str:
    """A type as the source wrote it, not as Python prints it in a notebook: no `__main__.` for classes the notebook
    defines, `torch.nn.Module` for torch's module paths, `X | None` for `Optional[X]` and `Union[X, NoneType]`"""
    a = _TORCH_MOD.sub('torch.nn.', a.replace('__main__.', ''))
    a = _OPTIONAL.sub(lambda m: f'{m[1]} | None', a)
    return _UNION.sub(lambda m: ' | '.join('None' if t.strip() == 'NoneType' else t.strip() for t in m[1].split(',')), a)


def render_signature(sig: str):
    """show_doc's signature as HTML that wraps only between parameters, and, when any parameter has a docments
    comment, a parameter table (Type, Default, Details) as nbdev 2 and fastai's site show them. None: leave it."""
    parsed = split_params(sig)
    if parsed is None: return None
    kind, name, params, ret, ret_doc = parsed
    parts = []
    params = [(n, tidy_type(a) if a else a, d, doc) for n, a, d, doc in params]
    ret = tidy_type(ret) if ret else ret
    for n, a, d, _ in params:
        t = f'<span class="sig-pname">{_esc(n)}</span>'
        if a: t += f':<span class="sig-type">{_esc(a)}</span>'
        if d: t += f'=<span class="sig-default">{_esc(d)}</span>'
        parts.append(f'<span class="sig-param">{t}</span>')
    pre = '<span class="sig-kw">async</span> ' if kind.startswith('async') else ''
    ret_html = f'<span class="sig-ret"> → {_esc(ret)}</span>' if ret else ''
    out = (f'<div class="doc-sig"><code>{pre}<span class="sig-name">{_esc(name.split(".")[-1])}</span>'
           f'<span class="sig-paren">(</span>{", ".join(parts)}<span class="sig-paren">)</span>{ret_html}</code></div>')
    if any(doc for *_, doc in params) or ret_doc:
        rows = [f'<tr><td><strong>{_esc(n)}</strong></td><td>{_code(a)}</td><td>{_code(d)}</td><td>{_inline(doc)}</td></tr>'
                for n, a, d, doc in params]
        if ret or ret_doc: rows.append(f'<tr><td><strong>Returns</strong></td><td>{_code(ret)}</td><td></td><td>{_inline(ret_doc)}</td></tr>')
        out += ('\n\n<table class="doc-params"><thead><tr><th></th><th>Type</th><th>Default</th><th>Details</th></tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>')
    return out


_SHOWDOC = re.compile(r'(^#{1,6} [^\n]+\n\n)```python\n(.*?)\n```', re.S | re.M)
_PRIVATE_LINK = re.compile(r'\[(`_[\w.]*`)\]\([^)\s]*#_[\w.]*\)')  # nbdev links `_private` names too
_NB_LINK = re.compile(r'\]\((?![a-z]+:|/|#)([^)\s]+?)\.ipynb(#[^)\s]*)?\)')


_EPOCH_HEAD = re.compile(r'^epoch(\s+\S+)*\s+time\s*$')  # the header line of a Learner's printed results table


def _table_html(head: list, rows: list) -> str:
    cell = lambda tag, v, i: f'<{tag} class="num">{html.escape(v)}</{tag}>' if i else f'<{tag}>{html.escape(v)}</{tag}>'
    return ('<table class="epoch-table"><thead><tr>' + ''.join(cell('th', h, i) for i, h in enumerate(head)) +
            '</tr></thead><tbody>' + ''.join('<tr>' + ''.join(cell('td', v, i) for i, v in enumerate(r)) + '</tr>'
                                              for r in rows) + '</tbody></table>')


def epoch_tables(outputs: list) -> list:
    """`outputs` with each results table a Learner printed (a header `epoch ... time`, then one row per epoch with as
    many columns) turned into an HTML table (its text kept as text/plain), so that it reads as a table on the site at
    any width; the text before and after it stays a stream"""
    out = []
    for o in outputs:
        if o.get('output_type') != 'stream':
            out.append(o); continue
        lines, text, i = ''.join(o['text']).splitlines(True), [], 0
        def flush():
            if text: out.append({**o, 'text': ''.join(text)}); text.clear()
        while i < len(lines):
            if _EPOCH_HEAD.match(lines[i].rstrip('\n')):
                head, j = lines[i].split(), i + 1
                while j < len(lines) and len(lines[j].split()) == len(head) and lines[j].split()[0].isdigit(): j += 1
                if j > i + 1:
                    flush()
                    rows = [l.split() for l in lines[i + 1:j]]
                    out.append({'output_type': 'display_data', 'metadata': {},
                                'data': {'text/html': _table_html(head, rows), 'text/plain': ''.join(lines[i:j])}})
                    i = j; continue
            text.append(lines[i]); i += 1
        flush()
    return out


def clean_notebook(path: Path, proc: Path, links: dict):
    """Make one processed notebook render in mkdocs-jupyter as it would in Quarto.

    nbdev-proc-nbs leaves a `has_sd` key on cells and a float under `metadata.execution` (both rejected by nbformat's
    validator), moves each notebook's title and description into Quarto front matter, and writes Quarto cell options
    (`#| echo: false`, `#| output: asis`) that only Quarto understands. Here we drop the two keys, put the title back
    as a heading and apply the options; links into the published site (`doc_url`) become links between local pages."""
    nb = json.loads(path.read_text())
    here = path.relative_to(proc).parent
    cells = []
    for c in nb['cells']:
        c.pop('has_sd', None)
        c.pop('id', None)
        c.get('metadata', {}).pop('execution', None)
        if c['cell_type'] == 'code':
            lines, opts = ''.join(c['source']).splitlines(), {}
            while lines and (m := _OPT.match(lines[0])): opts[m[1]] = m[2].lower(); lines.pop(0)
            if opts.get('include') == 'false': continue
            c['source'] = '\n'.join(lines)
            if opts.get('echo') == 'false': c.setdefault('metadata', {}).setdefault('tags', []).append('remove_input')
            if opts.get('output') == 'false': c['outputs'] = []
            c['outputs'] = epoch_tables(c.get('outputs', []))
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is None: continue
                md = _ATTRS.sub('', ''.join(md))
                if md.startswith('---') and (m := _SHOWDOC.search(md)) and (sig := render_signature(m[2])):
                    sig, _, table = sig.partition('\n\n')  # a show_doc entry: signature, docstring, parameters
                    md = md[:m.start()] + m[1] + sig + md[m.end():].rstrip() + ('\n\n' + table if table else '')
                o['data']['text/markdown'] = md
        elif c['cell_type'] == 'markdown':  # links to notebooks become links to their pages (Quarto does the same)
            c['source'] = _NB_LINK.sub(lambda m: '](' + m[1] + '.html' + (m[2] or '') + ')', ''.join(c['source']))
        cells.append(c)
    if cells and cells[0]['cell_type'] == 'raw' and ''.join(cells[0]['source']).startswith('---'):
        fm = yaml.safe_load(''.join(cells.pop(0)['source']).strip().strip('-')) or {}  # Quarto front matter
        if fm.get('title'):
            head = f"# {fm['title']}" + (f"\n\n> {fm['description']}" if fm.get('description') else '')
            cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": head})
    nb['cells'] = cells
    text = _PRIVATE_LINK.sub(r'\1', json.dumps(nb))  # private names have no entry to link to: plain code
    for url, target in links.items(): text = text.replace(url, os.path.relpath(target, here))
    nb = nbformat.from_dict(json.loads(text))
    nb.nbformat_minor = 4
    nbformat.validate(nb)
    nbformat.write(nb, path)


_MATHJAX = re.compile(r'<!-- Load mathjax -->\s*<script src="">\s*</script>|<!-- MathJax configuration -->\s*'
                      r'<script type="text/x-mathjax-config">.*?</script>\s*<!-- End of mathjax configuration -->|'
                      r'<script type="text/x-mathjax-config">.*?</script>', re.S)
_HEAD = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)<a class="anchor-link" href="#([^"]*)">¶</a></h\1>(\s*<div class="doc-sig">)?', re.S)
_TOC = re.compile(r'(<a href=")#([^"]*)(" class="md-nav__link">\s*<span class="md-ellipsis">)(.*?)(</span>)', re.S)
_HREF = re.compile(r'(href=")([^"#]*)#([^"]+)"')


def _text(h: str) -> str: return ' '.join(html.unescape(re.sub(r'<[^>]+>', '', h)).split())


def fix_ids(page: str):
    """Heading ids as nbdev's Quarto site has them: a show_doc entry's id is its name in lower case with the dots kept
    (`#learner.lr_find`, what nbdev's doc links point at), and no id appears twice on a page (a later duplicate gets
    `_1`, `_2`, as the table of contents numbers them). Returns the page and {old id: new id} for the entries."""
    heads = list(_HEAD.finditer(page))
    docs = {m.start(): _text(m[3]).lower() for m in heads if m[5]}
    taken, renames, prose, out, last = set(docs.values()), {}, [], [], 0
    for m in heads:
        old = m[2]
        if m.start() in docs: new = docs[m.start()]; renames.setdefault(old, new)
        else:
            new, k = old, 0
            while new in taken: k += 1; new = f'{old}_{k}'
            taken.add(new); prose.append((_text(m[3]), new, _text(re.sub(r'<code>.*?</code>', '', m[3], flags=re.S))))
        out += [page[last:m.start()], f'<h{m[1]} id="{new}">{m[3]}<a class="anchor-link" href="#{new}">¶</a></h{m[1]}>{m[5] or ""}']
        last = m.end()
    page = ''.join(out) + page[last:]
    # The tables of contents (the sidebar's and the page's own) list the markdown headings in order, with inline code
    # dropped from their text (mkdocs-jupyter's way): walk them along the prose headings and point each at its heading.
    def norm(t): return re.sub(r'\W+', '', t.lower())
    def relink(part):
        pos = 0
        def toc(m):
            nonlocal pos
            t = norm(_text(m[4]))
            for j in range(pos, len(prose)):
                full, bare = norm(prose[j][0]), norm(prose[j][2])
                if bare == t or full.startswith(t) or (t and t in full):
                    pos = j + 1
                    return f'{m[1]}#{prose[j][1]}{m[3]}{html.escape(prose[j][0], quote=False)}{m[5]}'
            return m[0]
        return _TOC.sub(toc, part)
    cut = page.find('md-sidebar--secondary')
    page = relink(page[:cut]) + relink(page[cut:]) if cut >= 0 else relink(page)
    if prose: page = re.sub(r'(<a href="#)[^"]*(" class="md-skip">)', lambda m: m[1] + prose[0][1] + m[2], page)  # "Skip to content"
    page = _MATHJAX.sub('', page)
    return page, {o: n for o, n in renames.items() if o != n and o not in {h for _, h, _ in prose}}


def finish_site(site: Path):
    "Post-process the built pages: nbdev's anchor names, unique ids, no MathJax loader pointing at nothing"
    pages = {p.relative_to(site).as_posix(): p for p in site.rglob('*.html')}
    texts, renames = {}, {}
    for rel, p in pages.items(): texts[rel], renames[rel] = fix_ids(p.read_text(encoding='utf-8'))
    def href(rel):
        def f(m):
            target = rel if not m[2] else os.path.normpath(os.path.join(os.path.dirname(rel), m[2])).replace(os.sep, '/')
            new = renames.get(target, {}).get(m[3])
            return f'{m[1]}{m[2]}#{new}"' if new else m[0]
        return f
    for rel, p in pages.items(): p.write_text(_HREF.sub(href(rel), texts[rel]), encoding='utf-8')
    idx = site/'search'/'search_index.json'
    if idx.exists():
        data = json.loads(idx.read_text())
        for d in data.get('docs', []):
            page, _, frag = d.get('location', '').partition('#')
            if frag in renames.get(page, {}): d['location'] = f'{page}#{renames[page][frag]}'
        idx.write_text(json.dumps(data))


def write_readme(proc: Path, links: dict):
    """README.md from the processed index notebook: markdown, code and outputs; images into README_files/.
    Links to pages of the site point at the published site (`links`: its URL -> the page's path), so they work on GitHub"""
    from nbconvert import MarkdownExporter
    body, res = MarkdownExporter().from_filename(str(proc/'index.ipynb'),
                                                 resources={'output_files_dir': 'README_files'})
    for url, target in sorted(links.items(), key=lambda kv: -len(kv[1])):
        body = body.replace(f']({target})', f']({url})').replace(f']({target}#', f']({url}#')
    shutil.rmtree(ROOT/'README_files', ignore_errors=True)
    for name, data in res.get('outputs', {}).items():
        (ROOT/name).parent.mkdir(parents=True, exist_ok=True)
        (ROOT/name).write_bytes(data)
    note = '<!-- Generated from nbs/index.ipynb by `make docs`: edit the notebook, not this file. -->\n\n'
    (ROOT/'README.md').write_text(note + body.strip() + '\n')


def mkdocs_build(proc: Path):
    "mkdocs build with mkdocs.yml plus the `nav` from the notebooks present (a generated config under _build/)"
    cfg = yaml.safe_load((ROOT/'mkdocs.yml').read_text())
    cfg.update(docs_dir=str(proc), site_dir=str(ROOT/'_site'), nav=mkdocs_nav(proc))
    gen = ROOT/'_build'/'mkdocs.yml'
    gen.parent.mkdir(exist_ok=True)
    gen.write_text(yaml.dump(cfg, sort_keys=False))
    os.environ.setdefault('NO_MKDOCS_2_WARNING', '1')
    subprocess.run([str(BIN/'mkdocs'), 'build', '--quiet', '--clean', '-f', str(gen)], check=True)
    finish_site(ROOT/'_site')


def main():
    os.chdir(ROOT)
    if '--sidebar' in sys.argv[1:]:  # only nbs/sidebar.yml, in a second: after adding or renaming a notebook
        write_sidebar(ROOT/'nbs'); print(f'Wrote {ROOT/"nbs"/"sidebar.yml"}'); return
    if shutil.which('quarto'):
        write_sidebar(ROOT/'nbs')
        for cmd in ('nbdev-readme', 'nbdev-docs'): subprocess.run([str(BIN/cmd)], check=True)
        print(f'Docs built with Quarto into {ROOT/"_docs"}')
        return
    from nbdev.config import get_config
    proc, doc_url = proc_notebooks(), get_config(ROOT).doc_url.rstrip('/') + '/'
    nbs = sorted(proc.rglob('*.ipynb'))
    links = {doc_url + html_name(nb, proc): str(nb.relative_to(proc).with_suffix('.html')) for nb in nbs}
    for nb in nbs: clean_notebook(nb, proc, links)
    shutil.copytree(ASSETS, proc/'docs_assets', dirs_exist_ok=True)
    write_readme(proc, links)
    mkdocs_build(proc)
    print(f'Docs built into {ROOT/"_site"} (open _site/index.html, or serve it: python -m http.server -d _site)')


if __name__ == '__main__': main()
