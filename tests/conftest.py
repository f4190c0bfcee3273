import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the .venv that runs pytest also holds nbdev-test, mkdocs, ...
