"""HTML reports (app code: imports the libraries, imported by nothing but the CLI)."""
