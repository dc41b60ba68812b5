"""Migrate an existing FileStreamBot (or older FileStream) database to FileStream's current schema.

    python migrate_files.py [--help]

The work is done by the FileStream.migration package (its docstring says what is read and
written); this file stays where FileStreamBot's operators expect the command.
"""

import sys

from FileStream.migration.cli import main

if __name__ == "__main__":
    sys.exit(main())
