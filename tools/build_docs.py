"""Build the documentation site and README.md from the notebooks.

With Quarto on PATH this is nbdev's own pipeline (`nbdev-readme`, `nbdev-docs`), as the GitHub deploy workflow runs it.
Without Quarto (this project's development and CI machines, where it cannot be installed) we keep nbdev's processing
of the notebooks (directives, `show_doc` entries, front matter) and render the processed notebooks with
mkdocs-material and mkdocs-jupyter into `_site/`. README.md comes from the same processed `index.ipynb`.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import nbformat, yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def proc_notebooks() -> Path:
    "nbdev's notebook processing into `_proc/`, without nbdev-proc-nbs's attempt to install Quarto"
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.doclinks import _build_modidx
    from nbdev.serve import proc_nbs
    os.chdir(ROOT)
    cfg = get_config(ROOT)
    refresh_quarto_yml()
    _build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    return proc_nbs(cfg.nbs_path, force=True, n_workers=0)


_OPT = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')
_ATTRS = re.compile(r'\{target="_blank"[^}]*\}')  # Quarto attribute blocks on show_doc's source links


def html_name(nb: Path, root: Path) -> str:
    "Where nbdev's Quarto site puts a notebook's page: its path with number prefixes removed, as .html"
    return '/'.join(re.sub(r'^\d+_', '', part) for part in nb.relative_to(root).with_suffix('.html').parts)


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
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = _ATTRS.sub('', ''.join(md))
        cells.append(c)
    if cells and cells[0]['cell_type'] == 'raw' and ''.join(cells[0]['source']).startswith('---'):
        fm = yaml.safe_load(''.join(cells.pop(0)['source']).strip().strip('-')) or {}  # Quarto front matter
        if fm.get('title'):
            head = f"# {fm['title']}" + (f"\n\n> {fm['description']}" if fm.get('description') else '')
            cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": head})
    nb['cells'] = cells
    text = json.dumps(nb)
    for url, target in links.items(): text = text.replace(url, os.path.relpath(target, here))
    nb = nbformat.from_dict(json.loads(text))
    nb.nbformat_minor = 4
    nbformat.validate(nb)
    nbformat.write(nb, path)


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


def main():
    os.chdir(ROOT)
    if shutil.which('quarto'):
        for cmd in ('nbdev-readme', 'nbdev-docs'): subprocess.run([str(BIN/cmd)], check=True)
        print(f'Docs built with Quarto into {ROOT/"_docs"}')
        return
    from nbdev.config import get_config
    proc, doc_url = proc_notebooks(), get_config(ROOT).doc_url.rstrip('/') + '/'
    nbs = sorted(proc.rglob('*.ipynb'))
    links = {doc_url + html_name(nb, proc): str(nb.relative_to(proc).with_suffix('.html')) for nb in nbs}
    for nb in nbs: clean_notebook(nb, proc, links)
    shutil.copy(ROOT/'tools'/'mkdocs_extra.css', proc/'mkdocs_extra.css')
    write_readme(proc, links)
    os.environ.setdefault('NO_MKDOCS_2_WARNING', '1')
    subprocess.run([str(BIN/'mkdocs'), 'build', '--quiet', '--clean', '-f', str(ROOT/'mkdocs.yml')], check=True)
    print(f'Docs built into {ROOT/"_site"} (open _site/index.html, or serve it: python -m http.server -d _site)')


if __name__ == '__main__': main()
