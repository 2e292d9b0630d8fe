import sys

from mempools.cli import main

sys.exit(main())
