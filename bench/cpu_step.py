"""Milliseconds per training step of `resnet_small(1, 10)` on this CPU, by precision and memory layout.

One step is a forward pass and the label-smoothed cross-entropy under the setting, the backward pass and an AdamW step,
on a fixed random batch (`--bs` images of `--size` px). The settings are float32 in the default (contiguous) layout,
float32 in channels_last, and bf16 autocast in each layout. They alternate within each round, in one process, and each
figure is the median over `--rounds` rounds of the mean of `--steps` steps, after a warm-up step of each.

It reports what decides the fast path: `torch.backends.cpu.get_cpu_capability()` (AVX2, AVX512, ...) and whether oneDNN
computes bf16 natively (`cpu_has_bf16()`: AVX512-BF16 or AMX). Without native bf16, PyTorch runs a bf16 convolution in
its slow reference kernel, so the bf16 rows are skipped unless `--bf16` is given (expect seconds per step).
Writes a markdown table to `--out` (default bench/results/<date>_cpu_step.md).
Usage: python bench/cpu_step.py [--size 28] [--bs 256] [--threads 2] [--rounds 5] [--steps 5] [--bf16]
"""
import argparse, copy, datetime, os, platform, statistics, time
from pathlib import Path
import torch
from torch import nn
from onecycle.core import atomic_write
from onecycle.vision.models import resnet_small
from onecycle.callback.precision import cpu_has_bf16
from augment import cpu_name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', type=int, default=28); ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--steps', type=int, default=5); ap.add_argument('--bf16', action='store_true')
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    native = cpu_has_bf16()
    settings = [('float32', False), ('float32', True)] + ([('bf16 autocast', False), ('bf16 autocast', True)] if native or a.bf16 else [])
    init, lf = resnet_small(), nn.CrossEntropyLoss(label_smoothing=0.1)
    x, y = torch.randn(a.bs, 1, a.size, a.size), torch.randint(0, 10, (a.bs,))
    runs = {}
    for prec, cl in settings:
        m = copy.deepcopy(init)
        if cl: m = m.to(memory_format=torch.channels_last)
        xb = x.contiguous(memory_format=torch.channels_last) if cl else x
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05)
        def step(m=m, xb=xb, opt=opt, bf=prec != 'float32'):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf): loss = lf(m(xb), y)
            loss.backward(); opt.step(); opt.zero_grad()
        step(); runs[(prec, cl)] = (step, [])
    for _ in range(a.rounds):
        for step, ts in runs.values():
            t = time.perf_counter()
            for _ in range(a.steps): step()
            ts.append((time.perf_counter() - t) / a.steps * 1e3)
    base = statistics.median(runs[('float32', False)][1])
    today = datetime.date.today().isoformat()
    lines = [f"{today}, {platform.platform()}, {cpu_name()}, {os.cpu_count()} cores, CPU capability "
             f"{torch.backends.cpu.get_cpu_capability()}, native bf16 (cpu_has_bf16): {native}, torch {torch.__version__}, "
             f"{a.threads} thread(s), resnet_small(1, 10), bs {a.bs}, {a.size}x{a.size} px, AdamW, "
             f"median of {a.rounds} rounds of {a.steps} steps (settings alternating)", '',
             '| precision | layout | ms per step | img/s | vs float32 contiguous |', '|---|---|---:|---:|---:|']
    for (prec, cl), (_, ts) in runs.items():
        ms = statistics.median(ts)
        lines.append(f"| {prec} | {'channels_last' if cl else 'contiguous'} | {ms:.1f} | {a.bs / ms * 1e3:,.0f} | {base / ms:.2f}x |")
    text = '\n'.join(lines) + '\n'
    print(text)
    out = Path(a.out) if a.out else Path(__file__).parent / 'results' / f'{today}_cpu_step.md'
    atomic_write(out, text.encode()); print(f'written to {out}')


if __name__ == '__main__': main()
