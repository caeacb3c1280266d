"""A short hash of a model's weights: what an added task, a relational head or a cached
calibration was built on.

Why in ``models``: task addition (``transfer/``), the relational head (``relational/``), the
reliability cache and the API all check it; living below all of them, no one of them has to
import another sideways to compare fingerprints.
"""

from __future__ import annotations

import hashlib

from torch import nn


def backbone_fingerprint(model: nn.Module) -> str:
    """16 hex digits of the SHA-256 of every tensor in ``model``'s state dict, by name.

    An added task is valid only on the exact backbone it was trained on; the relational head's
    own fingerprint keys its cached pair verdicts the same way.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
