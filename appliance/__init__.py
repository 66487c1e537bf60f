"""hc-appliance: a self-contained HammerCloud for testing computing sites."""
__version__ = "0.1.0"
