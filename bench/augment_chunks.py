"""On the CPU, `AffineAugment` resamples a batch in pieces of `chunk_pixels` output pixels: how much that buys, measured.

For each piece size (and one piece for the whole batch, the behaviour before pieces), the same 256 Fashion-MNIST training
images upsampled to `--size` px go through `AffineAugment` alone (float input) and through the whole
`[IntToFloatTensor(), *aug_transforms()]` (uint8 input). The piece sizes alternate within each round, in one process;
each figure is the median of `--rounds` rounds. Writes a markdown table to `--out` (default
bench/results/<date>_augment_chunks.md). Usage: python bench/augment_chunks.py [--size 128] [--threads 2] [--rounds 15]
"""
import argparse, datetime, os, platform, statistics, time
from pathlib import Path
import torch, torch.nn.functional as F
from onecycle.core import atomic_write
from onecycle.data.external import load_fashion_mnist
from onecycle.data.transforms import AffineAugment, IntToFloatTensor, aug_transforms, apply_batch_tfms
from augment import cpu_name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', type=int, default=128); ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('--out', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x28 = load_fashion_mnist().x_train[:a.bs, None].contiguous()
    x = F.interpolate(x28.float(), size=(a.size, a.size), mode='bilinear').round().clamp(0, 255).to(torch.uint8)
    xf, tfms = x.float() / 255, [IntToFloatTensor(), *aug_transforms()]
    aff, whole = tfms[1], a.bs * a.size * a.size
    pieces = [2**16, 2**17, 2**18, 2**19, whole]
    def run(cp, full):
        aff.chunk_pixels = cp
        g = torch.Generator().manual_seed(0)
        return apply_batch_tfms(x, tfms, train=True, generator=g) if full else aff(xf, generator=g)
    rows = []
    for full in (False, True):
        for cp in pieces: run(cp, full)                                   # warm-up
        ts = {cp: [] for cp in pieces}
        for _ in range(a.rounds):
            for cp in pieces:
                t = time.perf_counter(); run(cp, full); ts[cp].append(time.perf_counter() - t)
        rows += [(full, cp, statistics.median(v) * 1e3) for cp, v in ts.items()]
    today = datetime.date.today().isoformat()
    lines = [f"{today}, {platform.platform()}, {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
             f"{a.threads} thread(s), bs {a.bs}, {a.size}x{a.size} px, median of {a.rounds} rounds (piece sizes alternating)", '',
             '| what | output pixels per piece | images per piece | ms per batch | img/s | vs one piece |', '|---|---:|---:|---:|---:|---:|']
    for full, cp, ms in rows:
        one = next(m for f, c, m in rows if f == full and c == whole)
        lines.append(f"| {'IntToFloatTensor + aug_transforms (uint8 in)' if full else 'AffineAugment alone (float in)'} | "
                     f"{cp:,} | {max(1, cp // (a.size * a.size))} | {ms:.1f} | {a.bs / ms * 1e3:,.0f} | {one / ms:.2f}x |")
    text = '\n'.join(lines) + '\n'
    print(text)
    out = Path(a.out) if a.out else Path(__file__).parent / 'results' / f'{today}_augment_chunks.md'
    atomic_write(out, text.encode()); print(f'written to {out}')


if __name__ == '__main__': main()
