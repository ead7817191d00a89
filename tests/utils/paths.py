"""Where things are, for every test folder: the repository root, the test fixtures, the notebooks."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
NOTEBOOKS = ROOT / "notebooks"
