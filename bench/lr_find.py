"""Wall time of `Learner.lr_find` against a hand-written learning-rate range test doing the same 100 steps.

Both take num_it=100 optimizer steps from the same initial weights, on the same batches of Fashion-MNIST (batch size
128, no augmentation, every batch normalised with the same `Normalize`), with AdamW and the same exponential ramp of
the learning rate from 1e-7 to 0.1 (where neither model diverges yet), and keep the loss of every step. The hand-written test is the loop one would write:
copy the model's and the optimizer's state dicts, then per step set the rate, forward, loss, backward, step,
zero_grad and keep the loss tensor; at the end read the losses back in one copy, smooth them with the debiased moving
average, and load the state dicts back. It slices the in-memory tensors with the same permutation as the Learner's
loader, so both do the same arithmetic (the script checks that their step losses agree).

`lr_find` runs as it always does (show_plot=False, no progress bar): with stop_div, so it reads and checks the loss
after every step (on the CPU), and the script checks that it took all 100 steps; the full snapshot (model, optimizer,
callbacks' state, Python/NumPy/PyTorch and loader generators, modes, gradients, Recorder) and its exact restore, the
callbacks of a default Learner, the smoothing and the valley suggestion. The hand-written loop has no early stop. The same Learner is used for every run: lr_find leaves it as it found it.

The two run alternately in one process after a warm-up, with a garbage collection before each run; we report the
median time of each, the ratio of the medians, and the median of the per-round ratios (each lr_find run against the
hand-written run next to it, which is less sensitive to other load on a shared machine), for an MLP (784-100-10) and
a small CNN.

Usage: python bench/lr_find.py [--runs 21] [--threads N] [--models mlp cnn]
"""
import argparse, copy, datetime, os, platform, statistics
import torch
from torch import nn
import torch.nn.functional as F
from onecycle.core import set_seed
from onecycle.data.load import fashion_mnist_dls
from onecycle.learner import Learner
from onecycle.callback.lr_finder import valley  # noqa: F401  (adds Learner.lr_find)
from learner import MODELS, NAMES, timed  # bench/learner.py: the same two models, and the timer

NUM_IT, START, END, BETA = 100, 1e-7, 0.1, 0.98


def hand_lr_find(model, dls):
    "The hand-written range test: returns the step losses"
    xt, yt = dls.train.tensors
    norm, bs = dls.train.batch_tfms[-1], dls.train.bs
    perm = torch.randperm(len(xt), generator=torch.Generator().manual_seed(dls.train.seed))  # the loader's first order
    saved = copy.deepcopy(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=START)
    saved_opt = copy.deepcopy(opt.state_dict())
    model.train()
    losses = []
    for i in range(NUM_IT):
        for g in opt.param_groups: g['lr'] = START * (END / START) ** (i / (NUM_IT - 1))
        idx = perm[i * bs:(i + 1) * bs]
        loss = F.cross_entropy(model(norm(xt[idx])), yt[idx])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    raw = torch.stack(losses).tolist()
    avg, smoothed = 0., []  # (not used here: the smoothing is part of the work)
    for k, l in enumerate(raw, 1):
        avg = BETA * avg + (1 - BETA) * l; smoothed.append(avg / (1 - BETA ** k))
    model.load_state_dict(saved); opt.load_state_dict(saved_opt)
    return raw


def run_lr_find(learn):
    learn.lr_find(START, END, NUM_IT, show_plot=False)
    assert learn.lr_finder.n_steps == NUM_IT, 'the finder stopped early: lower END'
    return learn.lr_finder.raw_losses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=21)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--models', nargs='*', default=['mlp', 'cnn'], choices=['mlp', 'cnn'])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dls = fashion_mnist_dls(bs=128, augment=False, device='cpu', seed=0)
    rows = []
    for key in a.models:
        set_seed(0); init = MODELS[key]()
        learn = Learner(dls, copy.deepcopy(init), silent=True, wd_bn_bias=True)  # as the hand loop: weight decay on every parameter
        hand_model = copy.deepcopy(init)
        loops = {'lr_find': lambda: run_lr_find(learn), 'hand-written': lambda: hand_lr_find(hand_model, dls)}
        times, res = {k: [] for k in loops}, {}
        for f in loops.values(): timed(f)                                              # warm-up
        for _ in range(a.runs):
            for k, f in loops.items():
                t, res[k] = timed(f); times[k].append(t)
        n = sum(1 for x in res['hand-written'] if x == x)                             # up to the first NaN, if any
        diff = max(abs(x - y) for x, y in zip(res['lr_find'][:n], res['hand-written'][:n]))
        med = {k: statistics.median(v) for k, v in times.items()}
        paired = statistics.median(t / h for t, h in zip(times['lr_find'], times['hand-written']))
        rows.append((NAMES[key], med['lr_find'], med['hand-written'], med['lr_find'] / med['hand-written'], paired, diff))
    print(f"{datetime.date.today()}, {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, bs 128, AdamW, "
          f"{NUM_IT} steps, median of {a.runs} runs each (alternating, after a warm-up)\n")
    print('| model | lr_find (s) | hand-written (s) | ratio of medians | median of paired ratios | max step-loss difference |')
    print('|---|---:|---:|---:|---:|---:|')
    for name, lf, hw, r, p, d in rows: print(f"| {name} | {lf:.4f} | {hw:.4f} | {r:.3f} | {p:.3f} | {d:.1e} |")


if __name__ == '__main__': main()
