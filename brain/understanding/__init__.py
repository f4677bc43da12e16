"""Understanding: a support agent's text → a typed request (see ``brain/README.md``)."""
