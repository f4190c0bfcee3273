"""Time to accuracy on Fashion-MNIST (CPU or GPU): `fit_one_cycle` with a recipe, the official 10k test split as validation.

The clock starts before the data are loaded and includes the model's creation, the LR finder (`learn.lr_find()`,
100 steps, whose suggestion is printed; the recipe's fixed `--lr` is used), training, the validation pass of every
epoch and the final test-time-augmented (TTA: mean of the probabilities of each image and its mirror image)
evaluation. The TTA accuracy of the earlier epochs is measured too, for the table, with the clock paused.

Prints one row per epoch (elapsed wall seconds, the process's CPU seconds (about twice the wall time on an idle
2-core machine; under load from other processes the wall time grows and this does much less), epoch, training size, test accuracy, with TTA) and a summary line
with the machine, the date and torch's version. Other processes on the machine slow it: check `uptime` first.
On a GPU (`--device cuda`) the data stay resident on it and are augmented there; `--compile` adds torch.compile
(its compilation time is on the clock, as a user would pay it).

Usage: python bench/time_to_accuracy.py [--device cpu] [--epochs 8] [--sizes 20,24,28] [--lr 4e-3] ... (see --help)
CPU recipe of `onecycle train` (since 2026-12-08): --epochs 6 --sizes 20,24,28,28,28,28 --pad 0 --lr 2e-2
(before: --epochs 13 --sizes 20,20,20,20,20,24,24,24,24,28,28,28,28 --pad 2 --lr 3e-2)
"""
import argparse, datetime, json, os, platform, time
T0 = time.perf_counter()
import torch
from torch import nn
from onecycle.core import set_seed
from onecycle.data.load import fashion_mnist_dls
from onecycle.learner import Learner, Callback, accuracy
import onecycle.callback.schedule, onecycle.callback.precision, onecycle.callback.lr_finder  # noqa: F401  (fit_one_cycle, to_bf16, lr_find)
from onecycle.vision.models import get_model, ProgressiveResize
from onecycle.callback.precision import fast_dtype

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
p.add_argument('--model', default='resnet_small')
p.add_argument('--widths', default='32,64,128'); p.add_argument('--depths', default='1,1,1')
p.add_argument('--stem', type=int, default=16); p.add_argument('--stem-stride', type=int, default=2)
p.add_argument('--epochs', type=int, default=8); p.add_argument('--bs', type=int, default=256)
p.add_argument('--lr', type=float, default=4e-3); p.add_argument('--wd', type=float, default=0.05)
p.add_argument('--pct-start', type=float, default=0.25)
p.add_argument('--sizes', default='28', help='training size per epoch, comma-separated; the last one is kept')
p.add_argument('--pad', type=int, default=2, help='RandomTranslate padding')
p.add_argument('--ls', type=float, default=0.1, help='label smoothing')
p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: leave as is)')
p.add_argument('--precision', choices=['auto', 'fp32', 'bf16'], default='auto',
               help="auto: bf16 on a GPU or a CPU with native bf16 (cpu_has_bf16), else fp32 (emulated bf16 is far slower)")
p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True)
p.add_argument('--compile', action='store_true')
p.add_argument('--lr-find', type=int, default=100, help='LR-finder steps (0: none)')
p.add_argument('--no-tta', action='store_true'); p.add_argument('--seed', type=int, default=0)
p.add_argument('--json', default=None, help='append the result as a JSON line to this file')
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
set_seed(a.seed)
load = os.getloadavg()[0]


class Clock:
    "Wall time since the script started, less the pauses"
    def __init__(self): self.paused = 0.
    def __call__(self): return time.perf_counter() - T0 - self.paused


