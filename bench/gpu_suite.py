"""The GPU suite: one command that proves onecycle's GPU training loop on a GPU and measures it (issue 17).

It runs seven steps, each in its own process (a crash, a CUDA error or the sync-debug mode of one step cannot leak
into the next), under one time budget (`--budget`, 450 s by default: the suite must fit in 8 minutes on one H100/H200):

  1 notebooks  the notebooks' GPU cells (`#| gpu`, or guarded by `torch.cuda.is_available()`) run as tests
  2 learner    bench/learner.py with and without `--bf16 --channels-last`: the Learner against a hand-written loop
  3 nosync     no host-device synchronisation per batch: `torch.cuda.set_sync_debug_mode('error')` around every
               batch but a pass's first, in a fit with the default callbacks, a metric and the progress bar
  4 loader     the in-memory loader and the device augmentations, in images per second
  5 compile    `learn.compile()` (inductor, and `mode='reduce-overhead'` on CUDA) against eager, seconds per epoch
  6 tta        time to accuracy on Fashion-MNIST, median of 3 seeds (goals on one GPU: 94.5% in <= 10 s of training,
               95.5% within 60 s)
  7 ddp        DistributedDataParallel through torchrun: NCCL, one process per GPU; with one GPU, 2 processes sharing
               it with NCCL if NCCL allows it, else gloo on CUDA tensors; the weights must agree on every rank

Steps 1, 3 and 7 (correctness only) run first, 1 alongside 3 and 7; then 2, 4, 6 and 5 are timed one after another.
It writes `results.md` (one table, a row per measurement, with the machine, the date and the versions),
`results.json` and the raw log of every step (`logs/`) under `--out`, and exits with status 1 when a correctness
check fails or a step crashes or runs out of time (a missed speed goal is reported, not a failure).

How step 1 runs the notebooks: with `nbdev-test --flags gpu` where nbdev is installed; on the GPU machine nbdev is not
(nor IPython, which execnb needs), so the suite runs the same cells itself: every code cell that `nbdev-test --flags
gpu` would run (cells flagged with a `tst_flags` flag other than `gpu`, `#| eval: false` cells and the
`nbdev_export()` cell are skipped), in order, in one fresh namespace per notebook, in the notebook's folder, in its
own process. `--nb-runner nbdev|plain` forces one; the table says which ran.

Prepare the carry on a machine with a network (`make gpu-pack`: the wheels onecycle needs that the GPU machine lacks,
and Fashion-MNIST's four .gz files, in the ignored folder gpu-carry/, about 1 MB + 30 MB), then on the GPU machine:

    python3 -m pip install --no-index --find-links gpu-carry/wheels --no-deps fastcore fastprogress -e .; bash bench/gpu_suite.sh --device cuda --data gpu-carry/data --out $OUT

(`--no-deps` installs only the packages named: without `fastcore fastprogress` pip installs onecycle alone. If pip cannot
install at all, e.g. into an externally managed Python, gpu_suite.sh puts the repository and the carried wheels on
PYTHONPATH instead, hence `;` rather than `&&`.)

The CPU dry run (tests/test_gpu_suite.py): `bash bench/gpu_suite.sh --device cpu --quick --data DIR --out DIR`
runs every step small (subsets of the data, one notebook, 1-epoch recipes, gloo with 2 processes).
Other options: --only/--skip STEP[,STEP...] (by name or number), --budget SECONDS, --nb-runner auto|nbdev|plain.
"""
import argparse, ast, datetime, json, os, platform, re, shutil, signal, statistics, subprocess, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ['notebooks', 'learner', 'nosync', 'loader', 'compile', 'tta', 'ddp']   # numbered 1..7 in this order
TITLES = {'notebooks': "notebooks' GPU cells", 'learner': 'Learner vs hand-written loop (bench/learner.py)',
          'nosync': 'no host-device sync per batch', 'loader': 'in-memory loader and device augmentations',
          'compile': 'torch.compile vs eager', 'tta': 'time to accuracy (Fashion-MNIST)', 'ddp': 'DDP across processes'}
PARALLEL = ['notebooks', 'nosync', 'ddp']   # correctness only: they run while nothing is being timed
TIMED = ['learner', 'loader', 'tta', 'compile']   # then these, one at a time, in this order (the goals before compile)
# the most seconds each step may take, on CUDA (full run) and in the quick dry run on a 2-core CPU
CAPS = {'notebooks': 180, 'learner': 100, 'nosync': 90, 'loader': 45, 'compile': 150, 'tta': 200, 'ddp': 150}
QUICK_CAPS = {s: 300 for s in STEPS}  # the dry run tests the script, on a CPU that may be busy: generous limits
# time-to-accuracy recipes on a GPU: (name, goal accuracy, goal seconds, settings). The seconds are those of
# `fit_one_cycle` (with a validation pass each epoch) and the final test-time-flip evaluation.
RECIPES = [
    ('fast', 0.945, 10, dict(widths=(64, 128, 256), depths=(1, 1, 1), stem=32, stem_stride=2, epochs=8, bs=512,
                             lr=1e-2, wd=0.05, ls=0.1, pct_start=0.25)),
    ('long', 0.955, 60, dict(widths=(96, 192, 384), depths=(2, 2, 2), stem=48, stem_stride=1, epochs=16, bs=512,
                             lr=1e-2, wd=0.05, ls=0.1, pct_start=0.25)),
]
QUICK_RECIPES = [('tiny', None, None, dict(widths=(8, 16, 32), depths=(1, 1, 1), stem=8, stem_stride=2, epochs=2,
                                           bs=64, lr=1e-2, wd=0.05, ls=0.1, pct_start=0.25))]
