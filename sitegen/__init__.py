"""The documentation site's generator: every page's numbers, equations, tables and pictures.

`sitegen.pages.generate` derives the network once and hands it to each page's builder;
`sitegen/mkdocs_hooks.py` is the thin MkDocs hook that calls it while the site builds.
"""