class EpochTTA(Callback):
    "After each epoch: record the elapsed time and the accuracy; the TTA pass of all but the last epoch is off the clock"
    order = 60
    def __init__(self, clock): self.clock, self.rows = clock, []
    def before_validate(self): self.preds = []
    def after_batch(self):
        if not self.training: self.preds.append(self.pred.float().softmax(1))
    def after_epoch(self):
        elapsed, t = self.clock(), time.perf_counter()
        learn, last = self.learn, self.epoch == self.n_epoch - 1
        p0 = torch.cat(self.preds); targs = learn.dls.valid.tensors[1]
        row = dict(time=round(elapsed, 1), cpu=round(time.process_time(), 1), epoch=self.epoch + 1, size=self.progressive.size_at(self.epoch) if self.progressive else 28,
                   acc=accuracy(p0, targs).item())
        if not a.no_tta:
            learn.model.eval()
            with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == 'bf16'):
                pf = torch.cat([learn.model(xb.flip(-1).contiguous(memory_format=torch.channels_last) if a.channels_last else xb.flip(-1)).float().softmax(1)
                                for xb, _ in learn.dls.valid])
            row['acc_tta'] = accuracy((p0 + pf) / 2, targs).item()
            if last: row['time_tta'] = round(self.clock(), 1)
            else: self.clock.paused += time.perf_counter() - t
        self.rows.append(row)
        print(f"{row['time']:8.1f} {row['cpu']:7.1f} {row['epoch']:5d} {row['size']:4} {row['acc']:8.4f} {row.get('acc_tta', float('nan')):8.4f}", flush=True)


clock = Clock()
dev = torch.device(a.device)
if a.precision == 'auto': a.precision = 'fp32' if fast_dtype(dev) is None else 'bf16'
dls = fashion_mnist_dls(bs=a.bs, device=dev, pad=a.pad, seed=a.seed)
kw = dict(widths=tuple(int(w) for w in a.widths.split(',')), depths=tuple(int(d) for d in a.depths.split(',')), stem=a.stem, stem_stride=a.stem_stride) \
     if a.model == 'resnet_small' else {}
model = get_model(a.model, n_in=1, n_out=10, **kw)
learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(label_smoothing=a.ls), metrics=accuracy, lr=a.lr, wd=a.wd, silent=True)
if a.precision == 'bf16': learn.to_bf16()
learn.to_channels_last(a.channels_last)
if a.compile: learn.compile()
sizes = [int(s) for s in a.sizes.split(',')]
prog = ProgressiveResize(sizes) if sizes != [28] else None
t_find = time.perf_counter()
sugg = learn.lr_find(num_it=a.lr_find, show_plot=False) if a.lr_find else None
t_find = time.perf_counter() - t_find
print(f"# load avg {load:.2f}; setup+LR finder {clock():.1f}s (finder {t_find:.1f}s, suggestion {sugg})", flush=True)
print(f"{'time_s':>8} {'cpu_s':>7} {'epoch':>5} {'size':>4} {'acc':>8} {'acc_tta':>8}")
cb = EpochTTA(clock); cb.progressive = prog
learn.fit_one_cycle(a.epochs, a.lr, pct_start=a.pct_start, wd=a.wd, cbs=[cb] + ([prog] if prog else []))
last = cb.rows[-1]
gpu = f", {torch.cuda.get_device_name(dev)}" if dev.type == 'cuda' else ''
res = dict(date=datetime.date.today().isoformat(), machine=f"{platform.machine()} {os.cpu_count()} cores{gpu}", device=str(dev), torch=torch.__version__,
           threads=torch.get_num_threads(), load=round(load, 2), finder_s=round(t_find, 1), args=vars(a), rows=cb.rows,
           final_acc=last['acc'], final_acc_tta=last.get('acc_tta'), total_s=last.get('time_tta', last['time']))
print(f"# final: acc {res['final_acc']:.4f}, with TTA {res['final_acc_tta'] or float('nan'):.4f}, total {res['total_s']:.1f}s "
      f"| {res['machine']}, torch {res['torch']}, {res['threads']} threads, {res['date']}, load avg at start {load:.2f}")
if a.json:
    with open(a.json, 'a') as f: f.write(json.dumps(res) + '\n')