QUICK_N = (2048, 1000)   # training and test images in quick mode


# ----------------------------------------------------------------------------------------------------------------
# Finding the notebooks' GPU cells (also used by the script that adds `#| gpu` to them)

def _directives(src:str) -> list[str]:
    "The `#|` directive lines of a cell (nbdev reads them anywhere among the cell's first lines)"
    return [l[2:].strip() for l in src.splitlines() if l.startswith('#|')]

def _flags(src:str) -> set:
    return {w for d in _directives(src) for w in re.split(r'[\s,]+', d) if w}

def _code_only(src:str) -> str:
    return '\n'.join(l for l in src.splitlines() if not l.startswith('#|') and not l.lstrip().startswith(('%', '!')))

def _is_cuda_guard(test) -> bool:
    "Whether an `if` test asks for CUDA (`torch.cuda.is_available()`, `device_count()`, `dev.type == 'cuda'`...)"
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not): return False
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or): return all(_is_cuda_guard(v) for v in test.values)
    if isinstance(test, ast.BoolOp): return any(_is_cuda_guard(v) for v in test.values)  # `cuda and x`: only on CUDA
    return 'cuda' in ast.unparse(test)

def is_gpu_cell(src:str) -> bool:
    "A cell flagged `#| gpu`, or one whose code does something only on CUDA: every statement is an `if <cuda>:` block"
    if 'gpu' in _flags(src): return True
    if {'export', 'exporti', 'exports'} & _flags(src): return False
    try: tree = ast.parse(_code_only(src))
    except SyntaxError: return False
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return bool(body) and all(isinstance(s, ast.If) and not s.orelse and _is_cuda_guard(s.test) for s in body)

def notebooks(root:Path=ROOT) -> list[Path]:
    nbs = root/'nbs'
    return sorted(p for p in nbs.rglob('*.ipynb') if not any(part.startswith(('.', '_')) for part in p.relative_to(nbs).parts))

def gpu_cells(nb:Path) -> list[tuple[int, str]]:
    "(index, source) of the GPU cells of the notebook `nb`"
    cells = json.loads(Path(nb).read_text())['cells']
    return [(i, ''.join(c['source'])) for i, c in enumerate(cells) if c['cell_type'] == 'code' and is_gpu_cell(''.join(c['source']))]


def tst_flags(root:Path=ROOT) -> set:
    "The `tst_flags` of pyproject.toml's [tool.nbdev]"
    import tomllib
    return set(tomllib.loads((root/'pyproject.toml').read_text())['tool']['nbdev'].get('tst_flags', '').split())


def run_notebook_plain(nb:Path, flags:set) -> int:
    "Run the code cells of `nb` that `nbdev-test --flags <flags>` runs, in order, in one namespace; 0 when all pass"
    skip = tst_flags() - set(flags)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    cells = json.loads(Path(nb).read_text())['cells']
    os.chdir(Path(nb).parent); sys.path.insert(0, str(Path(nb).parent))
    ns, ran, gpu = {'__name__': '__main__'}, 0, 0
    for i, c in enumerate(cells):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        fl, ds = _flags(src), _directives(src)
        if fl & skip or any(re.match(r'eval\s*:\s*false', d, re.I) for d in ds) or 'nbdev_export(' in src: continue
        try: exec(compile(_code_only(src), f'{Path(nb).name} cell {i}', 'exec'), ns)
        except Exception:
            print(f"FAILED: {nb} cell {i} (id {c.get('id')}):\n{src}\n", flush=True); traceback.print_exc(); return 1
        ran += 1; gpu += is_gpu_cell(src)
    print(f"ran {ran} cells of {nb} ({gpu} GPU cells)", flush=True)
    return 0


# ----------------------------------------------------------------------------------------------------------------
# Shared helpers of the steps (each step runs in its own process: `gpu_suite.py --step NAME ...`)

class Rows:
    "The rows a step reports, written to its JSON file after each one (a step killed at its limit keeps what it had)"
    def __init__(self, path): self.path, self.rows = Path(path), []
    def add(self, what:str, result:str, check:str='-'):
        self.rows.append({'what': what, 'result': result, 'check': check})
        print(f"ROW | {what} | {result} | {check}", flush=True)
        tmp = self.path.with_suffix('.tmp'); tmp.write_text(json.dumps(self.rows, indent=1)); os.replace(tmp, self.path)


