"""onecycle against its peers, fastai and PyTorch Lightning, on the same work: one process per library, runs alternating.

Every library trains the same model from the same initial weights on the same Fashion-MNIST batches, held in memory
(`onecycle.data.external.load_fashion_mnist`), normalised with the same `Normalize`, batch size 128, one thread
(`torch.set_num_threads(1)` unless --threads says otherwise). onecycle reads them through its own in-memory loader;
the hand-written loop, fastai and Lightning read them from `Batches` below, which slices the same tensors in the same
order (the same seeded permutation), so all four do the same arithmetic and their losses can be compared.
`Batches` gathers a shuffled batch with `x[idx]`, as a hand-written loop does; onecycle's `TensorLoader` gathers with
`index_select`, which for Fashion-MNIST's uint8 images is about ten times faster on the CPU. So the loop part also
times `hand_gather`, the same hand loop over `Batches(gather=True)` (`index_select`): against it the ratio is
onecycle's own cost (callbacks, dispatch, metrics) with the gather made equal.

Parts (each in fresh worker processes, one per library; the parent asks each worker in turn for one run, the order
rotating every round, after one warm-up run each; a garbage collection before each run):
  (a) `loop`: one epoch of SGD (momentum 0.9) with the 1-cycle policy (fastai's: pct_start 0.25, div 25, div_final
      1e5, momentum 0.95-0.85-0.95; torch's `OneCycleLR` with the same parameters for the hand loop and Lightning),
      then a validation pass over n/6 test images, for an MLP (784-100-10) and a small CNN, on 5,000 and 60,000
      training images. Fixed costs are included: each run builds its Learner or Trainer and its optimizer, as a user's
      `fit` would. onecycle: `Learner.fit_one_cycle` without progress bar and logging; fastai: `Learner.fit_one_cycle`
      inside `no_bar()` and `no_logging()`; Lightning: `Trainer(barebones=True)` (no progress bar, logging,
      checkpointing, model summary or sanity check: what a skilled user turns off for speed), the 1-cycle schedule
      stepped per batch from `configure_optimizers`.
  (b) `lr_find`: 100 steps of AdamW with the learning rate growing exponentially from 1e-7 to 0.1 (bench/lr_find.py),
      against bench/lr_find.py's hand-written range test: onecycle's `Learner.lr_find`, fastai's `Learner.lr_find`
      (fastai's Adam set to torch's AdamW defaults), Lightning's `Tuner.lr_find`, each with its early stop on
      divergence (which reads the loss every step), each checked to have taken all 100 steps.
  (c) `--tta` (time to accuracy, long: run it on a quiet machine): `resnet_small` with the `onecycle train` recipe
      (`Recipe` below) in each library as far as it allows; the clock includes the model, the LR finder and every
      epoch's validation; reports the time to the first epoch at >= 92.5% test accuracy.
  (d) peak memory: the maximum resident set size of each worker process (`getrusage` through `os.wait4`).

Every row gives the median seconds, the ratio of the medians to the hand-written loop's, the median of the per-round
ratios (each run against the hand-written run of the same round: less sensitive to other load on a shared machine),
the worker's peak memory and the run's result (train loss, valid loss, accuracy; fastai's train loss is its smoothed
one; for lr_find the first and last loss each library records: raw for onecycle and the hand test, smoothed for fastai
and Lightning, whose debiasing is one step ahead, so its first value is 0.505 times the first loss). Output: one markdown table with the machine, date, versions and thread count, also written to
bench/results/<date>_peers.md (or --out).

`--quick` runs a tiny version against onecycle alone (no fastai or Lightning needed: tests/test_bench_peers.py).
Run the full benchmark with `make bench-peers`, which makes .venv-peers: .venv's torch and onecycle plus fastai and
Lightning from PyPI.

Usage: python bench/peers.py [--quick] [--runs 5] [--threads 1] [--libs onecycle fastai lightning] [--parts loop lr_find]
                             [--models mlp cnn] [--sizes 5000 60000] [--tta] [--out FILE] [--note TEXT]
"""
import argparse, copy, datetime, gc, json, math, os, platform, statistics, subprocess, sys, time
from dataclasses import dataclass, asdict, field
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBS = ('onecycle', 'fastai', 'lightning')
LR_SGD, BS, TARGET = 0.1, 128, 0.925
ONE_CYCLE = dict(pct_start=0.25, div_factor=25., final_div_factor=1e5 / 25., anneal_strategy='cos', three_phase=False,
                 cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)  # torch's OneCycleLR set to fastai's fit_one_cycle


