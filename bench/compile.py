"""Seconds per training epoch of `resnet_small(1, 10)` on the CPU: eager PyTorch vs `learn.compile()` (inductor).

Two Learners train copies of the same `resnet_small(1, 10)` (same initial weights) on an in-memory subset of
Fashion-MNIST (the first `--n` training images, the first `--n // 6` test images for validation, batch size 256, no
augmentation, AdamW at lr 1e-3, no progress bar or logging). One runs the model eagerly; the other calls
`learn.compile()`, i.e. `nn.Module.compile()` with torch's default inductor backend, which generates and compiles C++
kernels for the CPU. Each `fit(1)` is one epoch; a callback times the training pass (`before_train` to `after_train`)
apart from validation, and the whole `fit(1)` is timed too.

The compiled Learner's first epoch includes compilation (the training graph, and the validation graph in eval mode
under no_grad, plus a recompile for the smaller last batch); it is reported on its own, next to the eager Learner's
first (warm-up) epoch. Then the two Learners' epochs alternate, `--runs` of each, with a garbage collection before each,
and we report the median, its ratio to eager's, and the median of the per-round ratios (each compiled epoch against the
eager epoch next to it, which is less sensitive to other load on a shared machine: read the ratio, not the seconds).
The Learners keep training across epochs (the timing does not depend on the weights).

Inductor keeps what it compiled in an on-disk cache (TORCHINDUCTOR_CACHE_DIR), and a second process compiling the same
graphs takes seconds instead of tens of seconds. So that the first epoch shows the cost of compiling from scratch, the
script points that cache at a new empty folder, unless `--warm-cache` is given (then torch's usual cache is used).

`--fast` adds a second pair with `to_bf16()` and `to_channels_last()` on both Learners (bf16 autocast and the
channels_last layout; on a CPU with native bf16, which `cpu_has_bf16()` reports).

Usage: python bench/compile.py [--n 10000] [--runs 5] [--threads 2] [--fast] [--warm-cache] [--out bench/results/DATE_compile.md]
"""
import argparse, atexit, copy, datetime, gc, os, platform, shutil, statistics, sys, tempfile, time
from pathlib import Path
COLD = '--warm-cache' not in sys.argv
if COLD:  # before torch is imported
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = tempfile.mkdtemp(prefix='onecycle_inductor_')
    atexit.register(shutil.rmtree, os.environ['TORCHINDUCTOR_CACHE_DIR'], ignore_errors=True)
import torch
from onecycle.core import set_seed
from onecycle.data.load import fashion_mnist_dls
from onecycle.learner import Learner, Callback, accuracy
from onecycle.vision.models import resnet_small
from augment import cpu_name  # bench/augment.py: the CPU's model name from /proc/cpuinfo
from onecycle.callback.precision import cpu_has_bf16  # also patches compile, to_bf16, to_channels_last onto Learner

LR, BS = 1e-3, 256


class TrainTimer(Callback):
    "Seconds spent in each training pass (before_train to after_train), validation left out"
    def __init__(self): self.times = []
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self): self.times.append(time.perf_counter() - self.t0)




def make_learner(dls, init, compiled, fast):
    learn = Learner(dls, copy.deepcopy(init), lr=LR, metrics=accuracy, silent=True, cbs=TrainTimer())
    if fast: learn.to_bf16().to_channels_last()
    if compiled: learn.compile()
    return learn


def epoch(learn):
    "One timed `fit(1)`: (seconds for the whole fit, seconds for its training pass, train loss, valid loss, accuracy)"
    gc.collect()
    t = time.perf_counter(); learn.fit(1); total = time.perf_counter() - t
    v = learn.recorder.values[-1]
    print(f"  {'compiled' if learn.model._compiled_call_impl is not None else 'eager'}: {learn.train_timer.times[-1]:.2f} s "
          f"training, {total:.2f} s fit(1)", file=sys.stderr, flush=True)  # progress
    return total, learn.train_timer.times[-1], v['train_loss'], v['valid_loss'], v['accuracy']


