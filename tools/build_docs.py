"""Build the documentation site and README.md from the notebooks.

With Quarto on PATH this is nbdev's own pipeline (`nbdev-readme`, `nbdev-docs`), as the GitHub deploy workflow runs it.
Without Quarto (this project's development and CI machines, where it cannot be installed) we keep nbdev's processing
of the notebooks (directives, `show_doc` entries, front matter) and render the processed notebooks with
mkdocs-material and mkdocs-jupyter into `_site/`. README.md comes from the same processed `index.ipynb`.
"""
import json, os, shutil, subprocess, sys
from pathlib import Path
import nbformat

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


def clean_notebook(path: Path):
    """Make one processed notebook valid nbformat for mkdocs-jupyter, and put its title back as a heading.

    nbdev-proc-nbs leaves a `has_sd` key on cells and a float under `metadata.execution` (both rejected by nbformat's
    validator), and moves the `# Title` / `> description` cells into Quarto front matter."""
    nb = json.loads(path.read_text())
    for c in nb['cells']:
        c.pop('has_sd', None)
        if not isinstance(c.get('metadata', {}).get('execution', {}), dict): c['metadata'].pop('execution')
        c.get('metadata', {}).pop('execution', None)
    fm, body = {}, nb['cells']
    if body and body[0]['cell_type'] == 'raw' and ''.join(body[0]['source']).startswith('---'):
        import yaml
        fm = yaml.safe_load(''.join(body[0]['source']).strip().strip('-')) or {}
        body = body[1:]
    if fm.get('title'):
        head = f"# {fm['title']}\n" + (f"\n> {fm['description']}\n" if fm.get('description') else '')
        body.insert(0, nbformat.v4.new_markdown_cell(head))
    nb['cells'] = body
    nb = nbformat.from_dict(nb)
    for c in nb.cells:
        c.pop('id', None)
    nb.nbformat_minor = 4
    nbformat.validate(nb)
    nbformat.write(nb, path)


def write_readme(proc: Path):
    "README.md from the processed index notebook: markdown, code and outputs; images into README_files/"
    from nbconvert import MarkdownExporter
    body, res = MarkdownExporter().from_filename(str(proc/'index.ipynb'),
                                                 resources={'output_files_dir': 'README_files'})
    out = ROOT/'README_files'
    shutil.rmtree(out, ignore_errors=True)
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
    proc = proc_notebooks()
    for nb in sorted(proc.rglob('*.ipynb')): clean_notebook(nb)
    write_readme(proc)
    os.environ.setdefault('NO_MKDOCS_2_WARNING', '1')
    subprocess.run([str(BIN/'mkdocs'), 'build', '--quiet', '--clean', '-f', str(ROOT/'mkdocs.yml')], check=True)
    print(f'Docs built into {ROOT/"_site"} (open _site/index.html, or serve it: python -m http.server -d _site)')


if __name__ == '__main__': main()
