"""The script mitmdump loads (`-s`): the shadow addon, reading cutover's configuration.

    mitmdump --mode reverse:http://monolith:8080@8080 -s cutover/shadow_entry.py \
        --set shadow_config=cutover.yaml --set flow_detail=0 --set termlog_verbosity=warn

The addon lives in `shadow.addon`; this script only hands it a loader for the `shadow_config`
option, because reading the configuration is the composition root's job. Keep it free of
dataclasses and of `from __future__ import annotations` (mitmproxy's script loader does not
register the module in `sys.modules`).
"""

import logging

from cutover.shadow_cli import mirroring_from_file
from shadow.addon import ShadowAddon

logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

addons = [ShadowAddon(loader=mirroring_from_file)]
