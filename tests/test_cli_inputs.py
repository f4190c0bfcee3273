"""Issue 15's command-line bad inputs, each run as a real `onecycle` process: every one ends with exit code 1 or 2 and
a single error line that names what was wrong (no traceback), and `--debug` shows the traceback instead."""
import os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest
import torch
from onecycle.data.block import fashion_mnist_png
from onecycle.callback.checkpoint import write_checkpoint

ONECYCLE = str(Path(sys.executable).parent/'onecycle')   # the console script pip installed next to this Python
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg'}

def run(*args, cwd=None):
    p = subprocess.run([ONECYCLE, *map(str, args)], capture_output=True, text=True, env=ENV,
                       cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp('cli')
    folder = fashion_mnist_png(d/'fm', n_train=20, n_valid=10)
    (d/'a_file').write_text('not a folder'); (d/'empty_dir').mkdir()
    (d/'empty.pth').write_bytes(b'')
    write_checkpoint(d/'other_arch.pth', {'model': {'4.2.weight': torch.zeros(3, 5)}})   # another model's weights
    flipped = d/'flipped.pth'
    write_checkpoint(flipped, {'model': {'w': torch.arange(1000.)}})
    b = bytearray(flipped.read_bytes()); b[len(b)//2] ^= 0xFF; flipped.write_bytes(bytes(b))
    (d/'image.png').write_bytes(next(folder.rglob('*.png')).read_bytes())
    # a real export of an untrained model, as `onecycle train` writes it, for the predict cases
    from onecycle.cli import get_dls, DEFAULT_ARCH
    from onecycle.learner import Learner
    from onecycle.vision.models import get_model
    from onecycle.vision.learner import model_spec
    dls = get_dls(str(folder), 8, 28, True, 0.2, 0, 'cpu', 0, None)
    learn = Learner(dls, get_model(DEFAULT_ARCH, n_in=1, n_out=len(dls.vocab)), loss_func=torch.nn.CrossEntropyLoss())
    learn.model_spec = model_spec(DEFAULT_ARCH, n_in=1, n_out=len(dls.vocab))
    learn.export(d/'export.pth')
    return d, folder

# (name, arguments, exit code, words the one error line must hold); {d} is the temporary folder, {data} the image folder
CASES = [
    ('workers -1',          ['train', '--workers', '-1'], 2, 'expected an integer >= 0'),
    ('device bogus',        ['train', '--device', 'bogus'], 2, "'bogus' is not a device"),
    ('label smoothing 2',   ['train', '--label-smoothing', '2'], 2, 'expected a number in [0, 1)'),
    ('label smoothing nan', ['train', '--label-smoothing', 'nan'], 2, 'expected a number in [0, 1)'),
    ('epochs 0',            ['train', '--epochs', '0'], 2, 'expected a positive integer'),
    ('lr words',            ['train', '--lr', 'fast'], 2, "'auto' or a positive number"),
    ('unknown command',     ['fly'], 2, 'invalid choice'),
    ('missing data folder', ['train', '--data', '{d}/no_such_folder', '--out', '{d}/o1'], 1, 'no_such_folder'),
    ('out is a file',       ['train', '--data', '{data}', '--out', '{d}/a_file'], 1, 'is a file, not a folder'),
    ('resume empty file',   ['train', '--data', '{data}', '--gray', '--size', '28', '--bs', '8', '--epochs', '1', '--lr', '0.01',
                             '--out', '{d}/o2', '--resume', '{d}/empty.pth'], 1, 'empty.pth'),
    ('resume other model',  ['train', '--data', '{data}', '--gray', '--size', '28', '--bs', '8', '--epochs', '1', '--lr', '0.01',
                             '--out', '{d}/o3', '--resume', '{d}/other_arch.pth'], 1, 'other_arch.pth'),
    ('resume flipped byte', ['train', '--data', '{data}', '--gray', '--size', '28', '--bs', '8', '--epochs', '1', '--lr', '0.01',
                             '--out', '{d}/o4', '--resume', '{d}/flipped.pth'], 1, 'flipped.pth'),
    ('resume missing file', ['train', '--data', '{data}', '--gray', '--size', '28', '--bs', '8', '--epochs', '1', '--lr', '0.01',
                             '--out', '{d}/o5', '--resume', '{d}/nothing.pth'], 1, 'nothing.pth'),
    ('predict missing model', ['predict', '{d}/nothing.pth', '{d}/image.png'], 1, 'nothing.pth'),
    ('predict not an export', ['predict', '{d}/other_arch.pth', '{d}/image.png'], 1, 'other_arch.pth'),
    ('predict missing image', ['predict', '{d}/export.pth', '{d}/no.png'], 1, 'no.png'),
    ('predict empty folder',  ['predict', '{d}/export.pth', '{d}/empty_dir'], 1, 'is an empty folder'),
]
if not torch.cuda.is_available(): CASES.append(('device cuda, no GPU', ['train', '--device', 'cuda'], 2, 'no CUDA GPU'))

def test_bad_inputs_get_one_line_and_an_exit_code(files):
    d, data = files
    def one(case):
        name, args, code, words = case
        return case, run(*[a.format(d=d, data=data) for a in args], cwd=d)
    with ThreadPoolExecutor(3) as ex: results = list(ex.map(one, CASES))
    failed = []
    for (name, args, code, words), (rc, out, err) in results:
        lines = [l for l in err.splitlines() if l.strip() and not l.startswith('usage:') and not l.startswith(' ')]
        ok = rc == code and 'Traceback' not in err and len(lines) == 1 and words in lines[0]
        if not ok: failed.append(f"{name}: exit {rc} (expected {code}); stderr:\n{err[-1500:]}")
        else: print(f"{name:24s} exit {rc}  {lines[0][:140]}")
    assert not failed, '\n\n'.join(failed)

def test_a_good_predict_still_works(files):
    "The control: the same export and a real image predict, exit 0, one line per image"
    d, data = files
    rc, out, err = run('predict', d/'export.pth', d/'image.png')
    assert rc == 0, err[-800:]
    assert out.strip().startswith(str(d/'image.png')), out

def test_debug_shows_the_traceback(files):
    d, data = files
    rc, out, err = run('--debug', 'train', '--data', d/'no_such_folder', '--out', d/'o6')
    assert rc != 0 and 'Traceback' in err, err[-800:]