@dataclass
class Recipe:
    "Part (c): the `onecycle train` recipe on the CPU (bench/time_to_accuracy.py's defaults)"
    epochs: int = 6            # the recipe until 2026-12-08: '{"epochs": 13, "sizes": [20,20,20,20,20,24,24,24,24,28,28,28,28], "pad": 2, "lr": 0.03}'
    sizes: list = field(default_factory=lambda: [20, 24, 28, 28, 28, 28])  # progressive resizing, one size per epoch (progressive_sizes(6, 28))
    lr: float = 2e-2           # fixed rate after the LR finder (which runs, for its cost, as `onecycle train` runs it; its `steep` is about 0.018)
    wd: float = 0.05           # AdamW, decoupled weight decay on every parameter
    ls: float = 0.1            # label smoothing
    bs: int = 256
    pad: int = 0               # flips only, on the batch (pad > 0 adds shifts of up to pad pixels)
    precision: str = 'auto'    # 'auto': bf16 where the CPU computes it natively (cpu_has_bf16), else fp32; as far as
                               # the library allows (fastai's MixedPrecision autocasts on CUDA only)
    channels_last: bool = True
    n_train: int = 60000
    lr_find: int = 100

    def __post_init__(self):   # resolved here, so the workers and the table agree
        if self.precision == 'auto':
            from onecycle.callback.precision import fast_dtype
            self.precision = 'fp32' if fast_dtype('cpu') is None else 'bf16'


# ---------------------------------------------------------------------------------------------- worker side
def setup_worker(threads):
    import torch
    torch.set_num_threads(threads)
    import warnings, logging
    warnings.filterwarnings('ignore')                     # Lightning's advice on workers and log intervals
    os.environ.setdefault('TQDM_DISABLE', '1')            # Tuner.lr_find's own bar, which no argument turns off
    for name in ('lightning', 'lightning.pytorch', 'pytorch_lightning', 'lightning.fabric'): logging.getLogger(name).setLevel(logging.ERROR)


class Batches:
    "Batches sliced from in-memory tensors in a seeded random order, with onecycle's batch transforms (for the hand loop, fastai and Lightning)"
    def __init__(self, x, y, bs, shuffle, tfms, seed=0, train=None, channels_last=False, gather=False):
        import torch
        self.x, self.y, self.bs, self.shuffle, self.tfms, self.seed, self.gather = x, y, bs, shuffle, list(tfms), seed, gather
        self.train, self.channels_last = shuffle if train is None else train, channels_last
        self.g, self.device = torch.Generator().manual_seed(seed), x.device
    def reset(self): self.g.manual_seed(self.seed); return self  # every run sees the same order
    def __len__(self): return len(self.x) // self.bs if self.shuffle else math.ceil(len(self.x) / self.bs)  # training drops the last partial batch
    def __iter__(self):
        import torch
        from onecycle.data.transforms import apply_batch_tfms
        order = torch.randperm(len(self.x), generator=self.g) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.bs, (i + 1) * self.bs) if order is None else order[i * self.bs:(i + 1) * self.bs]
            if self.gather and order is not None: xb, yb = self.x.index_select(0, sl), self.y.index_select(0, sl)
            else: xb, yb = self.x[sl], self.y[sl]   # x[idx], as a hand-written loop indexes
            xb = apply_batch_tfms(xb, self.tfms, self.train, self.g)
            if self.channels_last: xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb


