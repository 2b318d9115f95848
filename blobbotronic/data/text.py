"""Text data: tokenizers, vocabularies, text-classification and entity-tagging files and built-ins."""
