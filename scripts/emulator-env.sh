# Sourced by scripts/demo and scripts/test: makes .venv with the emulator's pinned Python
# packages (moto[server]) and the tests' Python tools (check-jsonschema), and exports
# PTC_EMULATOR_PYTHON for the test support.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found: the emulator needs Python 3.9 or newer (set PYTHON=...)" >&2
  exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found: install Rust from https://rustup.rs" >&2
  exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv" || {
    echo "error: cannot create $root/.venv (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
fi
# One pip run for both lists, so one resolver picks versions that fit them both.
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$root/emulator/requirements.txt" -r "$root/tests/requirements.txt" || {
  echo "error: cannot install the test packages from emulator/requirements.txt and tests/requirements.txt (PyPI reachable?)" >&2
  exit 1
}
export PTC_EMULATOR_PYTHON="$root/.venv/bin/python"
