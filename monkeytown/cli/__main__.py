"""`python -m monkeytown.cli`, as `monkeytown up` starts the simulator."""

import sys

from monkeytown.cli import main

sys.exit(main())
