"""Deprecated alias: `python -m webapp.relay` runs `python -m relay` for one more release."""

from relay.__main__ import main

if __name__ == "__main__":
    main()