def load_data(n, bs, augment=False, pad=2):
    "onecycle's DataLoaders and the same data as `Batches`: n training images, n/6 test images (all 10,000 for n=60,000)"
    import torch
    from onecycle.data.external import load_fashion_mnist
    from onecycle.data.load import DataLoaders
    from onecycle.data.transforms import Normalize, RandomFlip, RandomTranslate
    ds = load_fashion_mnist()
    nv = min(10000, max(bs, n // 6))
    xt, yt, xv, yv = ds.x_train[:n, None], ds.y_train[:n], ds.x_test[:nv, None], ds.y_test[:nv]
    norm = Normalize().setup(ds.x_train[:, None])  # statistics of the whole training set, as fashion_mnist_dls computes them
    aug = [RandomFlip()] + ([RandomTranslate(pad)] if pad else []) if augment else []   # pad 0: flips only, as fashion_mnist_dls
    tfms = aug + [norm]
    dls = DataLoaders.from_tensors(xt, yt, xv, yv, bs=bs, device='cpu', batch_tfms=tfms, val_bs=2 * bs, seed=0)
    dls.loss_func = torch.nn.CrossEntropyLoss()
    return dls, (xt, yt, xv, yv, tfms)


def hand_sgd_epoch(model, train, valid):
    "(a) The hand-written loop: SGD with torch's OneCycleLR stepped per batch, then validation read back once"
    import torch, torch.nn.functional as F
    from torch.optim.lr_scheduler import OneCycleLR
    opt = torch.optim.SGD(model.parameters(), lr=LR_SGD, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=LR_SGD, total_steps=len(train), **ONE_CYCLE)
    model.train()
    losses = []
    for xb, yb in train:
        loss = F.cross_entropy(model(xb), yb)
        loss.backward(); opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    model.eval()
    vloss = vacc = 0.; nv = 0
    with torch.no_grad():
        for xb, yb in valid:
            out = model(xb)
            vloss = vloss + F.cross_entropy(out, yb, reduction='sum'); vacc = vacc + (out.argmax(1) == yb).sum(); nv += len(yb)
    return torch.stack([torch.stack(losses).mean(), vloss / nv, vacc / nv]).tolist()


def lightning_module(model, kind, steps_per_epoch=None, recipe=None, on_epoch=None):
    "A LightningModule around `model`: `kind` 'sgd' (part a), 'adamw' (part b: lr attribute for the Tuner) or 'recipe' (c)"
    import torch, torch.nn.functional as F
    import lightning.pytorch as pl
    from torch.optim.lr_scheduler import OneCycleLR

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model, self.lr = model, (LR_SGD if kind == 'sgd' else recipe.lr if kind == 'recipe' else 1e-3)
            self.ls = recipe.ls if kind == 'recipe' else 0.
        def training_step(self, batch, i):
            xb, yb = batch
            loss = F.cross_entropy(self.model(xb), yb, label_smoothing=self.ls)
            self.losses.append(loss.detach())
            return loss
        def on_train_epoch_start(self): self.losses = []
        def on_validation_epoch_start(self): self.vsum = [0., 0., 0]
        def validation_step(self, batch, i):
            xb, yb = batch
            out = self.model(xb).float()
            s = self.vsum
            s[0] = s[0] + F.cross_entropy(out, yb, reduction='sum'); s[1] = s[1] + (out.argmax(1) == yb).sum(); s[2] += len(yb)
        def on_validation_epoch_end(self):
            if on_epoch is not None: on_epoch(float(self.vsum[1]) / self.vsum[2])
        def result(self):
            s = self.vsum
            return torch.stack([torch.stack(self.losses).mean(), s[0] / s[2], s[1] / s[2]]).tolist()
        def configure_optimizers(self):
            if kind == 'adamw': return torch.optim.AdamW(self.parameters(), lr=self.lr)
            if kind == 'sgd': opt, mom = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9), ONE_CYCLE
            else: opt, mom = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=recipe.wd), ONE_CYCLE
            sched = OneCycleLR(opt, max_lr=self.lr, total_steps=self.trainer.estimated_stepping_batches, **mom)
            return {'optimizer': opt, 'lr_scheduler': {'scheduler': sched, 'interval': 'step'}}
    return Module()


