"""One variant of the `onecycle train` recipe on Fashion-MNIST (CPU), and what an EMA of the weights and more test-time views would add.

Trains `resnet_small` with `fit_one_cycle` on the 60,000 training images (bf16 and channels_last, 2 threads, no LR
finder: the peak rate is `--lr`), validating on the official 10,000 test images every epoch, like
bench/time_to_accuracy.py, with these knobs: epochs and sizes (progressive resizing), the largest random shift `--pad`
(0: flips only), label smoothing, pct_start, div, div_final and the momentums. Along the way it keeps an exponential
moving average of the weights (`--ema`, decay per step; it does not change the training), and at the end, off the clock,
it scores the final weights and the EMA weights four ways: plain, with flips (2 views), with flips and 4 one-pixel shifts
(6 views), and with those shifts flipped too (10 views).

Appends one JSON line per run to `--json` (tag, arguments, the accuracy after each epoch, the wall time to the end of
training, each score). Use it to compare variants: the accuracies are reproducible for a seed, the wall times move by
up to 40% between runs on a shared VM, so time recipes side by side (bench/time_to_accuracy.py or `onecycle train`).
Usage: python bench/recipe_variants.py --epochs 6 --sizes 20,24,28,28,28,28 --pad 0 --seed 0 --tag six --json out.jsonl
"""
import argparse, copy, json, os, time
T0 = time.perf_counter()
import torch
from torch import nn
import torch.nn.functional as F
from onecycle.core import set_seed
from onecycle.data.load import fashion_mnist_dls
from onecycle.learner import Learner, Callback, accuracy
import onecycle.callback.schedule, onecycle.callback.precision  # noqa: F401  (fit_one_cycle, to_bf16)
from onecycle.vision.models import get_model, ProgressiveResize

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--widths', default='32,64,128'); p.add_argument('--depths', default='1,1,1')
p.add_argument('--stem', type=int, default=16)
p.add_argument('--epochs', type=int, default=8); p.add_argument('--bs', type=int, default=256)
p.add_argument('--lr', type=float, default=2e-2); p.add_argument('--wd', type=float, default=0.05)
p.add_argument('--pct-start', type=float, default=0.25); p.add_argument('--div', type=float, default=25.)
p.add_argument('--div-final', type=float, default=1e5)
p.add_argument('--sizes', default='20,20,24,24,28,28,28,28', help='training size per epoch, comma-separated')
p.add_argument('--pad', type=int, default=2, help='largest random shift in pixels (0: flips only)')
p.add_argument('--ls', type=float, default=0.1, help='label smoothing')
p.add_argument('--ema', type=float, default=0.995, help='decay per step of the weight average')
p.add_argument('--moms', default='0.95,0.85,0.95'); p.add_argument('--seed', type=int, default=0)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--tag', default=''); p.add_argument('--json', default='recipe_variants.jsonl')
a = p.parse_args()
torch.set_num_threads(a.threads); set_seed(a.seed)
dls = fashion_mnist_dls(bs=a.bs, device='cpu', pad=a.pad, seed=a.seed)
model = get_model('resnet_small', n_in=1, n_out=10, widths=tuple(int(w) for w in a.widths.split(',')),
                  depths=tuple(int(d) for d in a.depths.split(',')), stem=a.stem)
learn = Learner(dls, model, loss_func=nn.CrossEntropyLoss(label_smoothing=a.ls), metrics=accuracy, lr=a.lr, wd=a.wd,
                silent=True, moms=tuple(float(m) for m in a.moms.split(',')))
learn.to_bf16(); learn.to_channels_last(True)


class EMA(Callback):
    "An exponential moving average of the weights and the normalisation statistics, updated after every step"
    order = 70
    def __init__(self, decay): self.decay = decay
    def before_fit(self): self.ema = copy.deepcopy(self.learn.model).eval()
    def after_step(self):
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.learn.model.parameters()): pe.lerp_(pm, 1 - self.decay)
            for be, bm in zip(self.ema.buffers(), self.learn.model.buffers()):
                be.lerp_(bm, 1 - self.decay) if be.is_floating_point() else be.copy_(bm)


class EpochTimes(Callback):
    order = 60
    def __init__(self): self.times = []
    def after_epoch(self): self.times.append(round(time.perf_counter() - T0, 1)); print(self.times[-1], flush=True)


times, ema = EpochTimes(), EMA(a.ema)
learn.fit_one_cycle(a.epochs, a.lr, pct_start=a.pct_start, wd=a.wd, div=a.div, div_final=a.div_final,
                    cbs=[times, ema, ProgressiveResize([int(s) for s in a.sizes.split(',')])])
total = time.perf_counter() - T0
ys = dls.valid.tensors[1]


def probs(m, tfm):
    m.eval(); out = []
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        for xb, _ in dls.valid: out.append(m(tfm(xb).contiguous(memory_format=torch.channels_last)).float().softmax(1))
    return torch.cat(out)


def shift(dx, dy): return lambda x: torch.roll(F.pad(x, (1, 1, 1, 1)), (dy, dx), (-2, -1))[..., 1:-1, 1:-1]


res = {}
for name, m in (('model', learn.model), ('ema', ema.ema)):
    p0, pf = probs(m, lambda x: x), probs(m, lambda x: x.flip(-1))
    ps = [probs(m, shift(dx, dy)) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    psf = [probs(m, lambda x, s=shift(dx, dy): s(x).flip(-1)) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    res[name] = accuracy(p0, ys).item(); res[name + '_flip'] = accuracy(p0 + pf, ys).item()
    res[name + '_flip_shift4'] = accuracy(p0 + pf + sum(ps), ys).item()
    res[name + '_flip_shift8'] = accuracy(p0 + pf + sum(ps) + sum(psf), ys).item()
out = dict(tag=a.tag, args=vars(a), accs=[round(float(r['accuracy']), 4) for r in learn.recorder.values], epoch_s=times.times,
           total_s=round(total, 1), load=os.getloadavg()[0], torch=torch.__version__, **res)
print(json.dumps({k: v for k, v in out.items() if k != 'args'}), flush=True)
with open(a.json, 'a') as f: f.write(json.dumps(out) + '\n')
