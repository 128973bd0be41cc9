"""Device drivers: I/O only. Each device has a small abstract driver, real
implementations and a simulator with the same interface; hardware libraries are
imported only inside their concrete driver module."""
