"""RetroStride protocol: the catalogue (one definition) and its construct codecs."""
