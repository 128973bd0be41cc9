"""12333 public service: residents' query passwords, the phone menu (IVR) and its line protocol."""