def lightning_trainer(max_epochs=1, precision='32-true', callbacks=None, barebones=True):
    import lightning.pytorch as pl
    return pl.Trainer(max_epochs=max_epochs, accelerator='cpu', devices=1, precision=precision, barebones=barebones,
                      num_sanity_val_steps=0, callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, logger=False, default_root_dir=os.environ.get('PEERS_TMP', '.'))


def make_loop_run(lib, model_key, n):
    "(a) A function doing one run of `lib`: build, fit one epoch, return [train loss, valid loss, accuracy]"
    import torch
    from learner import MODELS  # bench/learner.py: the same two models as the project's other benchmarks
    from onecycle.core import set_seed
    dls, (xt, yt, xv, yv, tfms) = load_data(n, BS)
    set_seed(0); init = MODELS[model_key]()
    train, valid = Batches(xt, yt, BS, True, tfms, gather=lib == 'hand_gather'), Batches(xv, yv, 2 * BS, False, tfms)
    if lib in ('hand', 'hand_gather'):
        return lambda: hand_sgd_epoch(copy.deepcopy(init), train.reset(), valid)
    if lib == 'onecycle':
        from onecycle.learner import Learner, accuracy
        import onecycle.callback.schedule  # noqa: F401  (fit_one_cycle)
        def run():
            dls.train.generator.manual_seed(dls.train.seed)
            learn = Learner(dls, copy.deepcopy(init), opt_func=partial(torch.optim.SGD, momentum=0.9), lr=LR_SGD, metrics=accuracy)
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, LR_SGD)
            v = learn.recorder.values[-1]
            return [v['train_loss'], v['valid_loss'], v['accuracy']]
        return run
    if lib == 'fastai':
        from fastai.basics import Learner, DataLoaders, SGD, accuracy
        import fastai.callback.schedule  # noqa: F401  (fit_one_cycle)
        from torch import nn
        fdls = DataLoaders(train, valid)
        def run():
            learn = Learner(fdls, copy.deepcopy(init), loss_func=nn.CrossEntropyLoss(), lr=LR_SGD, metrics=accuracy,
                            opt_func=partial(SGD, mom=0.9))  # fastai's SGD builds its momentum step only when mom != 0
            train.reset()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, LR_SGD)
            return [float(v) for v in learn.recorder.values[-1]]
        return run
    if lib == 'lightning':
        def run():
            m = lightning_module(copy.deepcopy(init), 'sgd')
            lightning_trainer().fit(m, train.reset(), valid)
            return m.result()
        return run
    raise ValueError(f"peers.py: unknown library {lib!r}; expected hand, {', '.join(LIBS)}")


