"""`python -m taskctl` (the same as the `taskctl` console script)."""

from taskctl.cli import main

if __name__ == "__main__":
    main()
