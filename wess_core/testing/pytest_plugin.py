"""pytest fixtures for the EWS emulator (registered through the ``pytest11`` entry point)."""
