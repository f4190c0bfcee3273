"""The training script that tests/test_distributed.py starts under torchrun (and as plain processes).

`python ddp_worker.py OUT BS [--png DIR] [--kill-marker FILE]` trains a small MLP on Fashion-MNIST twice, on the
in-memory path and on the item path (a DataBlock over a PNG folder that rank 0 writes first), and records what the
test compares: every epoch's row of results, the final weights, a full single-process validation, and, after every
epoch, whether the weights are identical on every process; then, on the in-memory path, the LR finder's losses and suggestion. With --kill-marker it trains a long run on the in-memory
path and touches the marker once training is under way, so that the test can kill a process."""
import argparse, json, os, sys, time
from pathlib import Path
import torch
from torch import nn


def ranks_allreduce(scale):
    "For launch(start_method='spawn'): each process adds its rank + 1"
    from onecycle.distributed import setup_distrib
    from onecycle.learner import rank_distrib
    setup_distrib()
    t = torch.tensor([float(rank_distrib() + 1)])
    torch.distributed.all_reduce(t)
    return rank_distrib(), scale * t.item()


def main():
    from onecycle.core import set_seed
    from onecycle.data.external import load_fashion_mnist
    from onecycle.data.load import DataLoaders
    from onecycle.data.transforms import Normalize
    from onecycle.data.block import DataBlock, ImageBlock, CategoryBlock, GrandparentSplitter, parent_label, get_image_files, fashion_mnist_png
    from onecycle.learner import Learner, Callback, accuracy, rank_distrib, num_distrib
    from onecycle.callback.checkpoint import SaveModel
    from onecycle.distributed import all_gather_object, rank0_first
    import onecycle.callback.schedule, onecycle.callback.lr_finder  # noqa: F401  (fit_one_cycle, lr_find)

    p = argparse.ArgumentParser()
    p.add_argument('out'); p.add_argument('bs', type=int)
    p.add_argument('--png'); p.add_argument('--kill-marker')
    a = p.parse_args()
    out, rank = Path(a.out), rank_distrib()
    torch.set_num_threads(1)

    class SameWeights(Callback):
        "After every epoch: are the weights identical on every process?"
        order = 100
        def before_fit(self): self.same = []
        def after_epoch(self):
            w = torch.cat([p.detach().flatten() for p in self.learn.model.parameters()])
            self.same.append(all(torch.equal(w, o) for o in all_gather_object(w)))

    class Marker(Callback):
        def after_batch(self):
            if self.learn.train_iter == 5 and rank == 1: Path(a.kill_marker).touch()

    def model():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

    def run(name, dls, n_epoch=2):
        set_seed(rank)  # different initial weights on each process: DDP starts them all from rank 0's
        learn = Learner(dls, model(), metrics=accuracy, path=out/name, silent=False, cbs=SameWeights()).to_distributed()
        learn.recorder.train_metrics = True  # the training pass's accuracy too, summed over the processes
        learn.fit_one_cycle(n_epoch, 3e-3, cbs=SaveModel())
        vals = learn.validate()  # after fit: one process, the whole validation set, the final weights
        res = {'world': num_distrib(), 'n_batches': len(learn.dls.train), 'same': learn.same_weights.same,
               'values': [{k: v for k, v in r.items() if k != 'time'} for r in learn.recorder.values],
               'validate': vals, 'losses': learn.recorder.losses.tolist(),
               'files': sorted(p.name for p in (out/name/'models').iterdir())}
        w = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
        if rank == 0: torch.save(w, out/f'{name}_weights.pt')
        if name == 'mem':  # the LR finder, from the trained weights (it leaves them as they are)
            sug = learn.lr_find(num_it=30, show_plot=False)
            res['finder'] = {'losses': learn.lr_finder.raw_losses, 'valley': sug.valley}
        (out/f'{name}_rank{rank}.json').write_text(json.dumps(res))

    ds = load_fashion_mnist()
    xt, xv = ds.x_train[:1024, None], ds.x_test[:256, None]
    if a.kill_marker:
        dls = DataLoaders.from_tensors(xt, ds.y_train[:1024], xv, ds.y_test[:256], bs=a.bs, device='cpu', seed=0,
                                       batch_tfms=[Normalize.from_data(xt)])
        learn = Learner(dls, model(), loss_func=nn.CrossEntropyLoss(), metrics=accuracy, silent=True, cbs=Marker()).to_distributed()
        learn.fit(1000, 1e-3)
        return
    dls = DataLoaders.from_tensors(xt, ds.y_train[:1024], xv, ds.y_test[:256], bs=a.bs, device='cpu', seed=0,
                                   batch_tfms=[Normalize.from_data(xt)], val_bs=50)
    dls.loss_func, dls.vocab = nn.CrossEntropyLoss(), ds.classes
    run('mem', dls)
    with rank0_first():  # rank 0 writes the folder, the others find it there
        if not Path(a.png).exists(): fashion_mnist_png(a.png, n_train=24, n_valid=10)
    block = DataBlock(blocks=(ImageBlock(gray=True), CategoryBlock), get_items=get_image_files,
                      splitter=GrandparentSplitter(), get_y=parent_label, batch_tfms=[Normalize()])
    run('items', block.dataloaders(a.png, bs=a.bs, val_bs=30, seed=0, num_workers=1, device='cpu'))


if __name__ == '__main__': main()