def bench_pair(dls, init, runs, fast):
    "Rows of the table for eager vs compiled, both with or without bf16 + channels_last"
    eager, comp = make_learner(dls, init, False, fast), make_learner(dls, init, True, fast)
    first = {'eager': epoch(eager), 'compiled': epoch(comp)}   # eager's warm-up; the compile happens in compiled's
    res = {'eager': [], 'compiled': []}
    for _ in range(runs):
        res['eager'].append(epoch(eager)); res['compiled'].append(epoch(comp))
    rows = []
    for k in ('eager', 'compiled'):
        train = [r[1] for r in res[k]]; total = [r[0] for r in res[k]]
        med_e = statistics.median(r[1] for r in res['eager'])
        paired = statistics.median(c[1] / e[1] for c, e in zip(res[k], res['eager']))
        rows.append(dict(setting=('bf16 + channels_last' if fast else 'fp32'), mode=k, first=first[k][1], first_total=first[k][0],
                         med=statistics.median(train), ratio=statistics.median(train) / med_e, paired=paired,
                         fastest=min(train), med_total=statistics.median(total), last=res[k][-1][2:]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=10_000, help='training images (validation: n // 6 test images)')
    ap.add_argument('--runs', type=int, default=5, help='timed epochs of each Learner after the first')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--fast', action='store_true', help='also compare with to_bf16() + to_channels_last()')
    ap.add_argument('--warm-cache', action='store_true', help="use inductor's usual on-disk cache (default: a new empty one)")
    ap.add_argument('--out', default=None, help='where to write the table (default bench/results/<date>_compile.md)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t_start, load0 = time.perf_counter(), os.getloadavg()
    dls = fashion_mnist_dls(bs=BS, augment=False, device='cpu', seed=0)
    for dl, n in ((dls.train, a.n), (dls.valid, max(1, a.n // 6))): dl.tensors = [t[:n] for t in dl.tensors]
    set_seed(0); init = resnet_small(1, 10)
    rows = bench_pair(dls, init, a.runs, False)
    if a.fast: rows += bench_pair(dls, init, a.runs, True)
    load1, wall = os.getloadavg(), time.perf_counter() - t_start
    today = datetime.date.today()
    lines = [f"# torch.compile (inductor) vs eager on the CPU: resnet_small(1, 10), {today}", "",
             f"`python bench/compile.py --n {a.n} --runs {a.runs} --threads {a.threads}{' --fast' if a.fast else ''}{' --warm-cache' if a.warm_cache else ''}`", "",
             f"{today}, {platform.platform()}, {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, native CPU bf16: {cpu_has_bf16()}, bs {BS}, "
             f"{dls.train.n} training and {dls.valid.n} validation images ({len(dls.train)} and {len(dls.valid)} batches), "
             f"median of {a.runs} epochs each (eager and compiled alternating, after the first epoch of each)", "",
             f"Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in load0)}; at the end: "
             f"{', '.join(f'{x:.2f}' for x in load1)}; the run took {wall:.0f} s. The machine is shared with other jobs, "
             f"so the seconds are noisy: the ratio (and the median of the paired ratios) is the figure to read.", "",
             "Seconds are for the training pass of an epoch (validation left out); 'whole fit(1)' adds validation. "
             "The first epoch is eager's warm-up, and compiled's includes compiling "
             f"({'with an empty inductor cache, i.e. from scratch' if COLD else 'with the usual on-disk inductor cache, which may hold these graphs already'}).", "",
             "| setting | model | first epoch s (whole fit(1)) | median s/epoch | ratio to eager | median of paired ratios "
             "| fastest s/epoch | whole fit(1) median s | last epoch: train loss, valid loss, accuracy |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['mode']} | {r['first']:.2f} ({r['first_total']:.2f}) | {r['med']:.2f} | "
                     f"{r['ratio']:.3f} | {r['paired']:.3f} | {r['fastest']:.2f} | {r['med_total']:.2f} | "
                     f"{', '.join(f'{x:.4f}' for x in r['last'])} |")
    text = '\n'.join(lines) + '\n'
    print(text)
    out = Path(a.out or Path(__file__).parent / 'results' / f'{today}_compile.md')
    out.write_text(text); print(f'written to {out}')


if __name__ == '__main__': main()