def _sync(dev):
    import torch
    if dev.type == 'cuda': torch.cuda.synchronize(dev)

def _dls(a, bs:int, augment:bool=True, seed:int=0, val_bs:int|None=None):
    "Fashion-MNIST on the device (the whole set, or the quick subset), through the public API"
    import torch
    from torch import nn
    from onecycle.data.load import fashion_mnist_dls, DataLoaders
    from onecycle.data.external import load_fashion_mnist
    from onecycle.data.transforms import Normalize, RandomFlip, RandomTranslate
    if not a.quick: return fashion_mnist_dls(bs=bs, device=a.device, augment=augment, seed=seed, path=a.data, val_bs=val_bs)
    ds = load_fashion_mnist(a.data)
    (nt, nv) = QUICK_N
    xt, xv = ds.x_train[:nt, None], ds.x_test[:nv, None]
    tfms = ([RandomFlip(), RandomTranslate(2)] if augment else []) + [Normalize.from_data(xt)]
    dls = DataLoaders.from_tensors(xt, ds.y_train[:nt], xv, ds.y_test[:nv], bs=bs, device=a.device, batch_tfms=tfms,
                                   seed=seed, val_bs=val_bs or 2 * bs)
    dls.vocab, dls.loss_func = ds.classes, nn.CrossEntropyLoss()
    return dls

def _cnn(quick:bool):
    from onecycle.vision.models import resnet_small
    return resnet_small(1, 10, widths=(8, 16, 32), stem=8) if quick else resnet_small(1, 10)


