"""The `corridor` command line. Modules here import heavy parts inside commands, not at the top."""
