#!/bin/sh
# Install the Debian packages the test suite uses, where that is possible:
#   chromium, chromium-driver -- the browser test of the docs site (driven by Selenium)
#   dataset-fashion-mnist -- Fashion-MNIST in /usr/share/datasets (otherwise it is downloaded and verified)
# Needs apt-get and root (or password-less sudo); elsewhere it explains and carries on.
need=""
for p in chromium chromium-driver dataset-fashion-mnist; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
[ -z "$need" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: no apt-get here; not installing:$need (Fashion-MNIST is downloaded on first use; the browser test needs chromium on PATH)"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""
elif sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
  echo "sysdeps: not root and no password-less sudo; not installing:$need"
  exit 0
fi
echo "sysdeps: installing$need"
$SUDO apt-get update -qq || echo "sysdeps: apt-get update failed; trying the install anyway"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need \
  || echo "sysdeps: could not install$need; the data will be downloaded and the browser test reports chromium missing"