def step_notebooks(a, rows:Rows):
    "1: the GPU cells of every notebook that has some, through nbdev-test where it is installed, else the plain runner"
    nbs = [nb for nb in notebooks() if gpu_cells(nb)]
    if a.quick: nbs = [nb for nb in nbs if nb.name == '00_core.ipynb'][:1] or nbs[:1]  # the dry run: one small chapter
    flagged = {nb: sum('gpu' in _flags(s) for _, s in gpu_cells(nb)) for nb in nbs}
    nbdev_test = shutil.which('nbdev-test', path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    try: import nbdev  # noqa: F401
    except ImportError: nbdev_test = None
    runners = [a.nb_runner] if a.nb_runner != 'auto' else ['nbdev' if nbdev_test else 'plain']
    if a.quick and a.nb_runner == 'auto': runners = ['plain']  # the dry run tests the GPU machine's way (nbdev-test runs
                                                               # every notebook in the default test suite anyway)
    if 'nbdev' in runners and not nbdev_test: raise RuntimeError("--nb-runner nbdev: nbdev-test is not installed here")
    def cmd(nb, runner):
        if runner == 'nbdev': return [nbdev_test, str(nb), '--flags', 'gpu']
        return [sys.executable, str(Path(__file__).resolve()), '--run-notebook', str(nb), '--flags', 'gpu']
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    procs = {(nb, r): subprocess.Popen(cmd(nb, r), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for nb in nbs for r in runners}   # in parallel: the machine has the cores, and nothing is timed here
    for (nb, runner), p in procs.items():
        out, _ = p.communicate()
        print(f"===== {nb.relative_to(ROOT)} ({runner}): exit {p.returncode}\n{out}", flush=True)
        why = ' (nbdev is not installed here)' if runner == 'plain' and not nbdev_test else ''
        n = len(gpu_cells(nb)); ran = re.search(r'ran (\d+) cells', out or '')
        res = f"{n} GPU cells ({flagged[nb]} flagged `#| gpu`), runner {runner}{why}" + (f", {ran.group(1)} cells ran" if ran else '')
        on = '' if a.device.type == 'cuda' else '; on this CPU the GPU cells skip themselves'
        if p.returncode:  # which cell, and the error's last line
            lines = [l for l in (out or '').splitlines() if l.strip()]
            cell = next((l for l in lines if l.startswith('FAILED:')), '')
            res += f"; exit {p.returncode}: {cell[:120]} {lines[-1][:200] if lines else ''}"
        rows.add(f"{nb.relative_to(ROOT/'nbs')}", res + on, 'pass' if p.returncode == 0 else 'fail')
    if not nbs: rows.add('notebooks', 'no notebook has a GPU cell', 'fail')


def step_learner(a, rows:Rows):
    "2: bench/learner.py as it is, with and without --bf16 --channels-last; the Learner must compute what the hand loop does"
    base = [sys.executable, str(ROOT/'bench'/'learner.py'), '--device', str(a.device)]
    base += ['--runs', '1', '--models', 'mlp', '--threads', '1', '--n', str(QUICK_N[0] * 2)] if a.quick else ['--runs', '5'] + (['--threads', '1'] if a.device.type == 'cpu' else [])
    for extra in ([], ['--bf16', '--channels-last']):
        name = ' '.join(extra) or 'fp32'
        r = subprocess.run(base + extra, cwd=ROOT, capture_output=True, text=True, env=os.environ)
        print(f"===== {' '.join(base + extra)}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}", flush=True)
        if r.returncode:
            rows.add(f"bench/learner.py {name}", f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:200]}", 'fail'); continue
        table = {}
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if len(cells) == 7 and re.fullmatch(r'[\d.]+', cells[2]): table[(cells[0], cells[1])] = cells
        for model in dict.fromkeys(m for m, _ in table):
            L, H = table.get((model, 'onecycle Learner')), table.get((model, 'hand-written loop'))
            if not (L and H): rows.add(f"{model}, {name}", 'rows missing from the output', 'fail'); continue
            lv, hv = [float(x) for x in L[6].split(',')], [float(x) for x in H[6].split(',')]
            same = abs(lv[2] - hv[2]) <= 0.02 and abs(lv[1] - hv[1]) <= 0.05 * abs(hv[1])
            rows.add(f"{model}, {name}", f"Learner {L[2]} s/epoch, hand-written {H[2]} s/epoch: ratio {L[3]} (paired {L[4]}); "
                     f"valid loss/accuracy {lv[1]:.4f}/{lv[2]:.4f} vs {hv[1]:.4f}/{hv[2]:.4f}", 'pass' if same else 'fail')


def step_nosync(a, rows:Rows):
    "3: fit with the default callbacks, a metric and the progress bar; every batch but a pass's first under sync 'error' mode"
    import io, torch
    from onecycle.learner import Learner, Callback, accuracy
    import onecycle.all  # noqa: F401  (every chapter's default callbacks: the progress bar, ...)
    cuda = a.device.type == 'cuda'
    class Arm(Callback):
        "At the end of each batch: from here to the end of the pass, a host-device sync raises"
        order = 10_000
        def before_fit(self): self.n = 0
        def after_batch(self):
            if cuda: torch.cuda.set_sync_debug_mode('error')
            self.n += 1
    class Disarm(Callback):
        "Before anything else at the end of a pass (the epoch's table is read back once there, as it should be)"
        order = -10_000
        def _off(self):
            if cuda: torch.cuda.set_sync_debug_mode('default')
        after_train = after_validate = after_fit = on_abort = _off
    class TTY(io.TextIOBase):
        "stdout that says it is a terminal, so that the progress bar is drawn (into the log)"
        def __init__(self, f): self.f = f
        def write(self, s): return self.f.write(s)
        def flush(self): self.f.flush()
        def isatty(self): return True
    dls = _dls(a, bs=128 if a.quick else 256, val_bs=None if a.quick else 500)  # 500: every validation batch one shape
    arm = Arm()
    learn = Learner(dls, _cnn(a.quick), metrics=accuracy, cbs=[arm, Disarm()])
    if cuda: learn.to_fast()
    shown = type(next((c for c in learn.cbs if getattr(c, 'shows_progress', False)), None)).__name__
    real, sys.stdout = sys.stdout, TTY(sys.stdout)
    try: learn.fit(2, 3e-3)
    except RuntimeError as e:
        sys.stdout = real
        traceback.print_exc()
        rows.add('fit(2) under set_sync_debug_mode("error")', f"a synchronising call: {str(e).splitlines()[0][:300]}", 'fail'); return
    finally:
        sys.stdout = real
        if cuda: torch.cuda.set_sync_debug_mode('default')
    n = arm.n
    what = f"fit(2): {n} batches, callbacks {', '.join(type(c).__name__ for c in learn.cbs)} (bar: {shown}), metric accuracy"
    if cuda: rows.add(what, f"no synchronising call in {n - 4} batches checked (each pass's first is not)", 'pass')
    else: rows.add(what, 'n/a on the CPU (no host-device sync to catch); the fit ran', 'n/a')


def step_loader(a, rows:Rows):
    "4: images/s of a whole pass of the in-memory loader, and of each device augmentation on a resident batch"
    import torch
    from onecycle.data.transforms import RandomFlip, RandomTranslate, RandomResizedCropGPU, Normalize
    dev, bs = a.device, 512
    def rate(f, n_img, reps):
        f(); _sync(dev); t = time.perf_counter()
        for _ in range(reps): f()
        _sync(dev); return n_img * reps / (time.perf_counter() - t)
    for augment in (False, True):
        dls = _dls(a, bs=bs, augment=augment)
        dl = dls.train
        def one_pass():
            for xb, yb in dl: pass
            return xb
        xb = one_pass()
        ok = xb.device.type == dev.type and xb.dtype == torch.float32 and tuple(xb.shape[1:]) == (1, 28, 28)
        if not augment: ok = ok and abs(xb.mean().item()) < 0.3 and 0.7 < xb.std().item() < 1.3
        r = rate(one_pass, len(dl) * bs, 1 if a.quick else 3)
        rows.add(f"TensorLoader pass, bs {bs}, {'flip + translate + ' if augment else ''}Normalize",
                 f"{r:,.0f} images/s ({dl.n:,} images)", 'pass' if ok else 'fail')
    x = dl.tensors[0][:bs].clone()  # uint8 images, resident on the device
    g = torch.Generator(device=dev).manual_seed(0)
    for t in (RandomFlip(), RandomTranslate(2), RandomResizedCropGPU(28, min_scale=0.35), Normalize.from_data(x)):
        out = t(x, train=True, generator=g)
        ok = out.device.type == dev.type and tuple(out.shape) == tuple(x.shape)
        r = rate(lambda: t(x, train=True, generator=g), bs, 5 if a.quick else 200)
        rows.add(f"{t!r} on a batch of {bs}", f"{r:,.0f} images/s", 'pass' if ok else 'fail')


def step_compile(a, rows:Rows):
    "5: seconds per epoch, eager against torch.compile (the first epoch pays for the compilation), same start, same data"
    import copy, torch
    from onecycle.core import set_seed
    from onecycle.learner import Learner, accuracy
    import onecycle.all  # noqa: F401
    from torch import nn
    cuda = a.device.type == 'cuda'
    set_seed(0)
    init = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)) if a.quick else _cnn(False)
    modes = [('eager', None), ('inductor', 'default')] + ([('inductor reduce-overhead', 'reduce-overhead')] if cuda else [])
    res = {}
    for name, mode in modes:
        learn = Learner(_dls(a, bs=128 if a.quick else 512, seed=0), copy.deepcopy(init), metrics=accuracy, silent=True)
        if cuda: learn.to_fast()
        if mode: learn.compile(mode=None if mode == 'default' else mode)
        times = []
        for _ in range(2):
            _sync(a.device); t = time.perf_counter(); learn.fit(1, 3e-3); _sync(a.device); times.append(time.perf_counter() - t)
        res[name] = (times, learn.recorder.values[-1])
        e = res['eager']
        v = learn.recorder.values[-1]
        ok = abs(v['accuracy'] - e[1]['accuracy']) <= 0.02 and abs(v['valid_loss'] - e[1]['valid_loss']) <= 0.1 * e[1]['valid_loss']
        rows.add(f"{'MLP' if a.quick else 'resnet_small'}{', bf16 channels_last' if cuda else ''}: {name}",
                 f"epoch 1 {times[0]:.2f} s, epoch 2 {times[1]:.3f} s ({e[0][1] / times[1]:.2f}x eager's speed); "
                 f"accuracy {v['accuracy']:.4f} (eager {e[1]['accuracy']:.4f})", 'pass' if ok else 'fail')
    if not cuda: rows.add('inductor reduce-overhead (CUDA graphs)', 'n/a on the CPU', 'n/a')


