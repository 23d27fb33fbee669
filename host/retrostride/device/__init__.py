"""The device over USB serial (a board or its twin alike): the protocol client
(client.py), downloading sessions into the library (sync.py), raw captures
(capture.py)."""
