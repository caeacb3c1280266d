import sys

from gate_core.cli import main

sys.exit(main())