def step_tta(a, rows:Rows):
    "6: time to accuracy: each recipe with seeds 0, 1, 2 while the time budget lasts; median accuracy and seconds"
    import torch
    from torch import nn
    from onecycle.core import set_seed
    from onecycle.learner import Learner, accuracy
    from onecycle.vision.models import resnet_small
    import onecycle.all  # noqa: F401  (fit_one_cycle, to_fast, tta)
    cuda, deadline = a.device.type == 'cuda', time.monotonic() + a.step_budget
    for name, goal_acc, goal_s, r in (QUICK_RECIPES if a.quick else RECIPES):
        accs, secs = [], []
        for seed in (0, 1, 2):
            est = max(secs) if secs else (goal_s or 0)  # a recipe's first run: its goal as the estimate
            if time.monotonic() + est * 1.2 + 5 > deadline: break
            set_seed(seed)
            t0 = time.perf_counter()
            dls = _dls(a, bs=r['bs'], seed=seed)
            model = resnet_small(1, 10, widths=r['widths'], depths=r['depths'], stem=r['stem'], stem_stride=r['stem_stride'])
            learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(label_smoothing=r['ls']), metrics=accuracy,
                            wd=r['wd'], silent=True)
            if cuda: learn.to_fast()
            _sync(a.device); t1 = time.perf_counter()
            learn.fit_one_cycle(r['epochs'], r['lr'], pct_start=r['pct_start'], wd=r['wd'])
            acc = accuracy(*learn.flip_tta()).item(); _sync(a.device)
            t2 = time.perf_counter()
            accs.append(acc); secs.append(t2 - t1)
            print(f"recipe {name} seed {seed}: accuracy {acc:.4f} (no TTA {learn.recorder.values[-1]['accuracy']:.4f}), "
                  f"training + TTA {t2 - t1:.2f} s, data and model {t1 - t0:.2f} s", flush=True)
        if not accs: rows.add(f"recipe {name}", 'not run: too little of the time budget left', 'skipped'); continue
        acc, s = statistics.median(accs), statistics.median(secs)
        desc = ', '.join(f'{k} {v}' for k, v in r.items())
        seeds = f"median of {len(accs)} seed{'s' * (len(accs) > 1)}" + ('' if len(accs) == 3 else ' (out of time budget for more)')
        met = (f"; goal {goal_acc:.1%} in <= {goal_s} s: {'met' if acc >= goal_acc and s <= goal_s else 'missed'}"
               if goal_acc and cuda else '; goals are for a GPU: n/a')
        rows.add(f"recipe {name}: resnet_small {desc}, flips+shifts, TTA{', bf16 channels_last' if cuda else ''}",
                 f"{seeds}: test accuracy {acc:.2%} (runs {', '.join(f'{x:.2%}' for x in accs)}), "
                 f"{s:.1f} s of training (runs {', '.join(f'{x:.1f}' for x in secs)}){met}",
                 'pass' if all(x > 0.5 for x in accs) or a.quick and all(x > 0.3 for x in accs) else 'fail')


