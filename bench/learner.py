"""Seconds per epoch: onecycle's Learner vs a hand-written PyTorch loop vs a loop over torch's DataLoader.

All three train the same model from the same initial weights for one epoch of Fashion-MNIST (batch size 128, no
augmentation, every batch normalised with the same `Normalize`), with AdamW and the same 1-cycle schedule
(`torch.optim.lr_scheduler.OneCycleLR`, stepped after every batch), then compute the validation loss and accuracy as
batch-size-weighted sums read back once. The Learner runs with no progress bar and no logging; it steps the scheduler
from a small callback. The hand-written loop slices the in-memory tensors with the same permutation as the Learner's
loader, so the two do exactly the same arithmetic. The third loop draws batches from `DataLoader(TensorDataset(...))`.
The loops run alternately in one process, after a warm-up round, with a garbage collection before each run; we report
the median time, its ratio to the hand-written loop's, and the median of the per-round ratios (each run against the
hand-written run next to it, which is less sensitive to other load on a shared machine), for an MLP (784-100-10) and
a small CNN.

With `--device cuda` the data are resident on the GPU and every loop trains there; `--bf16` adds bf16 autocast and
`--channels-last` the channels_last layout to all three loops alike (the Learner through `to_bf16`/`to_channels_last`).

Usage: python bench/learner.py [--runs 11] [--threads N] [--models mlp cnn] [--device cuda] [--bf16] [--channels-last] [--n N]
"""
import argparse, copy, datetime, gc, os, platform, statistics, time
import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.data import DataLoader, TensorDataset
from onecycle.core import set_seed
from onecycle.data.load import fashion_mnist_dls
from onecycle.learner import Learner, Callback, accuracy
import onecycle.callback.precision  # noqa: F401  (to_bf16, to_channels_last)

MODELS = {
    'mlp': lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)),
    'cnn': lambda: nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),    # 14x14
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),   # 7x7
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),   # 4x4
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)),
}
NAMES = {'mlp': 'MLP 784-100-10', 'cnn': 'small CNN (3 conv)'}
MAX_LR = 1e-2


class OneCycle(Callback):
    "Step torch's OneCycleLR after every optimizer step"
    def before_fit(self):
        self.sched = OneCycleLR(self.learn.opt, max_lr=MAX_LR, total_steps=len(self.learn.dls.train) * self.learn.n_epoch)
    def after_step(self): self.sched.step()


OPTS = {'device': torch.device('cpu'), 'bf16': False, 'channels_last': False}  # set from the command line


def plain_epoch(model, loss_func, norm, train_batches, valid_batches, n_train, n_valid):
    "One epoch of the textbook loop over `train_batches`, then validation; returns [train_loss, valid_loss, accuracy]"
    dev, cl = OPTS['device'], OPTS['channels_last']
    model = model.to(dev, memory_format=torch.channels_last) if cl else model.to(dev)
    def fwd(xb):
        xb = norm(xb.to(dev, non_blocking=True))
        if cl and xb.ndim == 4: xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=OPTS['bf16']): return model(xb).float()
    opt = torch.optim.AdamW(model.parameters(), lr=MAX_LR)
    sched = OneCycleLR(opt, max_lr=MAX_LR, total_steps=n_train)
    model.train()
    losses = []
    for xb, yb in train_batches:
        loss = loss_func(fwd(xb), yb.to(dev))
        loss.backward(); opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    model.eval()
    vloss = vacc = 0.
    with torch.no_grad():
        for xb, yb in valid_batches:
            out, yb = fwd(xb), yb.to(dev)
            vloss = vloss + loss_func(out, yb) * len(yb)
            vacc = vacc + (out.argmax(dim=1) == yb).float().mean() * len(yb)
    return torch.stack([torch.stack(losses).mean(), vloss / n_valid, vacc / n_valid]).tolist()


def run_hand(make_model, dls):
    (xt, yt), (xv, yv) = dls.train.tensors, dls.valid.tensors
    norm, bs, vbs = dls.train.batch_tfms[-1], dls.train.bs, dls.valid.bs
    g = torch.Generator(device=xt.device).manual_seed(dls.train.seed)  # on the data's device, as the loader's (on CUDA too)
    perm = torch.randperm(len(xt), device=xt.device, generator=g)  # the loader's first order
    n = len(xt) // bs
    train = ((xt[idx], yt[idx]) for idx in perm[:n * bs].split(bs))
    valid = ((xv[i:i + vbs], yv[i:i + vbs]) for i in range(0, len(xv), vbs))
    return plain_epoch(make_model(), dls.loss_func, norm, train, valid, n, len(xv))