def make_lr_find_run(lib, model_key, n):
    "(b) A function doing one 100-step LR range test of `lib`; returns [steps taken, first loss, last loss]"
    import torch
    import lr_find as lrf  # bench/lr_find.py: its hand-written range test and its rates
    from learner import MODELS
    from onecycle.core import set_seed
    dls, (xt, yt, xv, yv, tfms) = load_data(n, BS)
    set_seed(0); init = MODELS[model_key]()
    n_it = lrf.NUM_IT
    if lib == 'hand':
        model = copy.deepcopy(init)
        def run():
            raw = lrf.hand_lr_find(model, dls)
            return [len(raw), raw[0], raw[-1]]
        return run
    if lib == 'onecycle':
        from onecycle.learner import Learner
        learn = Learner(dls, copy.deepcopy(init), silent=True, wd_bn_bias=True)  # AdamW on every parameter, as the hand test
        def run():
            raw = lrf.run_lr_find(learn)
            return [len(raw), float(raw[0]), float(raw[-1])]
        return run
    train = Batches(xt, yt, BS, True, tfms)
    if lib == 'fastai':
        import tempfile
        from fastai.basics import Learner, DataLoaders, Adam
        import fastai.callback.schedule  # noqa: F401  (lr_find)
        from torch import nn
        tmp = tempfile.mkdtemp(prefix='peers-fastai-')
        opt = partial(Adam, mom=0.9, sqr_mom=0.999, eps=1e-8, wd=0.01)  # torch's AdamW defaults
        learn = Learner(DataLoaders(train, Batches(xv, yv, 2 * BS, False, tfms)), copy.deepcopy(init), loss_func=nn.CrossEntropyLoss(),
                        opt_func=opt, path=tmp, wd_bn_bias=True)
        def run():
            train.reset()
            with learn.no_bar(), learn.no_logging(): learn.lr_find(start_lr=lrf.START, end_lr=lrf.END, num_it=n_it, show_plot=False)
            losses = [float(l) for l in learn.recorder.losses]
            assert len(losses) == n_it, f'fastai lr_find took {len(losses)} steps, not {n_it}'
            return [len(losses), losses[0], losses[-1]]
        return run
    if lib == 'lightning':
        import tempfile
        from lightning.pytorch.tuner import Tuner
        os.environ['PEERS_TMP'] = tempfile.mkdtemp(prefix='peers-lightning-')
        m = lightning_module(copy.deepcopy(init), 'adamw')
        def run():
            trainer = lightning_trainer(max_epochs=1, barebones=False)  # the Tuner saves and restores a checkpoint
            res = Tuner(trainer).lr_find(m, train_dataloaders=train.reset(), min_lr=lrf.START, max_lr=lrf.END,
                                         num_training=n_it, update_attr=False)
            losses = res.results['loss']
            assert len(losses) == n_it, f'Lightning lr_find took {len(losses)} steps, not {n_it}'
            return [len(losses), float(losses[0]), float(losses[-1])]
        return run
    raise ValueError(f"peers.py: unknown library {lib!r}; expected hand, {', '.join(LIBS)}")


