"""The local cloud: moto 5.2.5 plus small, isolated adapters and a Bedrock ingestion emulator; the demo
(``python -m kbsync_localcloud.demo``) and the benchmarks (``python -m kbsync_localcloud.bench``) that run on it.

A package of its own (localcloud/pyproject.toml, distribution ``kbsync-localcloud``), a development dependency of
kbsync: the product never imports it and reaches it only through endpoints; it adds ``kbsync local ...`` to the CLI
through the ``kbsync.cli`` entry point (``kbsync_localcloud.cli``).
"""

from pathlib import Path

#: The kbsync checkout this package is installed from (``pip install -e ./localcloud``): template.yaml, functions/.
CHECKOUT = Path(__file__).resolve().parents[2]
