"""The bundled example data set (installed as the package ``binn_lite.example_data``; see README.md)."""
