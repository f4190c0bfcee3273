"""Images per second: onecycle's in-memory loader vs torch's DataLoader over a TensorDataset with per-item transforms.

Both produce one epoch of Fashion-MNIST training batches (batch size 256) augmented with a random horizontal flip and
a random translation of up to 2 pixels (pad and crop), then normalised. The two run alternately in one process;
we report the median of several epochs and the ratio. Usage: python bench/data_inmemory.py [--runs 5] [--device cpu]
"""
import argparse, datetime, platform, statistics, time
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from onecycle.data.external import load_fashion_mnist
from onecycle.data.load import fashion_mnist_dls


class AugmentedTensors(Dataset):
    "The usual recipe: torchvision v2 transforms applied to one image at a time"
    def __init__(self, x, y, tfm): self.x, self.y, self.tfm = x, y, tfm
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return self.tfm(self.x[i]), self.y[i]


def epoch_rate(batches, device, norm=None):
    "Images per second over one pass of `batches`, each batch moved to `device` (and normalised there if `norm`)"
    t, n = time.perf_counter(), 0
    for xb, yb in batches:
        xb = xb.to(device, non_blocking=True)
        if norm is not None: xb = norm(xb)
        n += len(xb)
    if device.type == 'cuda': torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--workers', type=int, nargs='*', default=[0, 2])
    a = ap.parse_args()
    dev = torch.device(a.device)
    ds = load_fashion_mnist()
    dls = fashion_mnist_dls(bs=a.bs, device=dev, seed=0)
    norm = dls.train.batch_tfms[-1]
    tfm = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomCrop(28, padding=2), v2.ToDtype(torch.float32, scale=True),
                      v2.Normalize(norm.mean.tolist(), norm.std.tolist())])
    tds = AugmentedTensors(ds.x_train[:, None], ds.y_train, tfm)
    contenders = {'onecycle in-memory': lambda: dls.train}
    for w in a.workers:
        contenders[f'DataLoader+TensorDataset, {w} workers'] = (lambda w=w: DataLoader(
            tds, batch_size=a.bs, shuffle=True, drop_last=True, num_workers=w, pin_memory=dev.type == 'cuda',
            persistent_workers=False))
    rates = {k: [] for k in contenders}
    for k, make in contenders.items(): epoch_rate(make(), dev)            # warm-up
    for _ in range(a.runs):
        for k, make in contenders.items(): rates[k].append(epoch_rate(make(), dev))
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med['onecycle in-memory']
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, device {dev}, bs {a.bs}, median of {a.runs} epochs")
    print('| loader | images/s | onecycle speed-up |\n|---|---:|---:|')
    for k, m in med.items(): print(f'| {k} | {m:,.0f} | {base / m:.1f}x |')


if __name__ == '__main__': main()
