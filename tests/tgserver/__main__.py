"""python -m tgserver [config.json]: run the test server in its own process (PYTHONPATH=tests).

Without a config it serves serve.EXAMPLE_CONFIG and writes /tmp/tgserver.json; other processes
point pyrogram at it with `tgserver.client_patch.install_from_file(path)`."""

import argparse
import json
import logging
from pathlib import Path

from .serve import EXAMPLE_CONFIG, serve_forever

parser = argparse.ArgumentParser(prog="python -m tgserver", description=__doc__)
parser.add_argument("config", nargs="?", help="JSON config (see tgserver/serve.py EXAMPLE_CONFIG)")
parser.add_argument("--connection-file", help="where to write ports, RSA key and ids (overrides the config)")
parser.add_argument("--print-example", action="store_true", help="print the example config and exit")
parser.add_argument("-v", "--verbose", action="store_true")
args = parser.parse_args()

if args.print_example:
    print(json.dumps(EXAMPLE_CONFIG, indent=2))
    raise SystemExit(0)
logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
config = json.loads(Path(args.config).read_text()) if args.config else dict(EXAMPLE_CONFIG)
if args.connection_file:
    config["connection_file"] = args.connection_file
serve_forever(config)