def ddp_worker(a):
    "One process of step 7 (under torchrun): train an MLP with to_distributed, then compare the weights of every rank"
    if a.share_gpu: os.environ['LOCAL_RANK'] = '0'  # every process on GPU 0 (onecycle would give rank 1 the second GPU)
    import torch
    import torch.distributed as dist
    from onecycle.core import set_seed
    from onecycle.learner import Learner, accuracy, rank_distrib, num_distrib
    from onecycle.distributed import setup_distrib, all_gather_object
    import onecycle.all  # noqa: F401
    from torch import nn
    torch.set_num_threads(1)
    setup_distrib(backend=a.backend)
    set_seed(rank_distrib())  # different initial weights: DDP must start every process from rank 0's
    dls = _dls(a, bs=64 if a.quick else 256, augment=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    learn = Learner(dls, model, metrics=accuracy, silent=True).to_distributed(sync_bn=False)
    learn.fit_one_cycle(1, 3e-3)
    w = torch.cat([p.detach().flatten().float().cpu() for p in learn.model.parameters()])
    ws = all_gather_object(w)
    res = {'rank': rank_distrib(), 'world': num_distrib(), 'backend': dist.get_backend(), 'device': str(w.device),
           'param_device': str(next(learn.model.parameters()).device), 'same': all(torch.equal(ws[0], o) for o in ws),
           'max_diff': max((ws[0] - o).abs().max().item() for o in ws),
           'values': {k: learn.recorder.values[-1][k] for k in ('train_loss', 'valid_loss', 'accuracy')}}
    if rank_distrib() == 0: Path(a.ddp_out).write_text(json.dumps(res))
    print(json.dumps(res), flush=True)


def step_ddp(a, rows:Rows):
    "7: NCCL with one process per GPU; with one GPU, 2 processes sharing it (NCCL if it allows, else gloo on CUDA tensors)"
    from onecycle.distributed import torchrun
    import torch
    n_gpu = torch.cuda.device_count() if a.device.type == 'cuda' else 0
    if a.device.type != 'cuda': tries = [('gloo', 2, False, 'gloo on the CPU, 2 processes')]
    elif n_gpu >= 2: tries = [('nccl', n_gpu, False, f'NCCL, {n_gpu} processes, one per GPU')]
    else: tries = [('nccl', 2, True, 'NCCL, 2 processes sharing the one GPU'), ('gloo', 2, True, 'gloo on CUDA tensors, 2 processes sharing the one GPU')]
    env = {'ONECYCLE_DIST_TIMEOUT': '60', **({'ONECYCLE_DEVICE': 'cpu'} if a.device.type != 'cuda' else {})}
    for i, (backend, n, share, what) in enumerate(tries):
        out = Path(a.out)/'logs'/f'ddp_{backend}.json'
        args = ['--ddp-worker', '--backend', backend, '--ddp-out', out, '--device', str(a.device)] + \
               (['--share-gpu'] if share else []) + (['--quick'] if a.quick else []) + (['--data', a.data] if a.data else [])
        try: r = torchrun(Path(__file__).resolve(), *args, nproc_per_node=n, env=env, timeout=60 if share and backend == 'nccl' else 300)
        except subprocess.TimeoutExpired as e:
            print(f"===== {what}: timed out\n{e.stdout}\n{e.stderr}", flush=True); r = None
        if r is not None: print(f"===== {what}: exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}", flush=True)
        if r is not None and r.returncode == 0 and out.exists():
            res = json.loads(out.read_text())
            rows.add(what, f"backend {res['backend']}, world {res['world']}, model on {res['param_device']}: weights "
                     f"{'identical on every rank' if res['same'] else 'DIFFER (max difference %g)' % res['max_diff']}; "
                     f"accuracy {res['values']['accuracy']:.4f}", 'pass' if res['same'] and res['world'] == n else 'fail')
            return
        err = 'timed out' if r is None else (next((l for l in reversed((r.stderr or '').splitlines()) if 'Error' in l), f'exit {r.returncode}'))[:250]
        last = i == len(tries) - 1
        rows.add(what, f"failed: {err}" + ('' if last else '; trying the next way'), 'fail' if last else 'n/a')


STEP_FNS = {'notebooks': step_notebooks, 'learner': step_learner, 'nosync': step_nosync, 'loader': step_loader,
            'compile': step_compile, 'tta': step_tta, 'ddp': step_ddp}


# ----------------------------------------------------------------------------------------------------------------
# The driver

def _nccl_version():
    try: v = __import__('torch').cuda.nccl.version()
    except Exception as e: return f'unknown ({type(e).__name__})'
    return '.'.join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)

