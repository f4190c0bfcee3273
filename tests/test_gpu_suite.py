"""The GPU suite's dry run on the CPU: `bash bench/gpu_suite.sh --device cpu --quick`, so that the script itself is
tested before it ever meets a GPU (issue 17). One run, several assertions on what it wrote."""
import json, os, subprocess, sys
import pytest
from conftest import ROOT
from onecycle.data.external import fashion_mnist_path

STEPS = ['notebooks', 'learner', 'nosync', 'loader', 'compile', 'tta', 'ddp']


@pytest.fixture(scope='module')
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_suite')
    r = subprocess.run(['bash', str(ROOT/'bench'/'gpu_suite.sh'), '--device', 'cpu', '--quick',
                        '--data', str(fashion_mnist_path()), '--out', str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, 'PYTHON': sys.executable})
    return r, out


def test_exits_zero(suite):
    r, out = suite
    assert r.returncode == 0, f"the dry run failed:\n{r.stdout[-6000:]}\n{r.stderr[-4000:]}"


def test_every_step_has_a_row(suite):
    _, out = suite
    md = (out/'results.md').read_text()
    assert '| step | what | result | check |' in md
    for i, name in enumerate(STEPS, 1): assert f"| {i} {name} |" in md, (name, md)
    for name in STEPS: assert (out/'logs'/f'{name}.log').stat().st_size > 0, name  # the raw logs


def test_correctness_checks_ran(suite):
    _, out = suite
    res = json.loads((out/'results.json').read_text())
    assert res['failed'] == 0
    checks = {name: [r['check'] for r in s['rows']] for name, s in res['steps'].items()}
    assert set(checks) == set(STEPS)
    for name in ['notebooks', 'learner', 'loader', 'compile', 'tta', 'ddp']:
        assert checks[name] and 'pass' in checks[name] and 'fail' not in checks[name], (name, res['steps'][name])
    assert len(checks['learner']) == 2                              # fp32, and --bf16 --channels-last
    assert checks['nosync'] == ['n/a']                              # no host-device sync to catch on a CPU
    rows = {name: s['rows'] for name, s in res['steps'].items()}
    assert 'runner plain' in rows['notebooks'][0]['result']         # the GPU machine's way, without nbdev
    assert 'weights identical on every rank' in rows['ddp'][0]['result']
    assert 'images/s' in rows['loader'][0]['result']
