"""Training with DistributedDataParallel on the CPU (gloo), in real processes started by torchrun or by hand.

The training script is tests/ddp_worker.py. Each test starts its processes through the interpreter running pytest
(`sys.executable -m torch.distributed.run`), so they run inside the same virtual environment."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from onecycle.distributed import torchrun, launch, _free_port

HERE = Path(__file__).resolve().parent
WORKER = HERE/'ddp_worker.py'


def _check(r):
    assert r.returncode == 0, f"torchrun failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The same training with 2 processes of batch 8 and with 1 process of batch 16, on both paths"
    d = tmp_path_factory.mktemp('ddp')
    png = d/'png'  # written by rank 0 of the first run (rank0_first), reused by the second
    two = _check(torchrun(WORKER, d/'two', 8, '--png', png, nproc_per_node=2, timeout=300))
    one = _check(torchrun(WORKER, d/'one', 16, '--png', png, nproc_per_node=1, timeout=300))
    def load(run, name, rank=0): return json.loads((d/run/f'{name}_rank{rank}.json').read_text())
    return d, two, one, load


@pytest.mark.parametrize('name', ['mem', 'items'])
def test_ranks_identical_every_epoch(runs, name):
    d, _, _, load = runs
    r0, r1 = load('two', name, 0), load('two', name, 1)
    assert r0['world'] == r1['world'] == 2
    assert r0['same'] == r1['same'] == [True, True]      # after each of the 2 epochs, on both processes
    assert r0['n_batches'] == r1['n_batches']            # the same number of steps on every process
    assert r0['values'] == r1['values']                  # the same epoch table on every process
    assert r0['files'] == ['model.pth']                  # SaveModel: one checkpoint, written by rank 0


@pytest.mark.parametrize('name', ['mem', 'items'])
def test_two_processes_match_one_with_twice_the_batch(runs, name):
    d, _, _, load = runs
    two, one = load('two', name), load('one', name)
    assert two['n_batches'] == one['n_batches']
    w2, w1 = torch.load(d/'two'/f'{name}_weights.pt'), torch.load(d/'one'/f'{name}_weights.pt')
    for k in w1: torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(two['losses']), torch.tensor(one['losses']), rtol=1e-4, atol=1e-5)
    for a, b in zip(two['values'], one['values']):
        assert a['epoch'] == b['epoch']
        for k in ('train_loss', 'train_accuracy', 'valid_loss', 'valid_accuracy'): assert abs(a[k] - b[k]) < 1e-4, (k, a, b)


@pytest.mark.parametrize('name', ['mem', 'items'])
def test_epoch_metrics_are_those_of_the_whole_validation_set(runs, name):
    "The reduced epoch values equal what one process computes over the whole validation set with the final weights"
    _, _, _, load = runs
    two = load('two', name)
    last = two['values'][-1]
    assert abs(last['valid_loss'] - two['validate'][0]) < 1e-5 and abs(last['valid_accuracy'] - two['validate'][1]) < 1e-6


def test_lr_find_agrees_across_processes(runs):
    "Each process's finder reads the step losses averaged over the processes: one curve, one suggestion, that of one process with twice the batch"
    _, _, _, load = runs
    r0, r1, one = load('two', 'mem', 0)['finder'], load('two', 'mem', 1)['finder'], load('one', 'mem')['finder']
    assert r0 == r1 and len(r0['losses']) > 5
    n = min(len(r0['losses']), len(one['losses']))
    torch.testing.assert_close(torch.tensor(r0['losses'][:n]), torch.tensor(one['losses'][:n]), rtol=1e-4, atol=1e-5)


def test_table_printed_once(runs):
    _, two, _, _ = runs
    headers = [l for l in two.stdout.splitlines() if l.startswith('epoch')]
    assert len(headers) == 2, two.stdout                 # one table per fit ('mem', 'items'), from rank 0 only


def test_disagreeing_processes_fail_fast(tmp_path):
    script = tmp_path/'bad.py'
    script.write_text(
        "import os, torch\nfrom torch import nn\nfrom onecycle.data.load import DataLoaders\nfrom onecycle.learner import Learner\n"
        "r = int(os.environ['RANK'])\nx, y = torch.randn(100 + r, 4), torch.randint(0, 2, (100 + r,))\n"
        "dls = DataLoaders.from_tensors(x, y, x, y, bs=8, device='cpu', seed=0)\n"
        "dls.vocab = ['a', 'b'] if r == 0 else ['a', 'c']\n"
        "import onecycle.distributed\nLearner(dls, nn.Linear(4, 2), loss_func=nn.CrossEntropyLoss()).to_distributed()\n")
    t0 = time.time()
    r = torchrun(script, nproc_per_node=2, timeout=120)
    assert r.returncode != 0 and time.time() - t0 < 60
    assert 'The 2 processes disagree' in r.stderr and 'training items: rank 0 has 100, rank 1 has 101' in r.stderr, r.stderr[-3000:]
    assert "vocab: rank 0 has 2 classes" in r.stderr


def _start_pair(out, marker, timeout, **extra):
    "Two training processes started by hand, as on two machines: only the process group links them"
    port, ps = _free_port(), []
    for r in range(2):
        env = {**os.environ, 'RANK': str(r), 'LOCAL_RANK': str(r), 'WORLD_SIZE': '2', 'MASTER_ADDR': '127.0.0.1',
               'MASTER_PORT': str(port), 'ONECYCLE_DIST_TIMEOUT': str(timeout), 'OMP_NUM_THREADS': '1',
               **{k: str(v) for k, v in extra.items()}}
        ps.append(subprocess.Popen([sys.executable, str(WORKER), str(out), '32', '--kill-marker', str(marker)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return ps


def test_a_killed_or_stopped_process_makes_the_other_fail_not_hang(tmp_path):
    "SIGKILL: the peer notices the lost connection at once. SIGSTOP (a hung process): the timeout (15 s here) ends it"
    timeouts = {signal.SIGKILL: 30, signal.SIGSTOP: 15}
    pairs = {sig: _start_pair(tmp_path/sig.name, tmp_path/f'{sig.name}.marker', t) for sig, t in timeouts.items()}
    try:
        t0, hit = time.time(), {}
        while len(hit) < 2 and time.time() - t0 < 180:
            for sig, ps in pairs.items():
                if sig not in hit and (tmp_path/f'{sig.name}.marker').exists():
                    ps[1].send_signal(sig); hit[sig] = time.time()
            time.sleep(0.05)
        assert len(hit) == 2, 'training did not start'
        for sig, ps in pairs.items():
            _, err = ps[0].communicate(timeout=120)
            took = time.time() - hit[sig]
            assert ps[0].returncode not in (0, None), err[-3000:]
            assert took < timeouts[sig] + 30, f"{sig.name}: rank 0 took {took:.0f}s to fail"
            assert 'Training stopped because the process group failed' in err, err[-3000:]
    finally:
        for ps in pairs.values():
            for p in ps:
                if p.poll() is None: p.kill()
                p.wait()


def _stop_rank1_and_time_rank0(tmp_path, **env):
    "Start a pair (collective timeout 30 minutes, as by default), SIGSTOP rank 1 in training; rank 0's exit code, stderr, seconds"
    marker = tmp_path/'marker'
    ps = _start_pair(tmp_path/'run', marker, 1800, **env)
    try:
        t0 = time.time()
        while not marker.exists() and time.time() - t0 < 180: time.sleep(0.05)
        assert marker.exists(), 'training did not start'
        ps[1].send_signal(signal.SIGSTOP); hit = time.time()
        _, err = ps[0].communicate(timeout=300)
        return ps[0].returncode, err, time.time() - hit
    finally:
        for p in ps:
            if p.poll() is None: p.kill()
            p.wait()


def test_a_stopped_process_is_found_by_the_heartbeat(tmp_path):
    "SIGSTOP with the collective timeout at its 30 minutes: the heartbeat (8 s here) names the stuck rank and ends rank 0"
    rc, err, took = _stop_rank1_and_time_rank0(tmp_path, ONECYCLE_HEARTBEAT_TIMEOUT=8)
    assert rc == 1, err[-3000:]
    assert 'rank 1 has given no sign of life' in err and 'exit code 1' in err, err[-3000:]
    assert took < 8 + 30, f"rank 0 took {took:.0f}s"
    print(f"heartbeat 8 s: rank 0 ended {took:.1f} s after rank 1 was stopped")


@pytest.mark.skipif('slow' not in os.environ.get('ONECYCLE_TEST_FLAGS', ''), reason='slow: about 70 s (make test FLAGS=slow)')
def test_a_stopped_process_is_found_within_two_minutes_by_default(tmp_path):
    rc, err, took = _stop_rank1_and_time_rank0(tmp_path, ONECYCLE_HEARTBEAT_TIMEOUT=60)   # the documented default
    assert rc == 1 and 'rank 1 has given no sign of life' in err, err[-3000:]
    assert took < 120, f"rank 0 took {took:.0f}s"
    print(f"default heartbeat: rank 0 ended {took:.1f} s after rank 1 was stopped")


def test_ranks_with_different_data_fail_at_fit(tmp_path):
    "Same sizes, same settings, different pixels on rank 1: the data fingerprints differ and fit refuses to start"
    script = tmp_path/'data.py'
    script.write_text(
        "import os, torch\nfrom torch import nn\nfrom onecycle.data.load import DataLoaders\nfrom onecycle.learner import Learner\n"
        "import onecycle.distributed\nr = int(os.environ['RANK'])\ntorch.manual_seed(0)\n"
        "x, y = torch.randn(100, 4), torch.randint(0, 2, (100,))\nif r == 1: x[50] += 1\n"
        "dls = DataLoaders.from_tensors(x, y, x, y, bs=8, device='cpu', seed=0)\n"
        "learn = Learner(dls, nn.Linear(4, 2), loss_func=nn.CrossEntropyLoss(), silent=True).to_distributed()\n"
        "learn.fit(1)\nprint('trained')\n")
    r = torchrun(script, nproc_per_node=2, timeout=120)
    assert r.returncode != 0 and 'trained' not in r.stdout, r.stdout
    assert 'The 2 processes disagree' in r.stderr and 'training data: rank 0 has 100 items, digest' in r.stderr, r.stderr[-3000:]


def test_launch_spawn_and_failure():
    sys.path.insert(0, str(HERE))
    try:
        from ddp_worker import ranks_allreduce
        assert launch(ranks_allreduce, 2, 10., start_method='spawn') == [(0, 30.), (1, 30.)]
    finally: sys.path.remove(str(HERE))
