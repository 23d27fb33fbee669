"""RetroStride host: CLI and library (sync, session library, replay on the twin, reports)."""
__version__ = "0.1.0"
