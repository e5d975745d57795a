"""The scorecard's command, where users type it:

    python -m explorer.scorecard CKPT [CKPT ...] [--json]

The metrics live in ``explorer.analysis.scorecard``; this module only runs its command line."""
from explorer.analysis.scorecard import main

if __name__ == "__main__":
    main()
