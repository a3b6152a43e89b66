"""``python -m juxsdk.cli`` runs the ``jux`` command."""

from juxsdk.cli import main

if __name__ == "__main__":
    main()
