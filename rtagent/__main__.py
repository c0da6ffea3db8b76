import sys

from rtagent.cli import main

sys.exit(main())
