# Modules that run something when imported are not collected for doctests.
collect_ignore_glob = ["circuits/cli/__main__.py", "build/*", ".venv/*"]
