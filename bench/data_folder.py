"""Images per second over a folder of PNGs: onecycle's item path (DataBlock -> ItemLoader) vs torchvision's
ImageFolder + DataLoader, with the same number of workers.

Both read one epoch of the training half of a Fashion-MNIST PNG folder (`fashion_mnist_png`, 1,000 images per class
by default) as RGB, in shuffled batches of 256, and end with normalised float batches on the device:
- onecycle decodes with torchvision.io.decode_image in the workers, collates uint8 batches and normalises the batch;
- ImageFolder decodes with Pillow and applies the usual per-item v2 transforms (PILToTensor, ToDtype, Normalize).
A third row is ImageFolder with uint8 per item and the same batch Normalize, to separate decoding from transforms.
They run alternately in one process; we report the median of several epochs and the ratio.

Usage: python bench/data_folder.py [--runs 5] [--workers 2] [--per-class 1000] [--device cpu]
"""
import argparse, datetime, os, platform, statistics, tempfile, time
from pathlib import Path
import torch
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2
from onecycle.data.block import DataBlock, ImageBlock, CategoryBlock, GrandparentSplitter, get_image_files, parent_label, fashion_mnist_png
from onecycle.data.transforms import Normalize
from data_inmemory import epoch_rate  # the same timing loop (this script's folder is on sys.path)

MEAN, STD = [0.286] * 3, [0.353] * 3


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument('--per-class', type=int, default=1000)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--folder', default=None, help='an existing fashion_mnist_png folder (else one is written)')
    a = ap.parse_args()
    dev, w = torch.device(a.device), a.workers
    path = Path(a.folder) if a.folder else fashion_mnist_png(Path(tempfile.mkdtemp())/'fmnist', n_train=a.per_class, n_valid=10)
    dblock = DataBlock(blocks=(ImageBlock(), CategoryBlock), get_items=get_image_files, get_y=parent_label,
                       splitter=GrandparentSplitter(), batch_tfms=[Normalize(MEAN, STD)])
    ours = dblock.dataloaders(path, bs=a.bs, device=dev, num_workers=w, seed=0).train
    kw = dict(batch_size=a.bs, shuffle=True, drop_last=True, num_workers=w, pin_memory=dev.type == 'cuda', persistent_workers=w > 0)
    per_item = DataLoader(ImageFolder(path/'train', transform=v2.Compose(
        [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])), **kw)
    uint8_items = DataLoader(ImageFolder(path/'train', transform=v2.PILToTensor()), **kw)
    batch_norm = Normalize(MEAN, STD)
    contenders = {'onecycle item path (DataBlock)': lambda: epoch_rate(ours, dev),
                  'ImageFolder + DataLoader, per-item v2 transforms': lambda: epoch_rate(per_item, dev),
                  'ImageFolder + DataLoader, uint8 items, batch Normalize': lambda: epoch_rate(uint8_items, dev, batch_norm)}
    for run in contenders.values(): run()                                # warm-up (starts the persistent workers)
    rates = {k: [] for k in contenders}
    for _ in range(a.runs):
        for k, run in contenders.items(): rates[k].append(run())
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med['onecycle item path (DataBlock)']
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, device {dev}, {w} workers, bs {a.bs}, {len(ours.dataset)} PNGs (28x28, read as RGB), "
          f"median of {a.runs} epochs")
    print('| loader | images/s | onecycle speed-up |\n|---|---:|---:|')
    for k, m in med.items(): print(f'| {k} | {m:,.0f} | {base / m:.2f}x |')


if __name__ == '__main__': main()
