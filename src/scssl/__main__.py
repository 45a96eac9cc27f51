"""`python -m scssl`: the same command line as the `scssl` script."""

from .cli import main

if __name__ == "__main__":
    main()
