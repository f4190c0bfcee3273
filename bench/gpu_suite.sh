#!/usr/bin/env bash
# The GPU suite in one command (issue 17); everything is in bench/gpu_suite.py (its docstring: steps, options, carry).
# On the GPU machine, after `make gpu-pack` here has filled gpu-carry/:
#   python3 -m pip install --no-index --find-links gpu-carry/wheels --no-deps fastcore fastprogress -e .; bash bench/gpu_suite.sh --device cuda --data gpu-carry/data --out $OUT
# The CPU dry run: bash bench/gpu_suite.sh --device cpu --quick --data DIR --out DIR
# The interpreter: $PYTHON if set, else the repository's .venv when there is one, else python3. When that interpreter
# cannot import onecycle (pip installed only onecycle, `--no-deps`, or could not install at all), the pure-Python wheels
# in gpu-carry/wheels go on PYTHONPATH as they are (Python imports from a wheel file) with the repository in front.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
if ! "$py" -c "import onecycle.all" 2>/dev/null; then
  wheels=$(ls "$root"/gpu-carry/wheels/fastcore-*.whl "$root"/gpu-carry/wheels/fastprogress-*.whl 2>/dev/null | tr '\n' ':')
  if [ -n "$wheels" ]; then
    export PYTHONPATH="$root:$wheels${PYTHONPATH:-}"
    echo "gpu_suite.sh: onecycle imported from $root with the carried wheels on PYTHONPATH" >&2
  fi
  "$py" -c "import onecycle.all" || { echo "gpu_suite.sh: $py cannot import onecycle; install it (see above) or run make gpu-pack" >&2; exit 2; }
fi
exec "$py" "$here/gpu_suite.py" "$@"