def run_torch_dataloader(make_model, dls):
    (xt, yt), (xv, yv) = dls.train.tensors, dls.valid.tensors
    g = torch.Generator().manual_seed(dls.train.seed)
    train = DataLoader(TensorDataset(xt, yt), batch_size=dls.train.bs, shuffle=True, drop_last=True, generator=g)
    valid = DataLoader(TensorDataset(xv, yv), batch_size=dls.valid.bs)
    return plain_epoch(make_model(), dls.loss_func, dls.train.batch_tfms[-1], train, valid, len(train), len(xv))


def run_learner(make_model, dls):
    dls.train.generator.manual_seed(dls.train.seed)  # every run sees the same order
    learn = Learner(dls, make_model(), lr=MAX_LR, metrics=accuracy, cbs=OneCycle(),
                    wd_bn_bias=True)  # AdamW decays every parameter in the hand loop too: the same work
    if OPTS['bf16']: learn.to_bf16()
    if OPTS['channels_last']: learn.to_channels_last()
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    v = learn.recorder.values[-1]
    return [v['train_loss'], v['valid_loss'], v['accuracy']]


LOOPS = {'onecycle Learner': run_learner, 'hand-written loop': run_hand, 'DataLoader + TensorDataset': run_torch_dataloader}


def timed(f, *args):
    gc.collect()  # garbage from the previous run (a Learner and its callbacks form a cycle) is not timed
    if OPTS['device'].type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter(); res = f(*args)  # (each run ends by reading its results back, which waits for the GPU)
    return time.perf_counter() - t, res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=11)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--models', nargs='*', default=['mlp', 'cnn'], choices=['mlp', 'cnn'])
    ap.add_argument('--device', default='cpu'); ap.add_argument('--bf16', action='store_true')
    ap.add_argument('--channels-last', action='store_true')
    ap.add_argument('--n', type=int, default=None, help='train on the first N images and validate on the first N//6 (a dry run)')
    a = ap.parse_args()
    OPTS.update(device=torch.device(a.device), bf16=a.bf16, channels_last=a.channels_last)
    torch.set_num_threads(a.threads)
    dls = fashion_mnist_dls(bs=128, augment=False, device=OPTS['device'], seed=0)
    if a.n:
        for dl, n in ((dls.train, a.n), (dls.valid, max(1, a.n // 6))): dl.tensors = [t[:n] for t in dl.tensors]
    rows = []
    for key in a.models:
        name = NAMES[key]
        set_seed(0); init = MODELS[key]()
        make_model = lambda: copy.deepcopy(init)
        times, results = {k: [] for k in LOOPS}, {}
        for k, f in LOOPS.items(): timed(f, make_model, dls)                            # warm-up
        for _ in range(a.runs):
            for k, f in LOOPS.items():
                t, results[k] = timed(f, make_model, dls); times[k].append(t)
        med, hand = {k: statistics.median(v) for k, v in times.items()}, times['hand-written loop']
        for k in LOOPS:
            paired = statistics.median(t / h for t, h in zip(times[k], hand))  # each run against the hand loop's next to it
            rows.append((name, k, med[k], med[k] / med['hand-written loop'], paired, min(times[k]), results[k]))
    print(f"{datetime.date.today()}, {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}"
          f"{' (' + torch.cuda.get_device_name(OPTS['device']) + ')' if OPTS['device'].type == 'cuda' else ''}, "
          f"{'bf16' if a.bf16 else 'fp32'}{', channels_last' if a.channels_last else ''}, bs 128, "
          f"{f'the first {dls.train.n} training and {dls.valid.n} test images, ' if a.n else ''}"
          f"median of {a.runs} epochs (loops alternating, after a warm-up)\n")
    print('| model | loop | median s/epoch | ratio to hand-written | median of paired ratios | fastest s/epoch '
          '| train loss, valid loss, accuracy |')
    print('|---|---|---:|---:|---:|---:|---|')
    for name, k, m, r, paired, fastest, res in rows:
        print(f"| {name} | {k} | {m:.3f} | {r:.3f} | {paired:.3f} | {fastest:.3f} | {', '.join(f'{x:.4f}' for x in res)} |")


if __name__ == '__main__': main()
