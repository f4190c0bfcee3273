"""Images per second: onecycle's `aug_transforms` on a batch tensor vs torchvision.transforms.v2 per image in a DataLoader.

Both sides augment the same Fashion-MNIST training images (28 px, and upsampled to larger sizes) with the same kinds of
change: a random rotation (up to 10 degrees), zoom (1 to 1.1), perspective warp (0.2), horizontal flip and brightness and
contrast (0.2), each applied with fastai's probabilities, bilinear interpolation, and give float32 batches in [0, 1].

- onecycle: `[IntToFloatTensor(), *aug_transforms()]` on uint8 batches of 256 that are already in memory, in this
  process, `torch.set_num_threads(--threads)` (1 by default; `--threads 2` gives it the two cores the two workers get);
- torchvision: `v2.RandomRotation`, `v2.RandomAffine(scale=...)`, `v2.RandomPerspective`, `v2.RandomHorizontalFlip`,
  `v2.ColorJitter(brightness, contrast)` and `v2.ToDtype` applied to one image at a time in a `Dataset`, batched by a
  `torch.utils.data.DataLoader` with `--workers` worker processes (persistent, warmed up before timing).

The two alternate in one process; each figure is the median of `--runs` passes over `--n` images. Writes a markdown table
to bench/results/<date>_augment.md (or `--out`). Usage: python bench/augment.py [--runs 5] [--sizes 28 64 128] [--device cpu]
"""
import argparse, datetime, os, platform, statistics, time
from pathlib import Path
import torch, torchvision
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from onecycle.core import atomic_write
from onecycle.data.external import load_fashion_mnist
from onecycle.data.transforms import IntToFloatTensor, aug_transforms, apply_batch_tfms


class PerImage(Dataset):
    "The usual recipe: torchvision v2 transforms on one uint8 image (1, H, W) at a time"
    def __init__(self, x, tfm): self.x, self.tfm = x, tfm
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.tfm(self.x[i])


def torchvision_tfm():
    "torchvision v2 transforms with the kinds, magnitudes and probabilities of fastai's defaults"
    bil = v2.InterpolationMode.BILINEAR
    return v2.Compose([
        v2.RandomApply([v2.RandomRotation(10, interpolation=bil)], p=0.75),
        v2.RandomApply([v2.RandomAffine(degrees=0, scale=(1., 1.1), interpolation=bil)], p=0.75),
        v2.RandomPerspective(distortion_scale=0.2, p=0.75, interpolation=bil),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=0.75),
        v2.ToDtype(torch.float32, scale=True)])


def rate_onecycle(x, tfms, bs, gen, device):
    "Images per second of `tfms` over `x` (uint8, on `device`) in batches of `bs`"
    if device.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(0, len(x), bs): out = apply_batch_tfms(x[i:i+bs], tfms, train=True, generator=gen)
    if device.type == 'cuda': torch.cuda.synchronize()
    assert out.dtype == torch.float32
    return len(x) / (time.perf_counter() - t)


def rate_loader(dl, device):
    "Images per second of one pass of the DataLoader `dl`, each batch moved to `device`"
    t, n = time.perf_counter(), 0
    for xb in dl: xb = xb.to(device, non_blocking=True); n += len(xb)
    if device.type == 'cuda': torch.cuda.synchronize()
    assert xb.dtype == torch.float32
    return n / (time.perf_counter() - t)


def cpu_name():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--n', type=int, default=5120, help='images per pass')
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--sizes', type=int, nargs='*', default=[28, 64, 128])
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1, help="torch threads for onecycle's side (in this process)")
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--out', default=None, help='markdown file to write (default bench/results/<date>_augment.md)')
    ap.add_argument('--note', default='', help='a line to add under the table (for example how busy the machine was)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    x28 = load_fashion_mnist().x_train[:a.n, None].contiguous()
    rows = []
    for size in a.sizes:
        x = x28 if size == 28 else F.interpolate(x28.float(), size=(size, size), mode='bilinear').round().clamp(0, 255).to(torch.uint8)
        xd = x.to(dev)
        tfms = [IntToFloatTensor(), *aug_transforms()]
        gen = torch.Generator(device=dev).manual_seed(0)
        dl = DataLoader(PerImage(x, torchvision_tfm()), batch_size=a.bs, num_workers=a.workers,
                        persistent_workers=a.workers > 0, pin_memory=dev.type == 'cuda')
        rate_onecycle(xd, tfms, a.bs, gen, dev); rate_loader(dl, dev)            # warm-up (workers started)
        ours, theirs = [], []
        for _ in range(a.runs):
            ours.append(rate_onecycle(xd, tfms, a.bs, gen, dev)); theirs.append(rate_loader(dl, dev))
        ratios = [o / t for o, t in zip(ours, theirs)]
        mo, mt = statistics.median(ours), statistics.median(theirs)
        rows.append((size, mo, mt, mo / mt, statistics.median(ratios)))
        print(f'{size} px: onecycle {mo:,.0f} img/s, torchvision {mt:,.0f} img/s, {mo / mt:.1f}x', flush=True)
        del dl
    today = datetime.date.today().isoformat()
    head = (f"{today}, {platform.platform()}, {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"torchvision {torchvision.__version__}, {torch.get_num_threads()} thread(s) in the main process, device {dev}, "
            f"bs {a.bs}, {a.n} images per pass, median of {a.runs} passes (the two sides alternating, after a warm-up), "
            f"load average before the last size {os.getloadavg()[0]:.2f}")
    lines = [head, '',
             f'| image size | onecycle `aug_transforms` on the batch, {a.threads} thread(s) (img/s) | torchvision v2 per image, '
             f'DataLoader with {a.workers} workers (img/s) | speed-up | median of paired speed-ups | goal 10x |',
             '|---|---:|---:|---:|---:|---|']
    for size, mo, mt, r, pr in rows:
        lines.append(f'| {size}x{size} | {mo:,.0f} | {mt:,.0f} | {r:.1f}x | {pr:.1f}x | {"met" if r >= 10 else "missed"} |')
    if a.note: lines += ['', a.note]
    text = '\n'.join(lines) + '\n'
    print('\n' + text)
    out = Path(a.out) if a.out else Path(__file__).parent / 'results' / f'{today}_augment.md'
    atomic_write(out, text.encode())
    print(f'written to {out}')


if __name__ == '__main__': main()