def _machine(dev) -> dict:
    import torch
    m = {'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), 'python': platform.python_version(),
         'torch': torch.__version__, 'platform': platform.platform(), 'cpu': platform.processor() or platform.machine(),
         'cores': os.cpu_count(), 'load': round(os.getloadavg()[0], 2), 'device': str(dev)}
    if dev.type == 'cuda':
        m.update(gpu=torch.cuda.get_device_name(0), gpus=torch.cuda.device_count(), cuda=torch.version.cuda,
                 nccl=_nccl_version())
    try: import onecycle; m['onecycle'] = onecycle.__version__
    except Exception as e: m['onecycle'] = f'not importable: {e}'
    return m

def _pick(spec:str|None) -> list:
    if not spec: return []
    out = []
    for s in spec.split(','):
        s = s.strip()
        if s.isdigit() and 1 <= int(s) <= len(STEPS): out.append(STEPS[int(s) - 1])
        elif s in STEPS: out.append(s)
        else: raise SystemExit(f"gpu_suite: unknown step {s!r}; the steps are {', '.join(f'{i + 1} {n}' for i, n in enumerate(STEPS))}")
    return out

def _start(a, name, budget):
    "Start step `name` as its own process (its own session, so that a time-out can stop it and its children)"
    logs = Path(a.out)/'logs'
    cmd = [sys.executable, str(Path(__file__).resolve()), '--step', name, '--device', str(a.device), '--out', str(a.out),
           '--step-budget', str(int(budget)), '--nb-runner', a.nb_runner] + (['--quick'] if a.quick else []) + (['--data', a.data] if a.data else [])
    log = open(logs/f'{name}.log', 'w')
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return {'p': p, 'log': log, 't0': time.monotonic(), 'budget': budget}

