"""Train a small CNN on Fashion-MNIST with the 1-cycle policy: on one device, or on several GPUs (or CPU processes)
with torchrun. The script is the same either way; onecycle notices torchrun's environment.

    python examples/train_ddp.py                                      # one device
    torchrun --nproc_per_node=4 examples/train_ddp.py                 # 4 GPUs of this machine
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 \\
             --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 examples/train_ddp.py   # on HOST0; node_rank=1 on the other

`--bs` is the batch size of each process: a step averages the gradients of bs x (number of processes) items.
`--scale-lr` multiplies the learning rate by the number of processes (the linear scaling rule); off by default.
"""
import argparse, time
from torch import nn
from onecycle.all import *  # every chapter: fit_one_cycle, SaveModel, to_distributed, ...


def conv(ni, nf): return nn.Sequential(nn.Conv2d(ni, nf, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(nf), nn.ReLU())

def make_model(kind:str) -> nn.Module:
    "A small CNN for 28x28 grayscale images, or an MLP that trains fast on a CPU"
    if kind == 'mlp': return nn.Sequential(nn.Flatten(), nn.Linear(28*28, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(conv(1, 16), conv(16, 32), conv(32, 64), conv(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, 10))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--bs', type=int, default=256, help='batch size of each process')
    p.add_argument('--lr', type=float, default=3e-3, help='peak learning rate of the 1-cycle schedule')
    p.add_argument('--model', choices=['cnn', 'mlp'], default='cnn')
    p.add_argument('--scale-lr', action='store_true', help='multiply the learning rate by the number of processes')
    p.add_argument('--save', action='store_true', help='save a checkpoint every epoch (rank 0 writes it) to models/')
    p.add_argument('--seed', type=int, default=42)
    a = p.parse_args()

    set_seed(a.seed)
    dls = fashion_mnist_dls(bs=a.bs, seed=a.seed)
    learn = Learner(dls, make_model(a.model), metrics=accuracy).to_distributed(scale_lr=a.scale_lr)  # alone: no change
    t0 = time.perf_counter()
    learn.fit_one_cycle(a.epochs, a.lr, cbs=SaveModel('fashion_ddp') if a.save else None)
    if rank_distrib() == 0:
        n = num_distrib()
        print(f"{n} process{'es' if n > 1 else ''} on {dls.device}: {a.bs} items per process, {a.bs * n} per step, "
              f"{len(dls.train)} steps per epoch; accuracy {learn.recorder.values[-1]['accuracy']:.4f} "
              f"in {time.perf_counter() - t0:.1f} s")


if __name__ == '__main__': main()
