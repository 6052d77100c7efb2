"""``python -m desk.formats [DIR]``: regenerate the JSON Schemas (default: desk/schemas/)."""

import sys

from desk.formats.schemas import main

sys.exit(main(sys.argv[1:]))