def make_tta_run(lib, recipe):
    "(c) One time-to-accuracy run of `lib` with `recipe`: returns the seconds and accuracy after every epoch"
    import torch
    from torch import nn
    from onecycle.core import set_seed
    from onecycle.vision.models import resnet_small, BatchResize
    r = recipe
    dls, (xt, yt, xv, yv, tfms) = load_data(r.n_train, r.bs, augment=True, pad=r.pad)
    set_seed(0); init = resnet_small(n_in=1, n_out=10)
    if r.channels_last: init = init.to(memory_format=torch.channels_last)
    rows, resize = [], BatchResize()
    size_at = lambda e: r.sizes[min(e, len(r.sizes) - 1)]
    loss_func = nn.CrossEntropyLoss(label_smoothing=r.ls)
    train = Batches(xt, yt, r.bs, True, sorted(tfms + [resize], key=lambda t: t.order), channels_last=r.channels_last)
    valid = Batches(xv, yv, 2 * r.bs, False, tfms, channels_last=r.channels_last)
    def run():
        t0 = time.perf_counter(); rows.clear()
        tick = lambda acc: rows.append((round(time.perf_counter() - t0, 2), acc))
        model = copy.deepcopy(init)
        if lib == 'onecycle':
            from onecycle.learner import Learner, Callback, accuracy
            import onecycle.callback.schedule, onecycle.callback.precision, onecycle.callback.lr_finder  # noqa: F401
            from onecycle.vision.models import ProgressiveResize
            class Tick(Callback):
                order = 60
                def after_epoch(self): tick(self.learn.recorder.values[-1]['accuracy'])
            dls.train.generator.manual_seed(dls.train.seed)
            learn = Learner(dls, model, loss_func=loss_func, metrics=accuracy, lr=r.lr, wd=r.wd, silent=True)
            if r.precision == 'bf16': learn.to_bf16()
            learn.to_channels_last(r.channels_last)
            if r.lr_find: learn.lr_find(num_it=r.lr_find, show_plot=False)
            learn.fit_one_cycle(r.epochs, r.lr, wd=r.wd, cbs=[Tick(), ProgressiveResize(r.sizes)])
        elif lib == 'fastai':
            from fastai.basics import Learner, DataLoaders, Adam, accuracy, Callback
            import fastai.callback.schedule  # noqa: F401
            import tempfile
            class Sizes(Callback):
                order = 60  # after the Recorder
                def before_train(self): resize.size = size_at(self.epoch)
                def after_epoch(self): tick(float(self.learn.recorder.values[-1][-1]))
            opt = partial(Adam, mom=0.9, sqr_mom=0.999, eps=1e-8)  # torch's AdamW
            learn = Learner(DataLoaders(train.reset(), valid), model, loss_func=loss_func, opt_func=opt, lr=r.lr, wd=r.wd,
                            wd_bn_bias=True, metrics=accuracy, path=tempfile.mkdtemp(prefix='peers-fastai-'))
            with learn.no_bar(), learn.no_logging():
                if r.lr_find: resize.size = size_at(0); learn.lr_find(num_it=r.lr_find, show_plot=False)
                learn.fit_one_cycle(r.epochs, r.lr, wd=r.wd, cbs=Sizes())
        elif lib == 'lightning':
            import lightning.pytorch as pl
            from lightning.pytorch.tuner import Tuner
            import tempfile
            os.environ['PEERS_TMP'] = tempfile.mkdtemp(prefix='peers-lightning-')
            class Sizes(pl.Callback):
                def on_train_epoch_start(self, trainer, module): resize.size = size_at(trainer.current_epoch)
            m = lightning_module(model, 'recipe', recipe=r, on_epoch=tick)
            prec = 'bf16-mixed' if r.precision == 'bf16' else '32-true'
            if r.lr_find:
                resize.size = size_at(0)
                Tuner(lightning_trainer(precision=prec, barebones=False)).lr_find(m, train_dataloaders=train.reset(),
                                                                                  num_training=r.lr_find, update_attr=False)
                rows.clear()
            lightning_trainer(r.epochs, prec, callbacks=[Sizes()]).fit(m, train.reset(), valid)
        else: raise ValueError(f"peers.py: unknown library {lib!r}")
        resize.size = None
        return rows[:]
    return run


def worker(a):
    "Serve runs on stdin/stdout (one JSON line each way); anything the libraries print goes to stderr"
    out = os.fdopen(os.dup(1), 'w', buffering=1); os.dup2(2, 1)
    sys.path.insert(0, str(HERE))
    setup_worker(a.threads)
    import torch
    vers = {'python': platform.python_version(), 'torch': torch.__version__, 'threads': torch.get_num_threads()}
    import onecycle; vers['onecycle'] = onecycle.__version__
    if a.worker == 'fastai': import fastai; vers['fastai'] = fastai.__version__
    if a.worker == 'lightning': import lightning; vers['lightning'] = lightning.__version__
    if a.part == 'loop': run = make_loop_run(a.worker, a.model, a.n)
    elif a.part == 'lr_find': run = make_lr_find_run(a.worker, a.model, a.n)
    else: run = make_tta_run(a.worker, Recipe(**json.loads(a.recipe)))
    out.write(json.dumps({'ready': True, 'versions': vers}) + '\n')
    for line in sys.stdin:
        if json.loads(line).get('cmd') != 'run': break
        gc.collect()
        t = time.perf_counter(); res = run(); t = time.perf_counter() - t
        out.write(json.dumps({'t': t, 'res': res}) + '\n')


