"""One parser per document format, each returning `vectorstore.document.Block`s."""