def _finish(a, name, run, results):
    p = run['p']
    try: p.wait(timeout=max(1, run['t0'] + run['budget'] - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.wait()
    run['log'].close()
    secs = time.monotonic() - run['t0']
    f = Path(a.out)/'logs'/f'{name}.json'
    rows = json.loads(f.read_text()) if f.exists() else []
    if p.returncode == -signal.SIGKILL:
        rows.append({'what': 'time limit', 'result': f"stopped after {secs:.0f} s (its share of the budget); see logs/{name}.log", 'check': 'fail'})
    elif p.returncode:
        tail = [l for l in (Path(a.out)/'logs'/f'{name}.log').read_text().splitlines() if l.strip()][-1:] or ['']
        rows.append({'what': 'crashed', 'result': f"exit {p.returncode}: {tail[0][:250]} (logs/{name}.log)", 'check': 'fail'})
    results[name] = {'rows': rows, 'seconds': round(secs, 1), 'exit': p.returncode}
    print(f"[gpu_suite] {STEPS.index(name) + 1} {name}: {secs:.0f} s, exit {p.returncode}, "
          f"{sum(r['check'] == 'fail' for r in rows)} failed checks", flush=True)

def write_results(a, machine, results, total) -> int:
    fails = [(n, r) for n, res in results.items() for r in res['rows'] if r['check'] == 'fail']
    passes = sum(r['check'] == 'pass' for res in results.values() for r in res['rows'])
    gpu = f", {machine.get('gpus')} x {machine['gpu']}, CUDA {machine.get('cuda')}, NCCL {machine.get('nccl')}" if 'gpu' in machine else ''
    lines = [f"# GPU suite: {'quick dry run' if a.quick else 'full run'} on {machine['device']}", '',
             f"{machine['date']}; {machine['platform']}, {machine['cpu']}, {machine['cores']} cores{gpu}; Python "
             f"{machine['python']}, torch {machine['torch']}, onecycle {machine['onecycle']}; load average at start "
             f"{machine['load']}; {total:.0f} s in all. Command: `{' '.join(sys.argv)}`.", '']
    if a.device.type == 'cpu': lines += ["On a CPU the timings are those of a dry run, taken on a machine that may be "
                                         "shared with other work (under load): they test the script, not the speed.", '']
    lines += ['| step | what | result | check |', '|---|---|---|---|']
    for i, name in enumerate(STEPS, 1):
        if name not in results:
            lines.append(f"| {i} {name} | {TITLES[name]} | not run (--only/--skip) | skipped |"); continue
        res = results[name]
        for r in res['rows'] or [{'what': TITLES[name], 'result': 'no result', 'check': 'fail'}]:
            lines.append(f"| {i} {name} | {r['what'].replace('|', chr(92) + '|')} | {r['result'].replace('|', chr(92) + '|')} | {r['check']} |")
    skipped = [f"{n}: {r['what']}" for n, res in results.items() for r in res['rows'] if r['check'] == 'skipped']
    lines += ['', f"Correctness checks: {passes} passed, {len(fails)} failed." +
              (' Failed: ' + '; '.join(f"{n}: {r['what']}" for n, r in fails) if fails else '') +
              (' Not run (time budget): ' + '; '.join(skipped) if skipped else ''),
              f"Raw logs: logs/<step>.log; seconds per step: " + ', '.join(f"{n} {r['seconds']}" for n, r in results.items()), '']
    Path(a.out, 'results.md').write_text('\n'.join(lines))
    Path(a.out, 'results.json').write_text(json.dumps({'machine': machine, 'steps': results, 'seconds': round(total, 1),
                                                       'failed': len(fails), 'passed': passes}, indent=1))
    print('\n'.join(lines), flush=True)
    return 1 if fails else 0

def _data_env(a):
    "Point onecycle at the folder holding the four .gz files (`$ONECYCLE_DATA/fashion-mnist`), for bench/ scripts too"
    from onecycle.data.external import fashion_mnist_path
    d = Path(a.data).resolve()
    try: fashion_mnist_path(download=False, dirs=[d])  # every file there, each verified
    except Exception as e: raise SystemExit(f"gpu_suite --data {d}: {e}") from None
    link_root = Path(a.out).resolve()/'logs'/'data'
    link_root.mkdir(parents=True, exist_ok=True)
    link = link_root/'fashion-mnist'
    if link.is_symlink() or link.exists(): link.unlink()
    link.symlink_to(d, target_is_directory=True)
    os.environ['ONECYCLE_DATA'] = str(link_root)
    a.data = str(d)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda', help='cuda or cpu')
    p.add_argument('--quick', action='store_true', help='every step small (the CPU dry run)')
    p.add_argument('--data', help="folder holding Fashion-MNIST's four .gz files (default: onecycle finds them)")
    p.add_argument('--out', default='gpu-suite-out', help='folder for results.md, results.json and logs/')
    p.add_argument('--budget', type=float, default=None, help='seconds for the whole suite (default 450; quick: 1200)')
    p.add_argument('--only'); p.add_argument('--skip')
    p.add_argument('--nb-runner', choices=['auto', 'nbdev', 'plain'], default='auto')
    # internal: one step, one notebook, one DDP process
    p.add_argument('--step', choices=STEPS); p.add_argument('--step-budget', type=float, default=600)
    p.add_argument('--run-notebook'); p.add_argument('--flags', default='gpu')
    p.add_argument('--ddp-worker', action='store_true'); p.add_argument('--backend'); p.add_argument('--ddp-out')
    p.add_argument('--share-gpu', action='store_true')
    a = p.parse_args(argv)
    if a.run_notebook: return run_notebook_plain(Path(a.run_notebook), set(a.flags.split()))
    import torch
    a.device = torch.device(a.device)
    if a.device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit("gpu_suite: --device cuda, but torch sees no GPU here (torch.cuda.is_available() is False). "
                         "Run it on the GPU machine, or use --device cpu --quick for the dry run.")
    if a.ddp_worker: return ddp_worker(a)
    if a.step:
        if a.device.type == 'cpu': torch.set_num_threads(1)
        return STEP_FNS[a.step](a, Rows(Path(a.out)/'logs'/f'{a.step}.json'))
    t0 = time.monotonic()
    if a.budget is None: a.budget = 1200 if a.quick else 450
    a.out = str(Path(a.out).resolve())
    Path(a.out, 'logs').mkdir(parents=True, exist_ok=True)
    for f in Path(a.out, 'logs').glob('*.json'): f.unlink()
    if a.data: _data_env(a)
    steps = [s for s in (_pick(a.only) or STEPS) if s not in _pick(a.skip)]
    caps = QUICK_CAPS if a.quick else CAPS
    deadline = t0 + a.budget
    machine, results = _machine(a.device), {}
    par = [s for s in PARALLEL if s in steps]
    if par:  # the notebooks alongside the other correctness steps, which run one after another
        runs = {'notebooks': _start(a, 'notebooks', min(caps['notebooks'], a.budget * 0.4))} if 'notebooks' in par else {}
        for s in [s for s in par if s != 'notebooks']:
            runs[s] = _start(a, s, min(caps[s], max(10, deadline - time.monotonic())))
            _finish(a, s, runs.pop(s), results)
        for s, run in runs.items(): _finish(a, s, run, results)
    timed = [s for s in TIMED if s in steps]
    for i, s in enumerate(timed):
        left = deadline - time.monotonic()
        reserve = sum(min(caps[t], 20) for t in timed[i + 1:])  # leave the later steps a little
        budget = left if s == timed[-1] else min(caps[s], max(10, left - reserve))
        if left < 10:
            results[s] = {'rows': [{'what': TITLES[s], 'result': 'not run: the time budget was spent', 'check': 'skipped'}], 'seconds': 0, 'exit': None}
            continue
        _finish(a, s, _start(a, s, budget), results)
    results = {s: results[s] for s in STEPS if s in results}
    return write_results(a, machine, results, time.monotonic() - t0)


if __name__ == '__main__': sys.exit(main())
