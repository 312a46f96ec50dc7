"""tfgen zoo: one module per paper family, built from :mod:`tfgen`."""
