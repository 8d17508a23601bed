"""Pieces of tools/make_clinical_corpus.py: the data it reads (tools/corpus_data/) and the template families.

data      loads tools/corpus_data/: hand-written sentences, the demo set, word lists, tables and templates
slots     helpers that draw from the tables, and `fill`, which writes out one template form
families  one function per template family in tools/corpus_data/templates.toml; `template_lines`
"""