# ---------------------------------------------------------------------------------------------- parent side
class Worker:
    "One library's process: `run()` asks it for one timed run; `close()` ends it and returns its peak memory (MiB)"
    def __init__(self, lib, part, a, model='', n=0, recipe=None):
        cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', lib, '--part', part, '--threads', str(a.threads),
               '--model', model, '--n', str(n), '--recipe', json.dumps(asdict(recipe) if recipe else {})]
        self.lib, self.p = lib, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.versions = None
    def ready(self):
        "Wait until the worker has imported its library and loaded the data"
        if self.versions is None: self.versions = self._read()['versions']
        return self
    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            self.p.wait()
            raise RuntimeError(f"peers.py: the {self.lib} worker ended (exit status {self.p.returncode}) before answering; "
                               f"its error is above. For fastai or Lightning run under .venv-peers (`make bench-peers`).")
        return json.loads(line)
    def run(self):
        self.p.stdin.write(json.dumps({'cmd': 'run'}) + '\n'); self.p.stdin.flush()
        return self._read()
    def close(self) -> float:
        if self.p.returncode is not None: return float('nan')  # it ended early (reaped in _read)
        self.p.stdin.close()
        _, status, ru = os.wait4(self.p.pid, 0)
        self.p.returncode = os.waitstatus_to_exitcode(status)
        if self.p.returncode: raise RuntimeError(f"peers.py: the {self.lib} worker exited with status {self.p.returncode}")
        return ru.ru_maxrss / 1024  # Linux reports KiB


def alternate(libs, start, runs):
    "Start one worker per library, warm each up once, then `runs` rounds in rotating order; rows of timings"
    ws = [start(lib) for lib in libs]                                  # they start side by side (not timed)
    try:
        for w in ws: w.ready()
        for w in ws: w.run()                                           # warm-up
        times, res = {w.lib: [] for w in ws}, {}
        for r in range(runs):
            for w in ws[r % len(ws):] + ws[:r % len(ws)]:
                o = w.run(); times[w.lib].append(o['t']); res[w.lib] = o['res']
    finally: mem = {w.lib: w.close() for w in ws}
    vers = {k: v for w in ws for k, v in w.versions.items()}
    return times, res, mem, vers


