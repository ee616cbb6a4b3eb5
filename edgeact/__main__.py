"""``python -m edgeact`` runs the command-line interface."""

from edgeact.cli import main

if __name__ == "__main__":
    main()