def fmt_res(part, res):
    if part == 'loop': return ', '.join(f'{x:.4f}' for x in res)
    if part == 'lr_find': return f'{res[0]} steps, loss {res[1]:.4f} -> {res[2]:.4f}'
    return '; '.join(f'{t:.0f}s {acc:.4f}' for t, acc in res)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try: cpu = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='a tiny run against onecycle alone (the test)')
    ap.add_argument('--runs', type=int, default=None, help='timed rounds per row (default 5; 2 with --quick)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--libs', nargs='*', default=None, choices=LIBS, help='default: all three (onecycle with --quick)')
    ap.add_argument('--parts', nargs='*', default=['loop', 'lr_find'], choices=['loop', 'lr_find'])
    ap.add_argument('--models', nargs='*', default=None, choices=['mlp', 'cnn'], help='default: both (the MLP with --quick)')
    ap.add_argument('--sizes', nargs='*', type=int, default=None, help='training images for the loop part (default 5000 60000)')
    ap.add_argument('--tta', action='store_true', help='also (c), time to 92.5%% accuracy: long, for a quiet machine')
    ap.add_argument('--tta-recipe', default='{}', help='JSON overrides of Recipe, e.g. \'{"epochs": 1, "n_train": 2048}\'')
    ap.add_argument('--out', default=None, help='write the table here (default bench/results/<date>_peers.md; none with --quick)')
    ap.add_argument('--note', default='', help='a line to put under the title (e.g. the load on the machine)')
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS); ap.add_argument('--part', default=None, help=argparse.SUPPRESS)
    ap.add_argument('--model', default='', help=argparse.SUPPRESS); ap.add_argument('--n', type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument('--recipe', default='{}', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker: return worker(a)
    libs = a.libs or (['onecycle'] if a.quick else list(LIBS))
    runs = a.runs or (2 if a.quick else 5)
    models = a.models or (['mlp'] if a.quick else ['mlp', 'cnn'])
    sizes = a.sizes or ([2048] if a.quick else [5000, 60000])
    lr_n = 12800 if a.quick else 60000                                  # 100 batches of 128 in one epoch
    from onecycle.data.external import fashion_mnist_path
    fashion_mnist_path()                                                # found (or downloaded) once, before the workers start
    t_start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    rows, vers = [], {}
    names = {'mlp': 'MLP 784-100-10', 'cnn': 'small CNN (3 conv)'}
    for part in a.parts:
        for key in models:
            for n in (sizes if part == 'loop' else [lr_n]):
                base = ['hand', 'hand_gather'] if part == 'loop' else ['hand']   # hand_gather: the loop with index_select
                times, res, mem, v = alternate(base + libs, lambda lib: Worker(lib, part, a, key, n), runs)
                vers.update(v)
                hand = times['hand']
                what = f"{names[key]}, {n:,} images" + (' (+ validation on %s)' % f'{min(10000, max(BS, n // 6)):,}' if part == 'loop' else '')
                for lib in base + libs:
                    med = statistics.median(times[lib])
                    paired = statistics.median(t / h for t, h in zip(times[lib], hand))
                    rows.append((part, what, lib, med, med / statistics.median(hand), paired, mem[lib], fmt_res(part, res[lib])))
                print(f"# done: {part}, {what}", file=sys.stderr, flush=True)
    if a.tta:
        recipe = Recipe(**json.loads(a.tta_recipe))
        what = f"resnet_small to {TARGET:.1%}, {recipe.epochs} epochs, {recipe.n_train:,} images"
        res, mem = {}, {}
        for lib in libs:                                                # one run each: long runs, one at a time
            w = Worker(lib, 'tta', a, recipe=recipe)
            try: o = w.ready().run()
            finally: mem[lib] = w.close()
            vers.update(w.versions); res[lib] = (o['t'], o['res'])
        base = next(iter(res.values()))[0]
        for lib, (t, ep) in res.items():
            hit = next((s for s, acc in ep if acc >= TARGET), None)
            rows.append(('time to accuracy', what, f"{lib} ({'bf16' if recipe.precision == 'bf16' and lib != 'fastai' else 'fp32'})",
                         hit if hit is not None else float('nan'), t / base, float('nan'), mem[lib], f"total {t:.1f}s; per epoch: " + fmt_res('tta', ep)))
    load1 = os.getloadavg()
    lines = [f"# onecycle and its peers (bench/peers.py{' --quick' if a.quick else ''})", '',
             f"{t_start:%Y-%m-%d %H:%M} UTC; {machine()}; python {vers.get('python')}, torch {vers.get('torch')}, "
             f"onecycle {vers.get('onecycle')}" + ''.join(f", {k} {vers[k]}" for k in ('fastai', 'lightning') if k in vers) +
             f"; {vers.get('threads')} thread(s) per process; load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end; " +
             (f"median of {runs} runs per row, after one warm-up, libraries alternating in rotating order, " if a.parts else '') +
             "one process per library and row.", '']
    if a.note: lines += [a.note, '']
    lines += ['| part | work | library | median s | ratio to hand-written | median of paired ratios | peak RSS MiB | result |',
              '|---|---|---|---:|---:|---:|---:|---|']
    lines += [f"| {p} | {w} | {lib} | {m:.4f} | {r:.3f} | {pr:.3f} | {mem:.0f} | {res} |" for p, w, lib, m, r, pr, mem, res in rows]
    if a.tta: lines += ['', "time to accuracy: 'median s' is the time to the first epoch at >= 92.5% (nan: not reached), "
                            "'ratio' the total time against the first library's."]
    text = '\n'.join(lines) + '\n'
    print(text)
    out = a.out or (None if a.quick else str(HERE / 'results' / f"{t_start:%Y-%m-%d}_peers.md"))
    if out:
        from onecycle.core import atomic_write
        atomic_write(out, text.encode())
        print(f"written to {out}", file=sys.stderr)


if __name__ == '__main__': main()
